import { S3Error } from '../../src/errors/s3-errors.ts';
import { scopeAllows, type KeyScope, type ScopeRequest } from '../../src/keys/key-scope.ts';
import type { S3Operation } from './operations.ts';

/**
 * What each S3 operation asks of the key's scope. The switch is exhaustive: a new operation does
 * not compile until it is classified here. Two checks happen later, where the information is:
 * each key of a DeleteObjects batch (per-key AccessDenied in the result, as S3 reports it) and
 * the source of CopyObject/UploadPartCopy (`read`, in gateway/handlers/copy-source.ts).
 */
export function scopeRequestOf(operation: S3Operation, query: URLSearchParams): ScopeRequest | undefined {
  switch (operation.op) {
    case 'ListBuckets':
      return undefined; // filtered to the key's buckets by the handler
    case 'NotImplemented':
      return operation.bucket === undefined ? undefined : { action: 'bucketInfo', bucket: operation.bucket };
    case 'CreateBucket':
    case 'DeleteBucket':
      return { action: 'bucketAdmin' };
    case 'HeadBucket':
    case 'GetBucketLocation':
    case 'GetBucketVersioning':
      return { action: 'bucketInfo', bucket: operation.bucket };
    case 'ListObjects':
    case 'ListObjectsV2':
    case 'ListMultipartUploads':
      return { action: 'list', bucket: operation.bucket, prefix: query.get('prefix') ?? '' };
    case 'DeleteObjects':
      return { action: 'writeSome', bucket: operation.bucket };
    case 'GetObject':
    case 'HeadObject':
    case 'GetObjectTagging':
    case 'ListParts':
      return { action: 'read', bucket: operation.bucket, key: operation.key };
    case 'PutObject':
    case 'CopyObject':
    case 'DeleteObject':
    case 'PutObjectTagging':
    case 'DeleteObjectTagging':
    case 'CreateMultipartUpload':
    case 'UploadPart':
    case 'UploadPartCopy':
    case 'CompleteMultipartUpload':
    case 'AbortMultipartUpload':
      return { action: 'write', bucket: operation.bucket, key: operation.key };
    default: {
      const unclassified: never = operation;
      throw new Error(`unclassified S3 operation ${(unclassified as S3Operation).op}`);
    }
  }
}

/**
 * Refuses with AccessDenied what the key's scope does not allow. It runs before the bucket is
 * resolved, so a bucket outside the scope is AccessDenied whether or not it exists: a scoped key
 * learns nothing about the account's other buckets.
 */
export function authorizeOperation(scope: KeyScope, operation: S3Operation, query: URLSearchParams): void {
  const request = scopeRequestOf(operation, query);
  if (request && !scopeAllows(scope, request)) throw new S3Error('AccessDenied', 'Access Denied: the access key is not allowed to do this.');
}
