import type { Readable } from 'node:stream';
import type { ChecksumAlgorithm } from '../checksums/checksums.ts';
import type { DomainEvent, JournalHook } from '../events/events.ts';

/**
 * The one storage interface. The gateway and the dashboard API talk only to this; the
 * embedded filesystem backend and (later) the S3 proxy backend implement it, and one
 * contract suite (storage-backend.contract.ts) runs against every implementation.
 *
 * Conventions:
 * - `bucket` is the *backend* bucket name (the account→backend mapping lives in the database).
 * - ETags are returned exactly as S3 renders them, quotes included (`"<md5>"` or `"<md5>-N"`).
 * - Errors are `S3Error`s from src/errors/s3-errors.ts (NoSuchKey, NoSuchBucket, BadDigest, …),
 *   translated at this boundary, so callers never see fs or HTTP errors.
 * - Bodies are streams; no implementation buffers a whole object.
 * - A failed write (body stream error, digest mismatch, short body) leaves nothing behind and
 *   does not disturb the previous version of the object.
 */
export interface StorageBackend {
  readonly kind: 'fs' | 's3';

  createBucket(bucket: string, options?: Cancellable): Promise<void>;
  /** Fails with BucketNotEmpty while objects exist; aborts in-progress multipart uploads. */
  deleteBucket(bucket: string, options?: Cancellable): Promise<void>;

  putObject(input: PutObjectInput): Promise<WriteResult>;
  getObject(input: GetObjectInput): Promise<GetObjectOutput>;
  headObject(input: HeadObjectInput): Promise<ObjectInfo>;
  /**
   * Deleting a missing key succeeds (S3 semantics). Without `versionId`: in an Enabled bucket it
   * adds a delete marker (the key's versions stay), in a Suspended one a marker that is the `null`
   * version (replacing a stored `null` version), in an Unversioned one it removes the object.
   * With `versionId` it removes that version (or marker) for good; NoSuchVersion never (S3 answers
   * 204 for a missing version too), InvalidArgument for a malformed id.
   */
  deleteObject(input: { bucket: string; key: string; versionId?: string } & Journaled & Cancellable): Promise<DeleteObjectResult>;
  /** Calls `journal` once per key it actually deleted; each object as `deleteObject` would. */
  deleteObjects(input: { bucket: string; objects: ObjectIdentifier[] } & Journaled & Cancellable): Promise<DeleteObjectsOutput>;
  copyObject(input: CopyObjectInput): Promise<WriteResult>;
  listObjects(input: ListObjectsInput): Promise<ListObjectsOutput>;

  /** `versionId` addresses one version (NoSuchVersion when absent, MethodNotAllowed for a delete marker). */
  getObjectTagging(input: { bucket: string; key: string; versionId?: string } & Cancellable): Promise<Record<string, string>>;
  putObjectTagging(input: { bucket: string; key: string; versionId?: string; tags: Record<string, string> } & Journaled & Cancellable): Promise<void>;
  deleteObjectTagging(input: { bucket: string; key: string; versionId?: string } & Journaled & Cancellable): Promise<void>;

  /**
   * Bucket versioning (S3 semantics). A bucket starts `Unversioned`; once Enabled it can be
   * Suspended but never returns to Unversioned. The fs backend keeps the state in its index; the s3
   * backend uses the store's own versioning (PutBucketVersioning on the backend bucket).
   */
  getBucketVersioning(bucket: string, options?: Cancellable): Promise<VersioningStatus>;
  putBucketVersioning(bucket: string, status: 'Enabled' | 'Suspended', options?: Cancellable): Promise<void>;
  /**
   * ListObjectVersions: every version and delete marker, keys in UTF-8 binary order and, within a
   * key, newest first. On an Unversioned bucket every object is its `null` version.
   */
  listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsOutput>;

  createMultipartUpload(input: CreateMultipartUploadInput): Promise<{ uploadId: string }>;
  uploadPart(input: UploadPartInput): Promise<PartWriteResult>;
  uploadPartCopy(input: UploadPartCopyInput): Promise<PartWriteResult & { lastModified: Date }>;
  completeMultipartUpload(input: CompleteMultipartUploadInput): Promise<WriteResult>;
  abortMultipartUpload(input: { bucket: string; key: string; uploadId: string } & Cancellable): Promise<void>;
  listParts(input: ListPartsInput): Promise<ListPartsOutput>;
  listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsOutput>;

  /** State this backend keeps beside its store: usage counters, stored sizes, the event journal. */
  readonly local: BackendLocalState;

