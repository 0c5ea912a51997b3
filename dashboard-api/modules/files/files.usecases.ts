import type { Readable } from 'node:stream';
import { replacedSize } from '../../../src/storage/replaced-size.ts';
import { bucketNotFoundError } from '../../../src/buckets/buckets.errors.ts';
import type { BucketsUsecases } from '../../../src/buckets/buckets.usecases.ts';
import type { BucketRow } from '../../../src/db/schema.ts';
import { isS3Error, S3Error } from '../../../src/errors/s3-errors.ts';
import { scopeAllows, type KeyScope, type ScopeRequest } from '../../../src/keys/key-scope.ts';
import type { UploadGate } from '../../../src/limits/upload-gate.ts';
import type { QuotasUsecases } from '../../../src/quotas/quotas.usecases.ts';
import type { ByteRangeSpec, GetObjectOutput, ObjectSummary, StorageBackend } from '../../../src/storage/storage-backend.ts';
import { decodeCursor, decodeFileId, encodeCursor, encodeFileId } from './file-ids.ts';
import { fileAccessDeniedError, fileNotFoundError, fileQuotaExceededError, invalidCursorError, invalidUploadError, tooManyUploadsError } from './files.errors.ts';

export type FilesUsecases = ReturnType<typeof createFilesUsecases>;

/** Who is asking: the API key's account and scope. */
export interface FilesPrincipal {
  userId: string;
  scope: KeyScope;
}

export interface FileInfo {
  id: string;
  key: string;
  bucket: string;
  size: number;
  contentType: string;
  /** Without S3's quotes. */
  etag: string;
  updatedAt: Date;
}

export interface UploadInput {
  bucket: string;
  key: string;
  body: Readable;
  /** Exact size when known (raw bodies); a body of another length stores nothing. */
  size?: number;
  /** Upper bound of the stored size, reserved against the quota before the body is read (Content-Length). */
  reserveBytes: number;
  contentType: string;
}

export type DownloadResult =
  | { kind: 'file'; file: FileInfo; object: GetObjectOutput }
  | { kind: 'unsatisfiable'; size: number };

/** S3's object key limit. */
const MAX_KEY_BYTES = 1024;
/** Objects whose content type a listing looks up at once (one HEAD each on a proxied backend). */
const HEAD_CONCURRENCY = 16;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const bareEtag = (etag: string) => etag.replace(/^"|"$/g, '');

/**
 * The Simple REST file API over the shared storage backend, bucket use cases and quota use cases
 * (the same reservation as S3 uploads). Every call is made for a principal whose key scope is
 * checked with the same rules as the S3 gateway; buckets are the account's own, by name or,
 * inside a file id, by row id.
 */
