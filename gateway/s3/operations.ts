import type { IncomingHttpHeaders } from 'node:http';
import { parseStrictInteger } from '../../src/strict-integer.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { MAX_PART_NUMBER } from '../../src/storage/multipart-rules.ts';
import type { RequestTarget } from './request-target.ts';

/**
 * Every S3 request is first parsed into one of these; authorization, limits and dispatch work
 * on the typed operation, never on raw method/query combinations.
 */
export type S3Operation =
  | { op: 'ListBuckets' }
  | { op: 'CreateBucket'; bucket: string }
  | { op: 'DeleteBucket'; bucket: string }
  | { op: 'HeadBucket'; bucket: string }
  | { op: 'GetBucketLocation'; bucket: string }
  | { op: 'GetBucketVersioning'; bucket: string }
  | { op: 'PutBucketVersioning'; bucket: string }
  | { op: 'ListObjectVersions'; bucket: string }
  | { op: 'PutBucketCors'; bucket: string }
  | { op: 'GetBucketAcl'; bucket: string }
  | { op: 'PutBucketAcl'; bucket: string }
  | { op: 'GetObjectAcl'; bucket: string; key: string }
  | { op: 'PutObjectAcl'; bucket: string; key: string }
  | { op: 'GetBucketCors'; bucket: string }
  | { op: 'DeleteBucketCors'; bucket: string }
  | { op: 'ListObjects'; bucket: string }
  | { op: 'ListObjectsV2'; bucket: string }
  | { op: 'ListMultipartUploads'; bucket: string }
  | { op: 'DeleteObjects'; bucket: string }
  /** A browser form upload (multipart/form-data): the key and the credentials are in the form. */
  | { op: 'PostObject'; bucket: string }
  | { op: 'PutObject'; bucket: string; key: string }
  | { op: 'CopyObject'; bucket: string; key: string; copySource: string }
  | { op: 'GetObject'; bucket: string; key: string }
  | { op: 'HeadObject'; bucket: string; key: string }
  | { op: 'DeleteObject'; bucket: string; key: string }
  | { op: 'GetObjectTagging'; bucket: string; key: string }
  | { op: 'GetObjectAttributes'; bucket: string; key: string }
  | { op: 'PutObjectTagging'; bucket: string; key: string }
  | { op: 'DeleteObjectTagging'; bucket: string; key: string }
  | { op: 'CreateMultipartUpload'; bucket: string; key: string }
  | { op: 'UploadPart'; bucket: string; key: string; uploadId: string; partNumber: number }
  | { op: 'UploadPartCopy'; bucket: string; key: string; uploadId: string; partNumber: number; copySource: string }
  | { op: 'CompleteMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { op: 'AbortMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { op: 'ListParts'; bucket: string; key: string; uploadId: string }
  | { op: 'NotImplemented'; bucket?: string; key?: string; feature: string };

export type S3OperationName = S3Operation['op'];

/** Sub-resources S3 defines; any we don't serve answers 501 (clients like Cyberduck probe them). */
const KNOWN_SUBRESOURCES = [
  'accelerate',
  'acl',
  'analytics',
  'attributes',
  'cors',
  'delete',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'location',
  'logging',
  'metadataConfiguration',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'partNumber',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versioning',
  'versions',
  'website',
  'renameObject',
  'session',
] as const;

/** Each known sub-resource's place in KNOWN_SUBRESOURCES (the order a NotImplemented message names them in). */
const SUBRESOURCE_ORDER: ReadonlyMap<string, number> = new Map(KNOWN_SUBRESOURCES.map((name, index) => [name, index]));
const NO_SUBRESOURCES: ReadonlySet<string> = new Set();

/**
 * The known sub-resources the query names. Walks the query's own names (none on most requests, a
 * handful on a presigned URL) rather than asking it for each of the ~40 known ones: that cost
 * about 2 µs on every request.
 */
function subresources(query: URLSearchParams): ReadonlySet<string> {
  let found: string[] | undefined;
  for (const name of query.keys()) {
    if (!SUBRESOURCE_ORDER.has(name)) continue;
    if (!found) found = [name];
    else if (!found.includes(name)) found.push(name);
  }
  if (!found) return NO_SUBRESOURCES;
  if (found.length > 1) found.sort((a, b) => SUBRESOURCE_ORDER.get(a)! - SUBRESOURCE_ORDER.get(b)!);
  return new Set(found);
}

function parsePartNumber(value: string | null): number {
  const partNumber = parseStrictInteger(value);
  if (partNumber === undefined || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, {
      details: { ArgumentName: 'partNumber', ArgumentValue: String(value) },
    });
  }
  return partNumber;
}