  /** Cheap liveness probe for /_health/status. */
  health(): Promise<StorageHealth>;
  close(): Promise<void>;
}

/**
 * Every call takes the caller's AbortSignal: a client that goes away cancels the backend work it
 * started (the proxy's upstream request, the fs backend's next step). An aborted call rejects
 * with the signal's reason (an AbortError unless the door gave another) and, for writes, commits
 * nothing: the key keeps what it held. A signal that aborts after a write committed changes nothing.
 */
export interface Cancellable {
  signal?: AbortSignal;
}

/**
 * What a backend keeps locally beside its store (fs: index.sqlite; s3: its catalog, catalog.sqlite
 * or the shared PostgreSQL database with DATABASE_URL), read by
 * quotas, `usage reconcile`, the objects service and the event relay. Every backend has all of it.
 */
export interface BackendLocalState {
  /**
   * Exact usage of a bucket: stored object bytes and count, and bytes of parts of multipart
   * uploads still in progress. Quotas and `usage reconcile` are computed from it. NoSuchBucket
   * for a bucket the store does not have.
   */
  usage(bucket: string): Promise<BucketUsage>;

  /**
   * Size of the current object from the local rows, without asking the store (0 when there is no
   * such object), for quota accounting before an upload. Undefined when the local state does not
   * track the bucket (fs: no such bucket; s3: a bucket the catalog has not seen yet): callers then
   * use headObject, which also reports a missing bucket. On s3 it may miss changes made to the
   * store behind the gateway's back; `usage reconcile` repairs the totals.
   */
  storedSize(bucket: string, key: string): Promise<number | undefined>;

  /**
   * `storedSize` with whether an object is there (`objects`: 1 or 0), which 0 bytes alone cannot
   * tell (an empty object, or none): a write's admission can then reuse the reservation's lookup
   * for a new key as well (PutObjectInput.replaced). Optional: without it a caller knows
   * an object is there only from bytes above 0.
   */
  storedObject?(bucket: string, key: string): Promise<{ bytes: number; objects: number } | undefined>;

  /**
   * Replaces the recorded usage with a recount (`usage reconcile`). The s3 catalog's counters
   * drift when the store is changed directly, so it takes the recount. The fs index changes its
   * counters in the transaction that changes the rows a recount lists, so they cannot drift: a
   * no-op there (a difference would be a bug, which reconcile reports instead of hiding).
   */
  correctUsage(bucket: string, usage: BucketUsage): Promise<void>;

  /**
   * Multipart uploads in progress in the bucket (MAX_UPLOADS_PER_ACCOUNT). The s3 backend counts
   * the uploads its catalog knows: those started through this gateway.
   */
  countUploads(bucket: string): Promise<number>;

  /**
   * The events this backend journaled with its commits (see `Journaled`), waiting to be moved to
   * the event log by the relay (src/events/relay.ts).
   */
  readonly journal: EventJournal;
}

export interface StorageHealth {
  ok: boolean;
  detail?: string;
  /** Working, but short of something (the fs backend: free space below FS_MIN_FREE_*). */
  degraded?: boolean;
  /** Free and total bytes of the filesystem holding the data, where the backend knows them. */
  freeBytes?: number;
  totalBytes?: number;
}

/** How one write changes its bucket's usage, measured against what the key holds at commit time. */
export interface UsageChange {
  /** Change of the bucket's bytes (objects plus multipart parts); negative when it frees space. */
  bytes: number;
  /** Objects it adds: 1 when the key holds no object yet, else 0 (overwrites and parts). */
  objects: number;
}

/**
 * Admission of a write against what it ACTUALLY changes (quotas, object count). A backend calls it
 * after the data is staged and before it becomes visible; rejecting (QuotaExceeded) makes the
 * write store nothing and leave the key as it is. Each call states the whole change (not an
 * increment). A backend calls it again, with the new measurement, when a concurrent write made
 * an earlier one stale; a change of at most 0 bytes and 0 objects needs no call. Reservations made
 * by `admit` last until the caller settles them, after the write returned or failed.
 */
export type AdmitWrite = (change: UsageChange) => Promise<void>;

interface Admitted extends Journaled, Cancellable {
  /** See `AdmitWrite`. Without it the write commits unchecked (internal and test callers). */
  admit?: AdmitWrite;
}

/**
 * Writes and deletes that become visible take a journal hook: the backend calls it synchronously
 * inside the transaction that records the change (fs index, s3 catalog) and stores the events it
 * returns in that same transaction (src/events/events.ts). Without it nothing is journaled.
 */
