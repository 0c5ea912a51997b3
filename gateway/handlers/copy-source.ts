import { S3Error } from '../../src/errors/s3-errors.ts';
import { scopeAllows } from '../../src/keys/key-scope.ts';
import type { S3RequestContext } from './context.ts';

/**
 * `x-amz-copy-source: /bucket/key?versionId=…`, URL-encoded. The source bucket is resolved in
 * the caller's own namespace: another account's bucket is AccessDenied, exactly as for a direct
 * GET, so a copy can never read across accounts. The key's scope must allow reading the source,
 * as it would a GET: a copy must not lift an object out of reach into reach.
 */
export function resolveCopySource(ctx: S3RequestContext, rawSource: string): { backendBucket: string; bucket: string; key: string } {
  const questionMark = rawSource.indexOf('?');
  const pathPart = questionMark === -1 ? rawSource : rawSource.slice(0, questionMark);
  if (questionMark !== -1) {
    const versionId = new URLSearchParams(rawSource.slice(questionMark + 1)).get('versionId');
    if (versionId !== null && versionId !== 'null') throw new S3Error('NotImplemented', 'Object versions are not supported.');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathPart);
  } catch {
    throw new S3Error('InvalidArgument', 'Invalid copy source encoding.', { details: { ArgumentName: 'x-amz-copy-source' } });
  }
  const trimmed = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = trimmed.indexOf('/');
  if (slash <= 0 || slash === trimmed.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', {
      details: { ArgumentName: 'x-amz-copy-source', ArgumentValue: rawSource },
    });
  }
  const bucket = trimmed.slice(0, slash);
  const key = trimmed.slice(slash + 1);
  if (!scopeAllows(ctx.scope, { action: 'read', bucket, key })) throw new S3Error('AccessDenied', 'Access Denied: the access key is not allowed to read the copy source.');
  const resolution = ctx.deps.bucketsUsecases.resolve(ctx.userId, bucket);
  if (resolution.kind === 'foreign') throw new S3Error('AccessDenied');
  if (resolution.kind === 'missing') throw new S3Error('NoSuchBucket', undefined, { details: { BucketName: bucket } });
  return { backendBucket: resolution.bucket.backendName, bucket, key };
}
