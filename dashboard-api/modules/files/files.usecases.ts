import type { Readable } from 'node:stream';
import type { BucketRow } from '../../../src/db/schema.ts';
import { isS3Error, type S3Error } from '../../../src/errors/s3-errors.ts';
import type { UploadGate } from '../../../src/limits/upload-gate.ts';
import type { ObjectsService } from '../../../src/objects/objects.service.ts';
import type { Principal } from '../../../src/objects/principal.ts';
import type { ByteRangeSpec, GetObjectOutput, ObjectInfo } from '../../../src/storage/storage-backend.ts';
import type { TrashUsecases } from '../../../src/trash/trash.usecases.ts';
import { decodeCursor, decodeFileId, encodeCursor, encodeFileId } from './file-ids.ts';
import { fileNotFoundError, invalidCursorError, invalidUploadError, tooManyUploadsError } from './files.errors.ts';

export type FilesUsecases = ReturnType<typeof createFilesUsecases>;

/** Who is asking: the API key's account, key (the events' actor) and scope. */
export type FilesPrincipal = Principal;

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
  /**
   * The bytes, or what opens them: called only once the upload is accepted (scope, quota), so a
   * refused request's body stays untouched and Node can drain it and keep the connection.
   */
  body: Readable | (() => Readable);
  /** Exact size when known (raw bodies); a body of another length stores nothing. */
  size?: number;
  /** Upper bound of the stored size, reserved against the quota before the body is read (Content-Length). */
  reserveBytes: number;
  contentType: string;
  /** Aborts when the client goes away: the backend write is cancelled and stores nothing. */
  signal?: AbortSignal;
}

/** The request's cancellation, handed to every objects-service call (src/http/client-signal.ts). */
export interface FilesCallOptions {
  signal?: AbortSignal;
}

export type DownloadResult = { kind: 'file'; file: FileInfo; object: GetObjectOutput } | { kind: 'unsatisfiable'; size: number };

/** S3's object key limit. */
const MAX_KEY_BYTES = 1024;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const bareEtag = (etag: string) => etag.replace(/^"|"$/g, '');

/** A file's JSON facts from the object's info. */
export function fileInfo(bucket: Pick<BucketRow, 'id' | 'name'>, info: Pick<ObjectInfo, 'key' | 'size' | 'etag' | 'lastModified' | 'contentType'>): FileInfo {
  return {
    id: encodeFileId(bucket.id, info.key),
    key: info.key,
    bucket: bucket.name,
    size: info.size,
    contentType: info.contentType ?? DEFAULT_CONTENT_TYPE,
    etag: bareEtag(info.etag),
    updatedAt: info.lastModified,
  };
}