export interface Journaled {
  journal?: JournalHook;
}

/** One journaled event; `seq` is its position in the backend's journal (the ack handle). */
export interface JournalEntry {
  seq: number;
  event: DomainEvent;
}

/**
 * A backend's local outbox of events (a table in its own database, written in the commit
 * transaction). Several processes sharing a DATA_DIR, or gateways sharing the s3 catalog's
 * PostgreSQL database, may read and ack the same entries: the event log's append is idempotent by
 * event id.
 */
export interface EventJournal {
  /** The oldest `limit` entries, in journal order. */
  readJournal(limit: number): Promise<JournalEntry[]>;
  /** Removes relayed entries; seqs already removed are ignored. */
  ackJournal(seqs: number[]): Promise<void>;
  /** `listener` runs soon after each commit that journaled something; returns the unsubscribe. */
  onJournaled(listener: () => void): () => void;
}

/**
 * Usage counts every stored version: noncurrent versions are bytes and objects like current ones
 * (delete markers are neither), so quotas hold across versioning.
 */
export interface BucketUsage {
  bytes: number;
  objects: number;
  multipartBytes: number;
}

export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm;
  /** base64 of the raw digest; `base64-N` for a composite multipart checksum. */
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/**
 * The flexible checksum of an upload's body, as verified by whoever produced the body (the
 * gateway's upload pipeline). There is no value to read before the body has been verified: a
 * trailer checksum arrives after the data, so `result()` settles only once verification finished
 * — it resolves with the base64 value, and rejects when the body failed (mismatch, short body,
 * client gone). A backend awaits it after it has consumed the whole body and before it commits
 * (awaiting it earlier would wait forever for bytes nobody reads).
 */
export interface UploadChecksum {
  algorithm: ChecksumAlgorithm;
  type: 'FULL_OBJECT';
  result(): Promise<string>;
}

/** An upload checksum already known (tests, internal callers): `result()` resolves at once. */
export function knownChecksum(algorithm: ChecksumAlgorithm, value: string): UploadChecksum {
  return { algorithm, type: 'FULL_OBJECT', result: () => Promise.resolve(value) };
}

/** The stored form of an upload checksum, once the body it describes has been consumed. */
export async function settledChecksum(checksum: UploadChecksum | undefined): Promise<ObjectChecksum | undefined> {
  return checksum && { algorithm: checksum.algorithm, type: checksum.type, value: await checksum.result() };
}

/** Standard content headers S3 stores with an object and returns on GET/HEAD. */
export interface ContentHeaders {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  /** Raw `Expires` header value as the client sent it. */
  expires?: string;
}

export interface ObjectMetadata extends ContentHeaders {
  /** `x-amz-meta-*` without the prefix, names lower-cased. */
  userMetadata: Record<string, string>;
}

export interface ObjectInfo extends ObjectMetadata {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  checksum?: ObjectChecksum;
  tagCount: number;
  /** Number of parts for multipart objects, undefined for single uploads. */
  partsCount?: number;
  /**
   * The version this is: the id in a bucket whose versioning was ever configured (`null` for the
   * null version), undefined in an Unversioned bucket (S3 then sends no x-amz-version-id).
   */
  versionId?: string;
  /** The parts of a multipart object, in order; only with `HeadObjectInput.withParts` (GetObjectAttributes). */
  parts?: ObjectPart[];
  /** Inclusive bytes of the part a HEAD asked for (`HeadObjectInput.partNumber`); end < start for an empty part. */
  partRange?: { start: number; end: number };
}

/**
 * One part of a completed multipart object: `partNumber` as the upload named it, its size and its
 * own checksum (FULL_OBJECT of the part) when the upload used an additional checksum.
 */
export interface ObjectPart {
  partNumber: number;
  size: number;
  checksum?: ObjectChecksum;
}

export interface ObjectSummary {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  versionId?: string;
}

export interface WriteResult {
  etag: string;
  size: number;
  lastModified: Date;
  checksum?: ObjectChecksum;
  /**
   * The version the write created: its id in an Enabled bucket, `null` in a Suspended one,
   * undefined in an Unversioned bucket. In an Enabled bucket a write replaces nothing (the previous
   * version stays stored and counted in usage); in a Suspended one it replaces the `null` version only.
   */
  versionId?: string;
}

export interface PartWriteResult {
  etag: string;
  size: number;
  checksum?: ObjectChecksum;
}

