import { S3Error } from '../../src/errors/s3-errors.ts';
import { scopeAllows, type KeyScope, type ScopeRequest } from '../../src/keys/key-scope.ts';
import type { S3Operation } from './operations.ts';

/** Object operations: the objects service (src/objects/objects.service.ts) checks the scope, as it does for every door. */
export const CHECKED_BY_OBJECTS_SERVICE = 'objects-service';

/**
 * What each bucket-level S3 operation asks of the key's scope. The switch is exhaustive: a new
 * operation does not compile until it is classified here, as a bucket-level request or as one the
 * objects service checks (which also checks each key of a DeleteObjects batch and the source of
 * CopyObject/UploadPartCopy).
 */
export function scopeRequestOf(operation: S3Operation, query: URLSearchParams): ScopeRequest | typeof CHECKED_BY_OBJECTS_SERVICE | undefined {
  switch (operation.op) {
    case 'ListBuckets':
      return undefined; // filtered to the key's buckets by the handler
    case 'NotImplemented':
      return operation.bucket === undefined ? undefined : { action: 'bucketInfo', bucket: operation.bucket };
    case 'CreateBucket':
    case 'DeleteBucket':
      return { action: 'bucketAdmin' };
    // Bucket configuration is the account's act, as creating the bucket is: a key restricted to
    // some buckets, a prefix or reading cannot open the bucket to other origins.
    case 'PutBucketCors':
    case 'DeleteBucketCors':
      return { action: 'bucketAdmin' };
    // Opening a bucket to everyone is the account's act too (the objects service checks it again).
    case 'PutBucketAcl':
      return { action: 'bucketAdmin' };
    // Whether overwrites and deletes keep what they replace is the account's act too (the objects service checks it again).
    case 'PutBucketVersioning':
      return { action: 'bucketAdmin' };
    case 'GetBucketAcl':
      return { action: 'bucketInfo', bucket: operation.bucket };
    case 'HeadBucket':
    case 'GetBucketLocation':
    case 'GetBucketVersioning':
    case 'GetBucketCors':
      return { action: 'bucketInfo', bucket: operation.bucket };
    case 'ListObjects':
    case 'ListObjectsV2':
    case 'ListMultipartUploads':
    case 'ListObjectVersions':
    case 'DeleteObjects':
    // The signer and its scope are known only once the form was read (gateway/handlers/post-object.handlers.ts).
    case 'PostObject':
    case 'GetObject':
    case 'HeadObject':
    case 'GetObjectTagging':
    case 'GetObjectAttributes':
    case 'GetObjectAcl':
    case 'PutObjectAcl':
    case 'ListParts':
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
      return CHECKED_BY_OBJECTS_SERVICE;
    default: {
      const unclassified: never = operation;
      throw new Error(`unclassified S3 operation ${(unclassified as S3Operation).op}`);
    }
  }
}

/**
 * Refuses with AccessDenied what the key's scope does not allow a bucket-level operation (object
 * operations are checked by the objects service, in the same order). It runs before the bucket is
 * resolved, so a bucket outside the scope is AccessDenied whether or not it exists: a scoped key
 * learns nothing about the account's other buckets.
 */
export function authorizeOperation(scope: KeyScope, operation: S3Operation, query: URLSearchParams): void {
  const request = scopeRequestOf(operation, query);
  if (request && request !== CHECKED_BY_OBJECTS_SERVICE && !scopeAllows(scope, request))
    throw new S3Error('AccessDenied', 'Access Denied: the access key is not allowed to do this.');
}
