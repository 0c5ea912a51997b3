import { S3Error } from '../../src/errors/s3-errors.ts';

/**
 * `x-amz-copy-source: /bucket/key?versionId=…`, URL-encoded: parsed here, then checked by the
 * objects service (src/objects), which reads it as a GET would: the key's scope must allow reading
 * it, and its bucket is resolved in the caller's own namespace (another account's bucket is
 * AccessDenied), so a copy can never read across accounts or out of the key's reach.
 */
export function parseCopySource(rawSource: string): { bucket: string; key: string; versionId?: string } {
  const questionMark = rawSource.indexOf('?');
  const pathPart = questionMark === -1 ? rawSource : rawSource.slice(0, questionMark);
  let versionId: string | undefined;
  if (questionMark !== -1) {
    const named = new URLSearchParams(rawSource.slice(questionMark + 1)).get('versionId');
    if (named === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { details: { ArgumentName: 'x-amz-copy-source', ArgumentValue: rawSource } });
    if (named !== null) versionId = named;
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
  const source = { bucket: trimmed.slice(0, slash), key: trimmed.slice(slash + 1) };
  return versionId === undefined ? source : { ...source, versionId };
}