export interface PutObjectInput extends Admitted {
  bucket: string;
  key: string;
  /** Decoded object bytes (aws-chunked framing already removed and verified by the gateway). */
  body: Readable;
  /** Exact length when known; a body of another length fails with IncompleteBody and stores nothing. */
  size?: number;
  metadata: ObjectMetadata;
  tags?: Record<string, string>;
  /** base64 MD5 from Content-MD5; the backend verifies it (BadDigest) before committing. */
  contentMd5?: string;
  /** Verified by the body's producer; stored and returned on GET/HEAD with checksum mode (see UploadChecksum). */
  checksum?: UploadChecksum;
  /** Checked against the key as it is at commit, atomically with the commit (see WriteConditions). */
  conditions?: WriteConditions;
  /**
   * What this write replaces as the caller measured it for its quota reservation (`replacedObject`,
   * just before the body): its bytes, and whether an object is there (`objects`: 1 or 0; undefined
   * when not known, as 0 bytes may be an empty object). A backend may start its admission from this
   * estimate instead of measuring again: the commit re-measures against the key as it is then
   * anyway, and a stale estimate only costs another admission (AdmitWrite). It also says the bucket
   * existed.
   */
  replaced?: { bytes: number; objects?: number };
}

/**
 * Preconditions of a write (PutObject, CompleteMultipartUpload), S3's conditional writes: at most
 * one of the two (the gateway refuses both, and other values, with NotImplemented as S3 does).
 * A backend evaluates them against what the key holds when the write becomes visible, in the
 * same atomic step (fs: the index transaction; s3: a key claim in the catalog), so of two racing
 * `If-None-Match: *` writes exactly one succeeds. A failed condition stores nothing, journals
 * nothing and leaves the key (and a multipart upload) as it was: PreconditionFailed (412, with
 * `Condition`), NoSuchKey for If-Match on a key that holds nothing, ConditionalRequestConflict
 * (409) when another conditional write of the key is being committed at that moment.
 */
export interface WriteConditions {
  /** The write happens only if the key holds an object with this ETag (quoted or not). */
  ifMatch?: string;
  /** The write happens only if the key holds no object. */
  ifNoneMatch?: '*';
}

/** A parsed `Range: bytes=…` header (one range; S3 serves only the first). */
export type ByteRangeSpec =
  | { kind: 'from'; start: number; end?: number } // bytes=start-end or bytes=start-
  | { kind: 'suffix'; length: number }; // bytes=-length

export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  ifUnmodifiedSince?: Date;
}

export interface HeadObjectInput extends Cancellable {
  bucket: string;
  key: string;
  /**
   * One version (`null` for the null version). NoSuchVersion (404) when the key has no such
   * version, InvalidArgument for a malformed id. A delete marker named by its id answers
   * MethodNotAllowed (405) with headers `x-amz-delete-marker: true`, `x-amz-version-id` and
   * `Last-Modified`. Without it, a key whose latest version is a delete marker answers NoSuchKey
   * with headers `x-amz-delete-marker: true` and `x-amz-version-id` (the marker's).
   */
  versionId?: string;
  conditions?: Conditions;
  /**
   * S3's `partNumber`: the n-th part of a multipart object (1-based, in the object's part order),
   * or part 1 = the whole object otherwise; out of range is 416 InvalidPartNumber. GET serves that
   * part's bytes as its `range`, HEAD reports them as `info.partRange` (src/storage/part-number.ts).
   */
  partNumber?: number;
  /** Fill `ObjectInfo.parts` (GetObjectAttributes): undefined for an object that is not multipart. */
  withParts?: boolean;
}

export interface GetObjectInput extends HeadObjectInput {
  range?: ByteRangeSpec;
}

export interface GetObjectOutput {
  info: ObjectInfo;
  /** Destroyed (with the signal's reason) when the call's signal aborts while it is being read. */
  body: Readable;
  /**
   * The same bytes as `body` when the backend already holds them in memory (small objects):
   * callers may send these directly and never touch `body` (a backend may build it lazily).
   */
  bytes?: Buffer;
  /** Inclusive byte range served, when a range or a part was requested (end < start: an empty part). */
  range?: { start: number; end: number };
}

/** What a delete did (S3's `x-amz-version-id` / `x-amz-delete-marker` response headers). */
export interface DeleteObjectResult {
  /** The version removed (a delete with `versionId`), or the delete marker created. Undefined on an Unversioned bucket. */
  versionId?: string;
  /** True when the delete created a marker, or removed one by its version id. */
  deleteMarker?: boolean;
}