/** Refuses an upload's key S3 could not store; the file API and the Time Machine upload share it. */
export function checkUploadKey(key: string): void {
  if (key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalidUploadError(`The file key must be 1 to ${MAX_KEY_BYTES} bytes long.`);
}

/**
 * Stores an uploaded body the way an S3 PutObject does, with the form's content type and no user
 * metadata: the file API upload and the Time Machine upload (a new version) store alike.
 */
export function putUpload(objects: ObjectsService, principal: Principal, input: UploadInput) {
  return objects.putObject(principal, {
    signal: input.signal,
    bucket: input.bucket,
    key: input.key,
    metadata: { userMetadata: {}, contentType: input.contentType },
    reserveBytes: input.reserveBytes,
    open: () => ({ body: typeof input.body === 'function' ? input.body() : input.body, size: input.size }),
  });
}

/**
 * The Simple REST file API: a thin adapter over the objects service, which checks the key's scope
 * (the same rules as the S3 gateway), resolves the bucket in the account's namespace, reserves and
 * settles the quota (the same reservation as S3 uploads) and records the domain events. Files are
 * addressed by bucket name or, inside a file id, by bucket row id. The service's refusals pass
 * through untranslated: the dashboard's one JSON mapper names them (`files.not_found`,
 * `files.quota_exceeded`… by kind, see files.errors.ts `filesErrorVocabulary`).
 */
export function createFilesUsecases(deps: {
  objects: ObjectsService;
  uploadGate?: UploadGate;
  /** Deletes move files to the trash (src/trash/); without it (or with `permanent`) they are final. */
  trash?: Pick<TrashUsecases, 'moveToTrash'>;
}) {
  const { objects, uploadGate } = deps;

  /** The file an id names: the caller's bucket (404 otherwise); the key's scope is checked by the service (403). */
  const resolveId = async (principal: Principal, id: string) => {
    const decoded = decodeFileId(id);
    const bucket = decoded ? await objects.bucketNameById(principal, decoded.bucketId) : undefined;
    if (!decoded || bucket === undefined) throw fileNotFoundError();
    return { bucketId: decoded.bucketId, bucket, key: decoded.key };
  };

  const usecases = {
    async head(principal: Principal, id: string, options: FilesCallOptions = {}): Promise<FileInfo> {
      const { bucketId, bucket, key } = await resolveId(principal, id);
      const info = await objects.headObject(principal, { bucket, key, signal: options.signal });
      return { ...fileInfo({ id: bucketId, name: bucket }, info), id };
    },

    /**
     * Stores a file the way an S3 PutObject does (the objects service reserves the growth before
     * the body is read and settles it whatever the outcome). A body that fails midway leaves
     * nothing behind (backend guarantee).
     */
    async upload(principal: Principal, input: UploadInput): Promise<FileInfo & { createdAt: Date }> {
      checkUploadKey(input.key);
      const result = await putUpload(objects, principal, input);
      const file = fileInfo(result.bucketRow, { key: input.key, size: result.size, etag: result.etag, lastModified: result.lastModified, contentType: input.contentType });
      return { ...file, createdAt: result.lastModified };
    },

    /**
     * One page of the bucket's files under `prefix`, in key order. Without a prefix a
     * prefix-scoped key lists its own prefix; an explicit prefix outside it is refused, as on S3.
     */
    async list(principal: Principal, input: { bucket: string; prefix?: string; limit: number; cursor?: string; signal?: AbortSignal }) {
      const prefix = input.prefix ?? principal.scope?.prefix ?? '';
      const startAfter = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
      if (input.cursor !== undefined && startAfter === undefined) throw invalidCursorError();
      const {
        page,
        bucketRow,
        objects: infos,
      } = await objects.listObjectsWithInfo(principal, { bucket: input.bucket, prefix, startAfter, maxKeys: input.limit, signal: input.signal });
      const files = infos.map((info) => fileInfo(bucketRow, info));
      return { files, hasMore: page.isTruncated, cursor: page.isTruncated && page.nextMarker !== undefined ? encodeCursor(page.nextMarker) : null };
    },

    /** The file's bytes (a single range when asked), streamed from the backend; an unsatisfiable range reports the size. */
    async download(principal: Principal, id: string, range: ByteRangeSpec | undefined, options: FilesCallOptions = {}): Promise<DownloadResult> {
      const { bucketId, bucket, key } = await resolveId(principal, id);
      let object: GetObjectOutput;
      try {
        object = await objects.getObject(principal, { bucket, key, range, signal: options.signal });
      } catch (error) {
        if (isS3Error(error, 'InvalidRange')) return { kind: 'unsatisfiable', size: Number((error as S3Error).details.ActualObjectSize) };
        throw error;
      }
      return { kind: 'file', object, file: { ...fileInfo({ id: bucketId, name: bucket }, object.info), id } };
    },

    /**
     * Deletes the file: to the trash (restorable for TRASH_RETENTION_DAYS), or for good with
     * `permanent` (e.g. when the trash would not fit the quota). A missing one is 404 (unlike S3's
     * idempotent DELETE, so a wrong id is noticed).
     */
    async remove(principal: Principal, id: string, options: FilesCallOptions & { permanent?: boolean } = {}): Promise<{ trashId?: string }> {
      const { bucket, key } = await resolveId(principal, id);
      if (deps.trash && !options.permanent) return { trashId: (await deps.trash.moveToTrash(principal, { bucket, key, signal: options.signal })).id };
      await objects.deleteObject(principal, { bucket, key, mustExist: true, signal: options.signal });
      return {};
    },
  };

  /**
   * At most MAX_CONCURRENT_UPLOADS_PER_ACCOUNT uploads per account at once, counted with the S3
   * gateway's (each holds a socket, a temp file or backend connection, and quota); more answer
   * 429 `files.too_many_uploads` before anything is reserved.
   */
  const upload: typeof usecases.upload = async (principal, input) => {
    const release = uploadGate ? uploadGate.tryAcquire(principal.accountId) : () => {};
    if (!release) throw tooManyUploadsError(uploadGate!.maxPerAccount);
    try {
      return await usecases.upload(principal, input);
    } finally {
      release();
    }
  };
  return { ...usecases, upload };
}