export function createFilesUsecases(deps: { backend: StorageBackend; buckets: BucketsUsecases; quotas: QuotasUsecases; uploadGate?: UploadGate }) {
  const { backend, buckets, quotas, uploadGate } = deps;

  const requireScope = (principal: FilesPrincipal, request: ScopeRequest) => {
    if (!scopeAllows(principal.scope, request)) throw fileAccessDeniedError();
  };

  const ownedBucketByName = (userId: string, name: string): BucketRow => {
    const resolution = buckets.resolve(userId, name);
    // Another account's bucket of this name is not there, for this account.
    if (resolution.kind !== 'owned') throw bucketNotFoundError(name);
    return resolution.bucket;
  };

  /** The file an id names, checked against the caller's buckets (404 otherwise) and then the key's scope (403). */
  const resolveId = (principal: FilesPrincipal, id: string, action: 'read' | 'write') => {
    const decoded = decodeFileId(id);
    const bucket = decoded && buckets.list(principal.userId).find((candidate) => candidate.id === decoded.bucketId);
    if (!decoded || !bucket) throw fileNotFoundError();
    requireScope(principal, { action, bucket: bucket.name, key: decoded.key });
    return { bucket, key: decoded.key };
  };

  const notFoundAsAppError = (error: unknown): never => {
    if (isS3Error(error, 'NoSuchKey')) throw fileNotFoundError();
    throw error;
  };

  const sizeOf = (backendBucket: string, key: string) => replacedSize(backend, backendBucket, key);

  async function head(principal: FilesPrincipal, id: string): Promise<FileInfo> {
    const { bucket, key } = resolveId(principal, id, 'read');
    const info = await backend.headObject({ bucket: bucket.backendName, key }).catch(notFoundAsAppError);
    return { id, key, bucket: bucket.name, size: info.size, contentType: info.contentType ?? DEFAULT_CONTENT_TYPE, etag: bareEtag(info.etag), updatedAt: info.lastModified };
  }

  const usecases = {
    head,

    /**
     * Stores a file the way an S3 PutObject does: the growth (reserveBytes minus the size it
     * replaces) is reserved before the body is read, and the reservation settles whatever the
     * outcome. A body that fails midway leaves nothing behind (backend guarantee).
     */
    async upload(principal: FilesPrincipal, input: UploadInput): Promise<FileInfo & { createdAt: Date }> {
      if (input.key === '' || Buffer.byteLength(input.key) > MAX_KEY_BYTES) throw invalidUploadError(`The file key must be 1 to ${MAX_KEY_BYTES} bytes long.`);
      requireScope(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const bucket = ownedBucketByName(principal.userId, input.bucket);
      const replaced = await sizeOf(bucket.backendName, input.key);
      let hold;
      try {
        hold = await quotas.reserve(principal.userId, input.reserveBytes - replaced);
      } catch (error) {
        if (isS3Error(error, 'QuotaExceeded')) throw fileQuotaExceededError(error.message);
        throw error;
      }
      let result;
      try {
        result = await backend.putObject({
          bucket: bucket.backendName,
          key: input.key,
          body: input.body,
          size: input.size,
          metadata: { userMetadata: {}, contentType: input.contentType },
          // Settled again at commit against what the upload really replaces (the reservation
          // above assumed the object found before the body arrived).
          admit: hold.admit,
        });
      } catch (error) {
        if (isS3Error(error, 'IncompleteBody')) throw invalidUploadError('The body was shorter or longer than its Content-Length.');
        if (isS3Error(error, 'QuotaExceeded')) throw fileQuotaExceededError(error.message);
        throw error;
      } finally {
        await hold.settle();
      }
      return {
        id: encodeFileId(bucket.id, input.key),
        key: input.key,
        bucket: bucket.name,
        size: result.size,
        contentType: input.contentType,
        etag: bareEtag(result.etag),
        updatedAt: result.lastModified,
        createdAt: result.lastModified,
      };
    },

    /**
     * One page of the bucket's files under `prefix`, in key order. Without a prefix a
     * prefix-scoped key lists its own prefix; an explicit prefix outside it is refused, as on S3.
     */
    async list(principal: FilesPrincipal, input: { bucket: string; prefix?: string; limit: number; cursor?: string }) {
      const prefix = input.prefix ?? principal.scope.prefix ?? '';
      requireScope(principal, { action: 'list', bucket: input.bucket, prefix });
      const startAfter = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
      if (input.cursor !== undefined && startAfter === undefined) throw invalidCursorError();
      const bucket = ownedBucketByName(principal.userId, input.bucket);
      const page = await backend.listObjects({ bucket: bucket.backendName, prefix: prefix || undefined, startAfter, maxKeys: input.limit });
      const files = await describeObjects(backend, bucket, page.contents);
      return { files, hasMore: page.isTruncated, cursor: page.isTruncated && page.nextMarker !== undefined ? encodeCursor(page.nextMarker) : null };
    },

    /** The file's bytes (a single range when asked), streamed from the backend; an unsatisfiable range reports the size. */
    async download(principal: FilesPrincipal, id: string, range: ByteRangeSpec | undefined): Promise<DownloadResult> {
      const { bucket, key } = resolveId(principal, id, 'read');
      let object: GetObjectOutput;
      try {
        object = await backend.getObject({ bucket: bucket.backendName, key, range });
      } catch (error) {
        if (isS3Error(error, 'InvalidRange')) return { kind: 'unsatisfiable', size: Number((error as S3Error).details.ActualObjectSize) };
        return notFoundAsAppError(error);
      }
      const { info } = object;
      return {
        kind: 'file',
        object,
        file: { id, key, bucket: bucket.name, size: info.size, contentType: info.contentType ?? DEFAULT_CONTENT_TYPE, etag: bareEtag(info.etag), updatedAt: info.lastModified },
      };
    },

    /** Deletes the file; a missing one is 404 (unlike S3's idempotent DELETE, so a wrong id is noticed). */
    async remove(principal: FilesPrincipal, id: string): Promise<void> {
      const { bucket, key } = resolveId(principal, id, 'write');
      await backend.headObject({ bucket: bucket.backendName, key }).catch(notFoundAsAppError);
      await backend.deleteObject({ bucket: bucket.backendName, key });
      await quotas.resync(principal.userId);
    },
  };

  /**
   * At most MAX_CONCURRENT_UPLOADS_PER_ACCOUNT uploads per account at once, counted with the S3
   * gateway's (each holds a socket, a temp file or backend connection, and quota); more answer
   * 429 `files.too_many_uploads` before anything is reserved.
   */
  const upload: typeof usecases.upload = async (principal, input) => {
    const release = uploadGate ? uploadGate.tryAcquire(principal.userId) : () => {};
    if (!release) throw tooManyUploadsError(uploadGate!.maxPerAccount);
    try {
      return await usecases.upload(principal, input);
    } finally {
      release();
    }
  };
  return { ...usecases, upload };
}

/**
 * Listed objects with their ids and content types. Listings do not carry content types, so each
 * object is looked up (an index read on the filesystem backend); one deleted meanwhile is left out.
 */
export async function describeObjects(backend: StorageBackend, bucket: BucketRow, objects: ObjectSummary[]): Promise<FileInfo[]> {
  const described: (FileInfo | undefined)[] = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const index = next++;
      const object = objects[index]!;
      try {
        const info = await backend.headObject({ bucket: bucket.backendName, key: object.key });
        described[index] = {
          id: encodeFileId(bucket.id, object.key),
          key: object.key,
          bucket: bucket.name,
          size: info.size,
          contentType: info.contentType ?? DEFAULT_CONTENT_TYPE,
          etag: bareEtag(info.etag),
          updatedAt: info.lastModified,
        };
      } catch (error) {
        if (!isS3Error(error, 'NoSuchKey')) throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, objects.length) }, worker));
  return described.filter((file): file is FileInfo => file !== undefined);
}