/** One entry of a DeleteObjects batch; `versionId` as in `deleteObject`. */
export interface ObjectIdentifier {
  key: string;
  versionId?: string;
}

/** One `<Deleted>` entry of DeleteObjects. */
export interface DeletedObject {
  key: string;
  /** The version id the request named. */
  versionId?: string;
  /** True when the delete created a marker or removed one. */
  deleteMarker?: boolean;
  /** The id of the marker created (a delete without versionId in a versioned bucket). */
  deleteMarkerVersionId?: string;
}

export interface DeleteObjectsOutput {
  deleted: DeletedObject[];
  errors: { key: string; versionId?: string; code: string; message: string }[];
}

/** Bucket versioning state; `Unversioned` is a bucket whose versioning was never configured. */
export type VersioningStatus = 'Unversioned' | 'Enabled' | 'Suspended';

/** The `null` version id: objects written while a bucket was Unversioned or Suspended. */
export const NULL_VERSION_ID = 'null';

export interface ListObjectVersionsInput extends Cancellable {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  /** With `versionIdMarker`: resume after that version of this key; alone: after every version of this key. */
  keyMarker?: string;
  versionIdMarker?: string;
  /** 0..1000; versions, delete markers and common prefixes all count. */
  maxKeys: number;
}

/** A version or a delete marker in a ListObjectVersions answer. */
export interface ObjectVersionEntry {
  key: string;
  /** `null` (NULL_VERSION_ID) for the null version. */
  versionId: string;
  isLatest: boolean;
  lastModified: Date;
  deleteMarker: boolean;
  /** Versions only (0 for markers). */
  size: number;
  /** Versions only (empty for markers). */
  etag: string;
}

export interface ListObjectVersionsOutput {
  /** Versions and delete markers interleaved in S3 order (key ascending, newest first within a key). */
  entries: ObjectVersionEntry[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

export interface CopyObjectInput extends Admitted {
  sourceBucket: string;
  sourceKey: string;
  bucket: string;
  key: string;
  /** COPY keeps the source's metadata and tags; REPLACE uses `metadata` (and `tags` when given). */
  metadataDirective: 'COPY' | 'REPLACE';
  metadata?: ObjectMetadata;
  /** With taggingDirective REPLACE; undefined keeps the source tags. */
  tags?: Record<string, string>;
  sourceConditions?: Conditions;
  /** Copy this version of the source (`x-amz-copy-source: /b/k?versionId=`); rules as HeadObjectInput.versionId. */
  sourceVersionId?: string;
}

export interface ListObjectsInput extends Cancellable {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  /** Exclusive: only keys (and common prefixes) strictly greater are returned. */
  startAfter?: string;
  /** 0..1000 */
  maxKeys: number;
}

export interface ListObjectsOutput {
  contents: ObjectSummary[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned; the next page passes it as `startAfter`. */
  nextMarker?: string;
}

export interface CreateMultipartUploadInput extends Cancellable {
  bucket: string;
  key: string;
  metadata: ObjectMetadata;
  tags?: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
}

export interface UploadPartInput extends Admitted {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  body: Readable;
  size?: number;
  contentMd5?: string;
  checksum?: UploadChecksum;
}

export interface UploadPartCopyInput extends Admitted {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  sourceBucket: string;
  sourceKey: string;
  /** Inclusive source byte range (`x-amz-copy-source-range: bytes=first-last`). */
  sourceRange?: { start: number; end: number };
  sourceConditions?: Conditions;
}

export interface CompleteMultipartUploadInput extends Admitted {
  bucket: string;
  key: string;
  uploadId: string;
  /** As the client listed them; ETags may be quoted or not. */
  parts: { partNumber: number; etag: string; checksum?: string }[];
  /** See WriteConditions; a failed condition leaves the upload in progress (completable, abortable). */
  conditions?: WriteConditions;
}

export interface ListPartsInput extends Cancellable {
  bucket: string;
  key: string;
  uploadId: string;
  partNumberMarker?: number;
  maxParts: number;
}

export interface ListPartsOutput {
  parts: { partNumber: number; etag: string; size: number; lastModified: Date; checksum?: ObjectChecksum }[];
  isTruncated: boolean;
  nextPartNumberMarker?: number;
  checksumAlgorithm?: ChecksumAlgorithm;
  initiated: Date;
}

export interface ListMultipartUploadsInput extends Cancellable {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  maxUploads: number;
}

export interface ListMultipartUploadsOutput {
  uploads: { key: string; uploadId: string; initiated: Date }[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}