export function parseOperation(method: string, target: RequestTarget, headers: IncomingHttpHeaders): S3Operation {
  const { bucket, key, query } = target;
  const present = subresources(query);
  const notImplemented = (feature: string): S3Operation => ({ op: 'NotImplemented', bucket, key, feature });

  if (!bucket) {
    if (method === 'GET' && present.size === 0) return { op: 'ListBuckets' };
    if (method === 'GET' || method === 'HEAD') return notImplemented('service sub-resource');
    throw new S3Error('MethodNotAllowed');
  }

  if (key === undefined) {
    switch (method) {
      case 'GET':
        if (present.size === 0) return query.get('list-type') === '2' ? { op: 'ListObjectsV2', bucket } : { op: 'ListObjects', bucket };
        if (present.size === 1 && present.has('location')) return { op: 'GetBucketLocation', bucket };
        if (present.size === 1 && present.has('versioning')) return { op: 'GetBucketVersioning', bucket };
        if (present.size === 1 && present.has('versions')) return { op: 'ListObjectVersions', bucket };
        if (present.size === 1 && present.has('uploads')) return { op: 'ListMultipartUploads', bucket };
        if (present.size === 1 && present.has('cors')) return { op: 'GetBucketCors', bucket };
        if (present.size === 1 && present.has('acl')) return { op: 'GetBucketAcl', bucket };
        return notImplemented([...present].join(','));
      case 'HEAD':
        return present.size === 0 ? { op: 'HeadBucket', bucket } : notImplemented([...present].join(','));
      case 'PUT':
        if (present.size === 1 && present.has('cors')) return { op: 'PutBucketCors', bucket };
        if (present.size === 1 && present.has('acl')) return { op: 'PutBucketAcl', bucket };
        if (present.size === 1 && present.has('versioning')) return { op: 'PutBucketVersioning', bucket };
        return present.size === 0 ? { op: 'CreateBucket', bucket } : notImplemented([...present].join(','));
      case 'DELETE':
        if (present.size === 1 && present.has('cors')) return { op: 'DeleteBucketCors', bucket };
        return present.size === 0 ? { op: 'DeleteBucket', bucket } : notImplemented([...present].join(','));
      case 'POST':
        if (present.size === 1 && present.has('delete')) return { op: 'DeleteObjects', bucket };
        if (present.size === 0) return { op: 'PostObject', bucket };
        return notImplemented([...present].join(','));
      default:
        throw new S3Error('MethodNotAllowed');
    }
  }

  const copySourceHeader = headers['x-amz-copy-source'];
  const copySource = Array.isArray(copySourceHeader) ? copySourceHeader[0] : copySourceHeader;
  const uploadId = query.get('uploadId');
  const only = (name: string) => present.size === 1 && present.has(name);

  switch (method) {
    case 'GET':
      if (present.size === 0) return { op: 'GetObject', bucket, key };
      if (only('tagging')) return { op: 'GetObjectTagging', bucket, key };
      if (only('acl')) return { op: 'GetObjectAcl', bucket, key };
      if (only('attributes')) return { op: 'GetObjectAttributes', bucket, key };
      // ?partNumber= reads one part of the object (parsed by the handler, as Range is).
      if (only('partNumber')) return { op: 'GetObject', bucket, key };
      if (only('uploadId') && uploadId) return { op: 'ListParts', bucket, key, uploadId };
      return notImplemented([...present].join(','));
    case 'HEAD':
      return present.size === 0 || only('partNumber') ? { op: 'HeadObject', bucket, key } : notImplemented([...present].join(','));
    case 'PUT':
      if (present.size === 0) return copySource ? { op: 'CopyObject', bucket, key, copySource } : { op: 'PutObject', bucket, key };
      if (only('tagging')) return { op: 'PutObjectTagging', bucket, key };
      if (only('acl')) return { op: 'PutObjectAcl', bucket, key };
      if (present.size === 2 && present.has('partNumber') && present.has('uploadId') && uploadId) {
        const partNumber = parsePartNumber(query.get('partNumber'));
        return copySource ? { op: 'UploadPartCopy', bucket, key, uploadId, partNumber, copySource } : { op: 'UploadPart', bucket, key, uploadId, partNumber };
      }
      return notImplemented([...present].join(','));
    case 'DELETE':
      if (present.size === 0) return { op: 'DeleteObject', bucket, key };
      if (only('tagging')) return { op: 'DeleteObjectTagging', bucket, key };
      if (only('uploadId') && uploadId) return { op: 'AbortMultipartUpload', bucket, key, uploadId };
      return notImplemented([...present].join(','));
    case 'POST':
      if (only('uploads')) return { op: 'CreateMultipartUpload', bucket, key };
      if (only('uploadId') && uploadId) return { op: 'CompleteMultipartUpload', bucket, key, uploadId };
      return notImplemented([...present].join(','));
    default:
      throw new S3Error('MethodNotAllowed');
  }
}

/** Operations whose request body is object data (streamed, never buffered). */
export function hasObjectBody(operation: S3Operation): boolean {
  return operation.op === 'PutObject' || operation.op === 'UploadPart';
}
