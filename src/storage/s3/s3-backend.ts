import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Pool } from 'pg';
import { pipeline } from 'node:stream/promises';
import { document, node, text } from '../../s3-protocol/xml.ts';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import { bareEtag, checkWriteConditions, evaluateConditions } from '../conditions.ts';
import { checkPartNumber, compareKeys as byteCompare, completedChecksum, pageOfUploads, sortUploads, validateCompletion } from '../multipart-rules.ts';
import { S3Error, isS3Error } from '../../errors/s3-errors.ts';
import type {
  AdmitWrite,
  BackendLocalState,
  BucketUsage,
  ByteRangeSpec,
  CompleteMultipartUploadInput,
  Conditions,
  CopyObjectInput,
  CreateMultipartUploadInput,
  DeleteObjectResult,
  DeleteObjectsOutput,
  DeletedObject,
  GetObjectInput,
  GetObjectOutput,
  HeadObjectInput,
  ListMultipartUploadsInput,
  ListMultipartUploadsOutput,
  ListObjectsInput,
  ListObjectsOutput,
  ListObjectVersionsInput,
  ListPartsInput,
  ListPartsOutput,
  ObjectInfo,
  ObjectMetadata,
  ObjectVersionEntry,
  PartWriteResult,
  PutObjectInput,
  StorageBackend,
  UploadPartCopyInput,
  UploadPartInput,
  UsageChange,
  WriteConditions,
  WriteResult,
} from '../storage-backend.ts';
import { NULL_VERSION_ID, settledChecksum, type ListObjectVersionsOutput, type VersioningStatus } from '../storage-backend.ts';
import { partByteRange } from '../part-number.ts';
import { fileClosed } from '../file-sink.ts';
import { encodeCompletion, replayCompletion } from '../completed-uploads.ts';
import { countStoredVersions } from '../count-objects.ts';
import { openS3Catalog, type RecordedDelete, type S3Catalog } from './s3-catalog.ts';
import { openPgS3Catalog } from './s3-catalog.pg.ts';
import { copySourceHeader as copySource, createS3Http, headerValue, type S3Http, type S3HttpOptions, type S3HttpResponse } from './s3-http.ts';
import { arr, parseResponse, parseVersionListing, str } from './s3-xml.ts';

/** The headers of an XML request body: S3 requires Content-MD5 on DeleteObjects, PutBucketVersioning and PutObjectTagging. */
function xmlHeaders(body: Buffer): Record<string, string> {
  return { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' };
}

export interface S3BackendOptions extends Omit<S3HttpOptions, 'maxConnections' | 'now'> {
  maxConnections?: number;
  /** Local state: the catalog's SQLite file (without `catalog`) and spool files for bodies of unknown length. */
  stateDir: string;
  /**
   * Where the catalog lives: by default a SQLite file in `stateDir`; with DATABASE_URL, tables of
   * that PostgreSQL database (s3-catalog.pg.ts), shared by every gateway. The pool is the
   * process's bounded pool, owned by the caller (closing the backend does not end it).
   */
  catalog?: { kind: 'postgres'; pool: Pool };
}

type Headers = S3HttpResponse['headers'];

const CONTENT_HEADERS = [
  ['contentType', 'content-type'],
  ['cacheControl', 'cache-control'],
  ['contentDisposition', 'content-disposition'],
  ['contentEncoding', 'content-encoding'],
  ['contentLanguage', 'content-language'],
  ['expires', 'expires'],
] as const;

function metadataHeaders(metadata: ObjectMetadata | undefined): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  if (!metadata) return headers;
  for (const [field, header] of CONTENT_HEADERS) headers[header] = metadata[field];
  for (const [name, value] of Object.entries(metadata.userMetadata)) headers[`x-amz-meta-${name}`] = value;
  return headers;
}

const tagHeader = (tags: Record<string, string> | undefined) => (tags && Object.keys(tags).length > 0 ? new URLSearchParams(tags).toString() : undefined);

const rangeHeader = (range: ByteRangeSpec | undefined) => (!range ? undefined : range.kind === 'suffix' ? `bytes=-${range.length}` : `bytes=${range.start}-${range.end ?? ''}`);

/**
 * Conditions are forwarded so the backend can skip sending a body, and evaluated again here on
 * what it returns: stores differ (RGW refuses `If-Match: *`, ignores copy-source conditions).
 */
function conditionHeaders(conditions: Conditions | undefined, prefix = ''): Record<string, string | undefined> {
  if (!conditions) return {};
  return {
    [`${prefix}if-match`]: conditions.ifMatch?.trim() === '*' ? undefined : conditions.ifMatch,
    [`${prefix}if-none-match`]: conditions.ifNoneMatch,
    [`${prefix}if-modified-since`]: conditions.ifModifiedSince?.toUTCString(),
    [`${prefix}if-unmodified-since`]: conditions.ifUnmodifiedSince?.toUTCString(),
  };
}

/** ETags as S3 renders them, quoted: some stores leave the quotes off in XML results. */
const quoted = (etag: string | undefined) => (!etag ? '""' : etag.startsWith('"') ? etag : `"${etag}"`);

const multipartPartsOf = (etag: string): number | undefined => {
  const match = /-(\d+)"?$/.exec(etag);
  return match ? Number(match[1]) : undefined;
};

const decodeKey = (value: string | undefined, urlEncoded: boolean) => (value === undefined ? undefined : urlEncoded ? decodeURIComponent(value.replace(/\+/g, '%20')) : value);

/** Why a held-back write's gate was not passed: its store request had already failed or been cancelled. */
const writeAbandoned = () => new Error('write abandoned: its store request ended before the body did');
const ignoreError = () => undefined;

/**
 * `body` with its last chunk held until the rest has been read and `gate` resolved; a rejection
 * fails the stream. The gate stands for something the caller settles when the write ends (a quota
 * hold, a key claim), so it is never passed once the write is over: when the store request failed
 * or was cancelled while the source was still arriving (the reader destroyed this stream, or the
 * caller marked the write `abandoned`), a late end of the source fails the stream instead of
 * admitting or claiming for a write that no longer exists (a settled hold throws on admit).
 * The stream keeps an error listener: its reader (undici) reports failures through the request
 * (s3-http reads `errored`), and Readable.from emits a late failure only after that reader let go,
 * where an `error` without a listener would end the process.
 */
function holdLastChunk(body: Readable, gate: () => Promise<void>, abandoned: () => boolean = () => false): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let last: Buffer | undefined;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (last) yield last;
      last = chunk;
    }
    // `destroyed` is set synchronously by destroy(); the generator learns it only here, when it next runs.
    if (held.destroyed || abandoned()) throw writeAbandoned();
    await gate();
    if (last) yield last;
  }
  const held = Readable.from(chunks(), { objectMode: false });
  held.on('error', ignoreError);
  return held;
}

/**
 * Write conditions as sent on to the store too, a second line of defence for writes the catalog
 * does not see (made behind the gateway's back): RGW compares If-Match with the unquoted ETag, and
 * stores that ignore the headers (RGW Pacific on completions) still get the catalog's decision.
 */
function storeConditionHeaders(conditions: WriteConditions | undefined): Record<string, string | undefined> | undefined {
  if (!conditions) return undefined;
  return { 'if-none-match': conditions.ifNoneMatch, 'if-match': conditions.ifMatch === undefined ? undefined : bareEtag(conditions.ifMatch) };
}

const rethrow = (error: unknown): never => {
  throw error;
};

/** The store refused a forwarded condition: S3's answer, naming the condition. */
function storeRefusal(conditions: WriteConditions) {
  return (error: unknown): never => {
    if (isS3Error(error, 'PreconditionFailed')) {
      throw new S3Error('PreconditionFailed', undefined, { details: { Condition: conditions.ifNoneMatch !== undefined ? 'If-None-Match' : 'If-Match' } });
    }
    throw error;
  };
}

/**
 * A write's admission (quota, object count) on the proxy backend, where the store, not us, makes
 * an object visible. Guarantees:
 * - PutObject and UploadPart: the store makes an object visible when its last byte arrives, so
 *   the last chunk is held back until `admit` accepted the change measured from the catalog at
 *   that moment (`beforeLastChunk`); a refusal aborts the store request, so the store keeps the
 *   previous version and the client gets the refusal.
 * - CopyObject, UploadPartCopy and CompleteMultipartUpload are one store request each: they are
 *   admitted with the catalog's measurement just before it.
 * - In every case the catalog then records the result in one transaction and reports the change
 *   it actually made. If that exceeds what was admitted (the key or copy source was changed
 *   through the gateway during the store round trip), the difference is admitted after the fact,
 *   and if refused the write is undone (`undo`: the new object deleted, a part emptied): the
 *   quota still holds, but that key then holds nothing rather than its earlier version. Changes
 *   made in the store behind the gateway's back are not seen until `usage reconcile`.
 */
function createAdmission(admit: AdmitWrite | undefined) {
  let admitted: UsageChange = { bytes: 0, objects: 0 };
  /** The store request failed: the caller settles its hold next, so nothing may be admitted from here on. */
  let abandoned = false;
  const isAbandoned = () => abandoned;
  const ensure = async (change: UsageChange): Promise<void> => {
    if (!admit || (change.bytes <= admitted.bytes && change.objects <= admitted.objects)) return;
    const next = { bytes: Math.max(admitted.bytes, change.bytes), objects: Math.max(admitted.objects, change.objects) };
    await admit(next);
    admitted = next;
  };
  return {
    ensure,
    isAbandoned,
    /** For `.catch` on the store request: marks the write abandoned (see `holdLastChunk`) and rethrows. */
    abandon(error: unknown): never {
      abandoned = true;
      throw error;
    },
    /**
     * `body` with its last chunk held until the body has ended and `measure()` is admitted; a
     * refusal fails the stream (the store request is aborted, and s3-http rethrows the body's
     * error). The source is read to its end first, so a refusal is not mistaken for a client that
     * went away. An empty body is admitted before the request starts.
     */
    async beforeLastChunk(body: Readable, size: number, measure: () => Promise<UsageChange>): Promise<Readable> {
      if (!admit) return body;
      if (size === 0) {
        await ensure(await measure());
        return body;
      }
      return holdLastChunk(body, async () => ensure(await measure()), isAbandoned);
    },
    /** Admits what the catalog recorded, after the fact; undoes the write when that is refused. */
    async settle(recorded: UsageChange, undo: () => Promise<void>): Promise<void> {
      try {
        await ensure(recorded);
      } catch (error) {
        await undo();
        throw error;
      }
    },
  };
}

/** A multipart object written to the store directly (not completed through the gateway): the catalog has no part layout. */
function unknownPartLayout(): S3Error {
  return new S3Error('NotImplemented', 'This object was not completed through this server, so its part layout is unknown: it cannot be read by part number.');
}

/** An upload id the store does not know under this key: some stores say NoSuchKey, S3 says NoSuchUpload. */
function uploadLevel(error: unknown): never {
  if (isS3Error(error, 'NoSuchKey')) throw new S3Error('NoSuchUpload');
  throw error;
}

/** Sentinel for `NoSuchKey` answers on bucket-level requests, which S3 reports as NoSuchBucket. */
function bucketLevel(error: unknown): never {
  if (isS3Error(error, 'NoSuchKey')) throw new S3Error('NoSuchBucket');
  throw error;
}

/**
 * Version ids as stores make them (AWS: 32 URL-safe characters, some with `+/=`; RGW: 31-32 of
 * `[A-Za-z0-9._-]`; MinIO: UUIDs). RGW answers any other string with NoSuchKey (GET) or 204
 * (DELETE, deleting nothing); S3 answers InvalidArgument, so ids are checked here.
 */
const VERSION_ID = /^[A-Za-z0-9+/=._~-]{1,1024}$/;

function checkVersionId(versionId: string | undefined): void {
  if (versionId === undefined || versionId === NULL_VERSION_ID || VERSION_ID.test(versionId)) return;
  throw new S3Error('InvalidArgument', 'Invalid version id specified', { details: { ArgumentName: 'versionId', ArgumentValue: versionId } });
}

const versionQuery = (versionId: string | undefined) => (versionId === undefined ? undefined : { versionId });

/** S3's answer to a read of a delete marker by its version id (RGW answers NoSuchKey). */
function markerNotAllowed(marker: ObjectVersionEntry, method: string): S3Error {
  return new S3Error('MethodNotAllowed', undefined, {
    headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker.versionId, 'Last-Modified': marker.lastModified.toUTCString(), Allow: 'DELETE' },
    details: { Method: method, ResourceType: 'DeleteMarker' },
  });
}

/**
 * The S3 proxy backend: every account bucket is one bucket of a remote S3 store (MinIO, Ceph
 * RGW, Garage, AWS S3), and every call becomes one or a few re-signed requests to it, with
 * bodies streamed through. What stores differ on or lack (additional checksums, exact usage
 * for quotas) lives in a catalog beside it (s3-catalog.ts: a SQLite file, or PostgreSQL shared by every gateway).
 */
export async function createS3Backend(options: S3BackendOptions): Promise<StorageBackend & { catalog: S3Catalog }> {
  await mkdir(join(options.stateDir, 'spool'), { recursive: true });
  const catalog = options.catalog ? await openPgS3Catalog(options.catalog.pool) : openS3Catalog(join(options.stateDir, 'catalog.sqlite'));
  const http: S3Http = createS3Http({ ...options, maxConnections: options.maxConnections ?? 128 });

  async function objectInfo(key: string, bucket: string, headers: Headers, statusCode: number): Promise<{ info: ObjectInfo; range?: { start: number; end: number } }> {
    const etag = headerValue(headers, 'etag') ?? '""';
    const storeVersionId = headerValue(headers, 'x-amz-version-id');
    // One catalog look-up per read: the bucket's versioning state and the version's checksum.
    const facts = await catalog.readFacts(bucket, key, storeVersionId, etag);
    const versionId = readVersionId(storeVersionId, facts.versioning);
    let size = Number(headerValue(headers, 'content-length') ?? 0);
    let range: { start: number; end: number } | undefined;
    const contentRange = headerValue(headers, 'content-range');
    if (statusCode === 206 && contentRange) {
      const match = /bytes (\d+)-(\d+)\/(\d+)/.exec(contentRange);
      if (match) {
        range = { start: Number(match[1]), end: Number(match[2]) };
        size = Number(match[3]);
      }
    }
    const userMetadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith('x-amz-meta-') && value !== undefined) userMetadata[name.slice(11)] = Array.isArray(value) ? value.join(',') : value;
    }
    const info: ObjectInfo = {
      key,
      size,
      etag,
      lastModified: new Date(headerValue(headers, 'last-modified') ?? 0),
      userMetadata,
      tagCount: Number(headerValue(headers, 'x-amz-tagging-count') ?? 0),
    };
    for (const [field, header] of CONTENT_HEADERS) {
      const value = headerValue(headers, header);
      if (value !== undefined) info[field] = value;
    }
    if (versionId !== undefined) info.versionId = versionId;
    if (facts.checksum) info.checksum = facts.checksum;
    const parts = multipartPartsOf(etag);
    if (parts !== undefined) info.partsCount = parts;
    return { info, range };
  }

  /**
   * The version a read found, as S3 reports it: RGW sends no `x-amz-version-id` for the null
   * version of a Suspended (or once versioned) bucket, and sends `null` for `?versionId=null` in an
   * Unversioned one. S3 reports `null` exactly when the bucket's versioning was ever configured.
   * The state comes from the catalog (`state`); unknown counts as Unversioned.
   */
  function readVersionId(header: string | undefined, state: VersioningStatus | undefined): string | undefined {
    if (header !== undefined && header !== NULL_VERSION_ID) return header;
    return state === 'Enabled' || state === 'Suspended' ? NULL_VERSION_ID : undefined;
  }

  /** The bucket's versioning state as the store has it, cached in the catalog. */
  async function fetchVersioning(bucket: string, signal?: AbortSignal): Promise<VersioningStatus> {
    const response = await http.sendForText({ method: 'GET', bucket, query: { versioning: '' }, signal }).catch(bucketLevel);
    // RGW answers an Unversioned bucket with an empty VersioningConfiguration.
    const status = response.text.trim() === '' ? undefined : str(parseResponse(response.text, 'VersioningConfiguration').Status);
    const state: VersioningStatus = status === 'Enabled' || status === 'Suspended' ? status : 'Unversioned';
    await catalog.setVersioning(bucket, state);
    return state;
  }

  /**
   * The version a write created, as S3 reports it: the store's id, else `null` in a bucket whose
   * versioning was ever configured (RGW sends no id for a write to a Suspended bucket), else none.
   * A write that got an id tells the catalog the bucket is Enabled (changed in the store directly).
   */
  async function writtenVersionId(bucket: string, header: string | undefined): Promise<string | undefined> {
    if (header !== undefined && header !== NULL_VERSION_ID) {
      if ((await catalog.versioning(bucket)) !== 'Enabled') await catalog.setVersioning(bucket, 'Enabled');
      return header;
    }
    const state = (await catalog.versioning(bucket)) ?? (await fetchVersioning(bucket));
    return state === 'Unversioned' ? undefined : NULL_VERSION_ID;
  }

  /** The listing entries of exactly `key` (newest first), at most `limit`, walking the store's versions under it as a prefix. */
  async function versionsOfKey(bucket: string, key: string, signal?: AbortSignal, limit = Number.POSITIVE_INFINITY): Promise<ObjectVersionEntry[]> {
    const found: ObjectVersionEntry[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await backend.listObjectVersions({ bucket, prefix: key, keyMarker, versionIdMarker, maxKeys: Math.min(1000, limit), signal });
      for (const entry of page.entries) {
        // Keys under `key` sort after it: the first other key ends the walk.
        if (entry.key !== key || found.length >= limit) return found;
        found.push(entry);
      }
      if (!page.isTruncated || page.nextKeyMarker !== key || found.length >= limit) return found;
      keyMarker = page.nextKeyMarker;
      versionIdMarker = page.nextVersionIdMarker;
    }
  }

  /**
   * A read the store answered NoSuchKey, explained as S3 does (RGW says NoSuchKey for all of it):
   * by version id, NoSuchVersion for a version the key does not have and MethodNotAllowed for a
   * delete marker; without, NoSuchKey with the marker's headers when the latest version is a
   * delete marker. A missing bucket is NoSuchBucket (the listing says so; HEAD has no body).
   */
  async function explainMissing(error: unknown, bucket: string, key: string, versionId: string | undefined, method: string, signal?: AbortSignal): Promise<never> {
    if (!isS3Error(error, 'NoSuchKey')) throw error;
    if (versionId !== undefined) {
      const found = (await versionsOfKey(bucket, key, signal)).find((entry) => entry.versionId === versionId);
      if (!found) throw new S3Error('NoSuchVersion', undefined, { details: { Key: key, VersionId: versionId } });
      if (found.deleteMarker) throw markerNotAllowed(found, method);
      throw error;
    }
    // A bucket whose state the catalog does not know yet asks the store once (NoSuchBucket too).
    if (((await catalog.versioning(bucket)) ?? (await fetchVersioning(bucket, signal))) === 'Unversioned') {
      if (method === 'HEAD') await headBucket(bucket);
      throw error;
    }
    const [latest] = await versionsOfKey(bucket, key, signal, 1);
    if (latest?.deleteMarker)
      throw new S3Error('NoSuchKey', error.message, { details: error.details, headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': latest.versionId } });
    throw error;
  }

  /**
   * Deletes without version id that the store answered without a delete marker. In a versioned
   * bucket that is RGW (Pacific) declining to stack a marker on a key whose latest version is
   * already one (S3 adds another, and says so): the marker already there is reported instead.
   */
  async function markersKept(bucket: string, deletes: RecordedDelete[], signal?: AbortSignal): Promise<RecordedDelete[]> {
    const state = await catalog.versioning(bucket);
    if (state !== 'Enabled' && state !== 'Suspended') return deletes;
    const out: RecordedDelete[] = [];
    for (const entry of deletes) {
      if (entry.versionId !== undefined || entry.markerVersionId !== undefined) {
        out.push(entry);
        continue;
      }
      const [latest] = await versionsOfKey(bucket, entry.key, signal, 1);
      out.push(latest?.deleteMarker ? { key: entry.key, markerVersionId: latest.versionId } : entry);
    }
    return out;
  }

  /** Streams a body of unknown length to a spool file first: S3 stores need Content-Length up front. */
  async function withKnownLength<T>(body: Readable, size: number | undefined, send: (body: Readable, size: number) => Promise<T>): Promise<T> {
    if (size !== undefined) return send(body, size);
    const path = join(options.stateDir, 'spool', randomBytes(12).toString('hex'));
    const sink = createWriteStream(path);
    try {
      await pipeline(body, sink);
      const { size: spooled } = await stat(path);
      return await send(createReadStream(path), spooled);
    } finally {
      // A failed spool's open may still be pending (file-sink.ts).
      await fileClosed(sink);
      await rm(path, { force: true });
    }
  }

  async function headBucket(bucket: string): Promise<void> {
    await http.sendAndDiscard({ method: 'HEAD', bucket }).catch(bucketLevel);
  }

  /** Usage, sizes and uploads as the catalog recorded them; its journal. */
  const local: BackendLocalState = {
    async storedSize(bucket: string, key: string): Promise<number | undefined> {
      // Only for buckets the catalog tracks; others fall back to a HEAD.
      if (!(await catalog.usage(bucket))) return undefined;
      // What a write would replace: 0 in an Enabled bucket, the null version's size otherwise.
      return (await catalog.replaceable(bucket, key))?.size ?? 0;
    },

    async correctUsage(bucket: string, usage: BucketUsage): Promise<void> {
      await catalog.setUsage(bucket, usage);
    },

    async countUploads(bucket: string): Promise<number> {
      return catalog.countUploads(bucket);
    },

    async usage(bucket: string): Promise<BucketUsage> {
      const recorded = await catalog.usage(bucket);
      if (recorded) return recorded;
      // A bucket the catalog has never seen (created before it, or by another tool): count it once.
      await headBucket(bucket);
      const counted = { ...(await countStoredVersions(backend, bucket)), multipartBytes: 0 };
      await catalog.setUsage(bucket, counted);
      return counted;
    },

    journal: catalog.eventJournal,
  };

  const backend: StorageBackend & { catalog: S3Catalog } = {
    kind: 's3',
    catalog,
    local,

    async createBucket(bucket, options) {
      options?.signal?.throwIfAborted();
      // Some stores (RGW, AWS us-east-1) answer 200 to re-creating a bucket one already owns.
      const exists = await headBucket(bucket).then(
        () => true,
        (error: unknown) => {
          if (isS3Error(error, 'NoSuchBucket')) return false;
          throw error;
        },
      );
      if (exists) throw new S3Error('BucketAlreadyOwnedByYou');
      try {
        await http.sendAndDiscard({ method: 'PUT', bucket });
      } catch (error) {
        // Our buckets all belong to the backend account: "exists" can only mean "ours already".
        if (isS3Error(error, 'BucketAlreadyExists')) throw new S3Error('BucketAlreadyOwnedByYou');
        throw error;
      }
      await catalog.setUsage(bucket, { bytes: 0, objects: 0, multipartBytes: 0 });
      await catalog.setVersioning(bucket, 'Unversioned');
    },

    async deleteBucket(bucket, options) {
      options?.signal?.throwIfAborted();
      // Noncurrent versions and delete markers keep a bucket from being deleted, as in S3.
      const listing = await backend.listObjectVersions({ bucket, maxKeys: 1 });
      if (listing.entries.length > 0 || listing.commonPrefixes.length > 0) throw new S3Error('BucketNotEmpty');
      for (;;) {
        const page = await backend.listMultipartUploads({ bucket, maxUploads: 1000 });
        for (const upload of page.uploads) {
          await backend.abortMultipartUpload({ bucket, key: upload.key, uploadId: upload.uploadId }).catch((error: unknown) => {
            if (!isS3Error(error, 'NoSuchUpload')) throw error;
          });
        }
        if (!page.isTruncated) break;
      }
      await http.sendAndDiscard({ method: 'DELETE', bucket }).catch(bucketLevel);
      await catalog.dropBucket(bucket);
    },

    async putObject(input: PutObjectInput): Promise<WriteResult> {
      const admission = createAdmission(input.admit);
      const { conditions } = input;
      // A conditional write claims the key only once all but the last chunk reached the store
      // (which stores nothing before the last byte): a refused condition aborts the store request,
      // so a losing upload never replaces anything, and the claim lasts one round trip. No claim
      // and no extra query when no condition was sent.
      const claim = conditions && keyClaim(input.bucket, input.key, conditions);
      const written = withKnownLength(input.body, input.size, async (spooledOrStreamed, size) => {
        let body = await admission.beforeLastChunk(spooledOrStreamed, size, () => objectChange(input.bucket, input.key, size));
        // An empty body commits as soon as the store has the request head: claimed before it is sent.
        if (claim && size === 0) await claim.take();
        else if (claim) body = holdLastChunk(body, claim.take, admission.isAbandoned);
        const sending = http
          .sendAndDiscard({
            method: 'PUT',
            bucket: input.bucket,
            key: input.key,
            body,
            bodyLength: size,
            headers: { ...metadataHeaders(input.metadata), 'content-md5': input.contentMd5, 'x-amz-tagging': tagHeader(input.tags), ...storeConditionHeaders(conditions) },
            signal: whileStreaming(input.signal, body),
          })
          .catch(admission.abandon);
        const headers = await (conditions ? sending.catch(storeRefusal(conditions)) : sending);
        const etag = headerValue(headers, 'etag') ?? '""';
        // The body has been consumed: its producer has verified it (see UploadChecksum).
        const checksum = await settledChecksum(input.checksum);
        const versionId = await writtenVersionId(input.bucket, headerValue(headers, 'x-amz-version-id'));
        const recorded = await catalog.recordObject(input.bucket, input.key, versionId, size, etag, checksum, input.journal, input.metadata.contentType);
        await claim?.release();
        await admission.settle(recorded, () => removeObject(input.bucket, input.key, versionId));
        const lastModified = new Date(headerValue(headers, 'last-modified') ?? headerValue(headers, 'date') ?? Date.now());
        return { etag, size, lastModified, ...(checksum ? { checksum } : {}), ...(versionId !== undefined ? { versionId } : {}) };
      });
      return claim ? written.finally(claim.release) : written;
    },

    async getObject(input: GetObjectInput): Promise<GetObjectOutput> {
      checkVersionId(input.versionId);
      if (input.partNumber !== undefined) return getPart(input, input.partNumber);
      // Cancelling closes the upstream request, or destroys the body while it streams.
      let response: S3HttpResponse;
      try {
        response = await http.send({
          method: 'GET',
          signal: input.signal,
          bucket: input.bucket,
          key: input.key,
          query: versionQuery(input.versionId),
          headers: { range: rangeHeader(input.range), ...conditionHeaders(input.conditions) },
        });
      } catch (error) {
        return explainMissing(error, input.bucket, input.key, input.versionId, 'GET', input.signal);
      }
      let described: Awaited<ReturnType<typeof objectInfo>>;
      try {
        described = await objectInfo(input.key, input.bucket, response.headers, response.statusCode);
      } catch (error) {
        response.body.destroy();
        throw error;
      }
      const { info, range } = described;
      try {
        evaluateConditions(info, input.conditions);
      } catch (error) {
        response.body.destroy();
        throw error;
      }
      return { info, body: response.body, ...(range ? { range } : {}) };
    },

    async headObject(input: HeadObjectInput): Promise<ObjectInfo> {
      checkVersionId(input.versionId);
      let headers: Headers;
      try {
        headers = await http.sendAndDiscard({
          method: 'HEAD',
          bucket: input.bucket,
          key: input.key,
          query: versionQuery(input.versionId),
          headers: conditionHeaders(input.conditions),
          signal: input.signal,
        });
      } catch (error) {
        // HEAD has no body to tell a missing key from a missing bucket, a version or a marker.
        return explainMissing(error, input.bucket, input.key, input.versionId, 'HEAD', input.signal);
      }
      const { info } = await objectInfo(input.key, input.bucket, headers, 200);
      evaluateConditions(info, input.conditions);
      if (input.partNumber === undefined && !input.withParts) return info;
      // Part layouts are the catalog's (stores do not tell them), valid while the ETag is the one recorded.
      const known = info.partsCount === undefined ? undefined : await catalog.version(input.bucket, input.key, info.versionId ?? NULL_VERSION_ID);
      const parts = known?.etag === info.etag ? known.parts : undefined;
      if (input.partNumber !== undefined) {
        if (info.partsCount !== undefined && !parts) throw unknownPartLayout();
        info.partRange = partByteRange(
          info.size,
          parts?.map((part) => part.size),
          input.partNumber,
        );
      }
      if (input.withParts && parts) info.parts = parts;
      return info;
    },

    async deleteObject({ bucket, key, versionId, journal, signal }): Promise<DeleteObjectResult> {
      signal?.throwIfAborted();
      checkVersionId(versionId);
      const headers = await http.sendAndDiscard({ method: 'DELETE', bucket, key, query: versionQuery(versionId) });
      // The store's `x-amz-version-id`: the marker created, or (RGW) the version removed, absent when there was none.
      const storeVersionId = headerValue(headers, 'x-amz-version-id');
      const marker = headerValue(headers, 'x-amz-delete-marker') === 'true';
      if (versionId !== undefined) {
        const [wasMarker] = await catalog.recordDeletes(bucket, [{ key, versionId, removed: storeVersionId !== undefined, removedMarker: marker }], journal, true);
        // S3 names the version a delete by id addressed (existing or not), except in an Unversioned bucket.
        if ((await catalog.versioning(bucket)) === 'Unversioned') return {};
        return { versionId, ...(wasMarker ? { deleteMarker: true } : {}) };
      }
      const [recorded] = marker ? [{ key, markerVersionId: storeVersionId ?? NULL_VERSION_ID }] : await markersKept(bucket, [{ key }], signal);
      await catalog.recordDeletes(bucket, [recorded!], journal, true);
      return recorded!.markerVersionId === undefined ? {} : { versionId: recorded!.markerVersionId, deleteMarker: true };
    },

    async deleteObjects({ bucket, objects, journal, signal }): Promise<DeleteObjectsOutput> {
      signal?.throwIfAborted();
      const errors: DeleteObjectsOutput['errors'] = [];
      // Malformed version ids are answered here, per entry (RGW would report them deleted).
      const sent = objects.filter((object) => {
        if (object.versionId === undefined || object.versionId === NULL_VERSION_ID || VERSION_ID.test(object.versionId)) return true;
        errors.push({ key: object.key, versionId: object.versionId, code: 'InvalidArgument', message: 'Invalid version id specified' });
        return false;
      });
      if (sent.length === 0) {
        await headBucket(bucket);
        return { deleted: [], errors };
      }
      const body = Buffer.from(
        document(
          'Delete',
          text('Quiet', false),
          sent.map((object) => node('Object', text('Key', object.key), object.versionId !== undefined && text('VersionId', object.versionId))),
        ),
      );
      const response = await http
        .sendForText({
          method: 'POST',
          bucket,
          query: { delete: '' },
          body,
          headers: xmlHeaders(body),
        })
        .catch(bucketLevel);
      const result = parseResponse(response.text, 'DeleteResult');
      const requested = new Set(sent.filter((object) => object.versionId !== undefined).map((object) => `${object.versionId}/${object.key}`));
      const reported: RecordedDelete[] = arr(result.Deleted).map((entry) => {
        const key = str(entry.Key)!;
        const versionId = str(entry.VersionId);
        const marker = str(entry.DeleteMarker) === 'true';
        if (versionId !== undefined && requested.has(`${versionId}/${key}`)) return { key, versionId, removedMarker: marker };
        if (marker) return { key, markerVersionId: str(entry.DeleteMarkerVersionId) ?? NULL_VERSION_ID };
        return { key };
      });
      const recorded = await markersKept(bucket, reported, signal);
      const wasMarker = await catalog.recordDeletes(bucket, recorded, journal);
      const deleted = recorded.map((entry, index): DeletedObject => {
        if (entry.versionId !== undefined) {
          // S3 reports a marker removed by its id as a marker, DeleteMarkerVersionId naming it (RGW does not say).
          return wasMarker[index]
            ? { key: entry.key, versionId: entry.versionId, deleteMarker: true, deleteMarkerVersionId: entry.versionId }
            : { key: entry.key, versionId: entry.versionId };
        }
        if (entry.markerVersionId !== undefined) return { key: entry.key, deleteMarker: true, deleteMarkerVersionId: entry.markerVersionId };
        return { key: entry.key };
      });
      for (const entry of arr(result.Error)) {
        const versionId = str(entry.VersionId);
        errors.push({ key: str(entry.Key)!, ...(versionId !== undefined ? { versionId } : {}), code: str(entry.Code) ?? 'InternalError', message: str(entry.Message) ?? '' });
      }
      return { deleted, errors };
    },

    async getBucketVersioning(bucket, options): Promise<VersioningStatus> {
      options?.signal?.throwIfAborted();
      // Always the store's answer (it may have been changed there directly); the catalog's copy is refreshed.
      return fetchVersioning(bucket, options?.signal);
    },

    async putBucketVersioning(bucket, status, options): Promise<void> {
      options?.signal?.throwIfAborted();
      const body = Buffer.from(document('VersioningConfiguration', text('Status', status)));
      // Not cancelled half way: the catalog must learn the state the store took.
      await http
        .sendAndDiscard({
          method: 'PUT',
          bucket,
          query: { versioning: '' },
          body,
          headers: xmlHeaders(body),
        })
        .catch(bucketLevel);
      await catalog.setVersioning(bucket, status);
    },

    async listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsOutput> {
      const { bucket, prefix = '', delimiter } = input;
      if (input.versionIdMarker !== undefined && input.keyMarker === undefined) {
        throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', {
          details: { ArgumentName: 'version-id-marker', ArgumentValue: input.versionIdMarker },
        });
      }
      checkVersionId(input.versionIdMarker);
      if (input.maxKeys === 0) {
        await headBucket(bucket);
        return { entries: [], commonPrefixes: [], isTruncated: false };
      }
      const entries: ObjectVersionEntry[] = [];
      const commonPrefixes: string[] = [];
      let keyMarker = input.keyMarker;
      let versionIdMarker = input.versionIdMarker;
      let last: { key: string; versionId?: string } | undefined;
      let isTruncated = false;
      // As in listObjects: what the store repeats is dropped and the page refilled, and one entry
      // more than needed is asked for, so a leftover one says the listing is truncated.
      for (;;) {
        const wanted = input.maxKeys - entries.length - commonPrefixes.length;
        const response = await http
          .sendForText({
            method: 'GET',
            bucket,
            query: {
              versions: '',
              prefix,
              delimiter,
              'key-marker': keyMarker,
              'version-id-marker': versionIdMarker,
              'max-keys': String(Math.min(1000, wanted + 1)),
              'encoding-type': 'url',
            },
            signal: input.signal,
          })
          .catch(bucketLevel);
        const page = parseVersionListing(response.text);
        // Stable: a key's versions keep the store's order (newest first).
        const items: { key: string; entry?: (typeof page.entries)[number] }[] = [
          ...page.entries.map((entry) => ({ key: entry.key, entry })),
          ...page.commonPrefixes.map((key) => ({ key })),
        ];
        items.sort((a, b) => byteCompare(a.key, b.key));
        for (const item of items) {
          if (keyMarker !== undefined) {
            const order = byteCompare(item.key, keyMarker);
            if (item.entry) {
              // RGW lists the key-marker's own versions when no version-id-marker is given; S3 starts after them.
              if (order < 0 || (order === 0 && versionIdMarker === undefined)) continue;
            } else if (order <= 0 || keyMarker.startsWith(item.key)) {
              continue;
            }
          }
          if (entries.length + commonPrefixes.length >= input.maxKeys) {
            isTruncated = true;
            break;
          }
          if (item.entry) {
            const { entry } = item;
            entries.push({
              key: entry.key,
              versionId: entry.versionId,
              isLatest: entry.isLatest,
              lastModified: entry.lastModified,
              deleteMarker: entry.deleteMarker,
              size: entry.size,
              etag: entry.deleteMarker ? '' : quoted(entry.etag),
            });
            last = { key: entry.key, versionId: entry.versionId };
          } else {
            commonPrefixes.push(item.key);
            last = { key: item.key };
          }
        }
        if (isTruncated || !page.isTruncated || page.nextKeyMarker === undefined) break;
        keyMarker = page.nextKeyMarker;
        versionIdMarker = page.nextVersionIdMarker;
      }
      return {
        entries,
        commonPrefixes,
        isTruncated,
        ...(isTruncated && last ? { nextKeyMarker: last.key, ...(last.versionId !== undefined ? { nextVersionIdMarker: last.versionId } : {}) } : {}),
      };
    },

    async copyObject(input: CopyObjectInput): Promise<WriteResult> {
      checkVersionId(input.sourceVersionId);
      const sourceVersionId = input.sourceVersionId;
      if (input.sourceConditions) evaluateConditions(await copySourceInfo(input.sourceBucket, input.sourceKey, sourceVersionId), input.sourceConditions, { forCopySource: true });
      // RGW ignores the tagging directive (REPLACE drops the tags, COPY keeps the source's): tags
      // are set again after the copy.
      const tags =
        input.tags ??
        (input.metadataDirective === 'REPLACE' ? await backend.getObjectTagging({ bucket: input.sourceBucket, key: input.sourceKey, versionId: sourceVersionId }) : undefined);
      const admission = createAdmission(input.admit);
      if (input.admit) await admission.ensure(await objectChange(input.bucket, input.key, await sizeOfObject(input.sourceBucket, input.sourceKey, sourceVersionId)));
      // A store-side copy is not cancelled half way (the catalog must learn its outcome): checked before it starts.
      input.signal?.throwIfAborted();
      const response = await http
        .sendForText({
          method: 'PUT',
          bucket: input.bucket,
          key: input.key,
          headers: {
            'x-amz-copy-source': copySource(input.sourceBucket, input.sourceKey, sourceVersionId),
            'x-amz-metadata-directive': input.metadataDirective,
            ...(input.metadataDirective === 'REPLACE' ? metadataHeaders(input.metadata) : {}),
            ...(tags ? { 'x-amz-tagging-directive': 'REPLACE', 'x-amz-tagging': tagHeader(tags) ?? '' } : { 'x-amz-tagging-directive': 'COPY' }),
            ...conditionHeaders(input.sourceConditions, 'x-amz-copy-source-'),
          },
        })
        .catch(async (error: unknown) => {
          if (isS3Error(error, 'NoSuchBucket') || isS3Error(error, 'NoSuchKey')) {
            await headBucket(input.bucket);
            await headBucket(input.sourceBucket);
            if (sourceVersionId !== undefined) await copySourceInfo(input.sourceBucket, input.sourceKey, sourceVersionId);
          }
          throw error;
        });
      const result = parseResponse(response.text, 'CopyObjectResult');
      const etag = quoted(str(result.ETag));
      const source =
        sourceVersionId === undefined ? await catalog.object(input.sourceBucket, input.sourceKey) : await catalog.version(input.sourceBucket, input.sourceKey, sourceVersionId);
      const known = source && source.etag === etag ? source : undefined;
      // RGW sends no x-amz-version-id with a copy: in a versioned bucket the new version is the
      // key's latest, read back by a HEAD (a write of the key racing the copy could be seen instead).
      let versionId = await writtenVersionId(input.bucket, headerValue(response.headers, 'x-amz-version-id'));
      let size = known?.size;
      if (versionId === NULL_VERSION_ID ? (await catalog.versioning(input.bucket)) === 'Enabled' : size === undefined) {
        const written = await backend.headObject({ bucket: input.bucket, key: input.key });
        versionId = written.versionId;
        size ??= written.size;
      }
      if (tags && Object.keys(tags).length > 0) await backend.putObjectTagging({ bucket: input.bucket, key: input.key, versionId, tags });
      else if (input.tags) await backend.deleteObjectTagging({ bucket: input.bucket, key: input.key, versionId });
      const checksum = known?.checksum;
      // The content type is known without a HEAD only when the copy replaced the metadata.
      const contentType = input.metadataDirective === 'REPLACE' ? input.metadata?.contentType : undefined;
      const recorded = await catalog.recordObject(input.bucket, input.key, versionId, size!, etag, checksum, input.journal, contentType);
      await admission.settle(recorded, () => removeObject(input.bucket, input.key, versionId));
      return {
        etag,
        size: size!,
        lastModified: new Date(str(result.LastModified) ?? Date.now()),
        ...(checksum ? { checksum } : {}),
        ...(versionId !== undefined ? { versionId } : {}),
      };
    },

    async listObjects(input: ListObjectsInput): Promise<ListObjectsOutput> {
      const { bucket, prefix = '', delimiter, startAfter } = input;
      if (input.maxKeys === 0) {
        // S3 answers an empty, untruncated page; the HEAD keeps NoSuchBucket for a missing bucket.
        await headBucket(bucket);
        return { contents: [], commonPrefixes: [], isTruncated: false };
      }
      const contents: ListObjectsOutput['contents'] = [];
      const commonPrefixes: string[] = [];
      let marker = startAfter;
      let isTruncated = false;
      // A common prefix the caller has already seen (startAfter inside or at it) is dropped, and
      // the page is refilled from the backend: S3 stores differ on whether they repeat it. One
      // entry more than needed is asked for: if it is left over, the listing is truncated, with
      // no second request to find out.
      for (;;) {
        const wanted = input.maxKeys - contents.length - commonPrefixes.length;
        const response = await http
          .sendForText({ method: 'GET', bucket, query: { prefix, delimiter, marker, 'max-keys': String(wanted + 1), 'encoding-type': 'url' }, signal: input.signal })
          .catch(bucketLevel);
        const result = parseResponse(response.text, 'ListBucketResult');
        const urlEncoded = str(result.EncodingType) === 'url';
        const page: { key: string; summary?: ListObjectsOutput['contents'][number] }[] = [];
        for (const entry of arr(result.Contents)) {
          const key = decodeKey(str(entry.Key), urlEncoded)!;
          page.push({ key, summary: { key, size: Number(str(entry.Size) ?? 0), etag: str(entry.ETag) ?? '""', lastModified: new Date(str(entry.LastModified) ?? 0) } });
        }
        for (const entry of arr(result.CommonPrefixes)) page.push({ key: decodeKey(str(entry.Prefix), urlEncoded)! });
        page.sort((a, b) => byteCompare(a.key, b.key));
        for (const entry of page) {
          if (entry.summary) {
            if (startAfter !== undefined && byteCompare(entry.key, startAfter) <= 0) continue;
          } else if (startAfter !== undefined && (byteCompare(entry.key, startAfter) <= 0 || startAfter.startsWith(entry.key))) {
            continue;
          }
          // Entries after the last one returned are never filtered out: one more means more follow.
          if (contents.length + commonPrefixes.length >= input.maxKeys) {
            isTruncated = true;
            break;
          }
          if (entry.summary) contents.push(entry.summary);
          else commonPrefixes.push(entry.key);
        }
        const last = page[page.length - 1]?.key;
        if (isTruncated || str(result.IsTruncated) !== 'true' || last === undefined) break;
        marker = decodeKey(str(result.NextMarker), urlEncoded) ?? last;
      }
      const returned = [...contents.map((entry) => entry.key), ...commonPrefixes].sort(byteCompare);
      return { contents, commonPrefixes, isTruncated, ...(isTruncated ? { nextMarker: returned[returned.length - 1] } : {}) };
    },

    async getObjectTagging({ bucket, key, versionId, signal }) {
      signal?.throwIfAborted();
      checkVersionId(versionId);
      const response = await http
        .sendForText({ method: 'GET', bucket, key, query: { tagging: '', versionId } })
        .catch((error: unknown) => (versionId === undefined ? rethrow(error) : explainMissing(error, bucket, key, versionId, 'GET', signal)));
      // RGW answers an untagged object with an empty body.
      if (response.text.trim() === '') return {};
      const result = parseResponse(response.text, 'Tagging');
      const tagSet = (result.TagSet ?? {}) as Record<string, unknown>;
      return Object.fromEntries(arr(tagSet.Tag).map((tag) => [str(tag.Key) ?? '', str(tag.Value) ?? '']));
    },

    async putObjectTagging({ bucket, key, versionId, tags, journal, signal }) {
      signal?.throwIfAborted();
      checkVersionId(versionId);
      const body = Buffer.from(
        document(
          'Tagging',
          node(
            'TagSet',
            Object.entries(tags).map(([name, value]) => node('Tag', text('Key', name), text('Value', value))),
          ),
        ),
      );
      await http
        .sendAndDiscard({
          method: 'PUT',
          bucket,
          key,
          query: { tagging: '', versionId },
          body,
          headers: xmlHeaders(body),
        })
        .catch((error: unknown) => (versionId === undefined ? rethrow(error) : explainMissing(error, bucket, key, versionId, 'PUT', signal)));
      if (journal) await catalog.journalChange(journal, { bucket, key, replaced: true, ...(versionId !== undefined ? { versionId } : {}) });
    },

    async deleteObjectTagging({ bucket, key, versionId, journal, signal }) {
      signal?.throwIfAborted();
      checkVersionId(versionId);
      await http
        .sendAndDiscard({ method: 'DELETE', bucket, key, query: { tagging: '', versionId } })
        .catch((error: unknown) => (versionId === undefined ? rethrow(error) : explainMissing(error, bucket, key, versionId, 'DELETE', signal)));
      if (journal) await catalog.journalChange(journal, { bucket, key, replaced: true, ...(versionId !== undefined ? { versionId } : {}) });
    },

    async createMultipartUpload(input: CreateMultipartUploadInput) {
      input.signal?.throwIfAborted();
      const response = await http
        .sendForText({
          method: 'POST',
          bucket: input.bucket,
          key: input.key,
          query: { uploads: '' },
          headers: { ...metadataHeaders(input.metadata), 'x-amz-tagging': tagHeader(input.tags) },
        })
        .catch(bucketLevel);
      const uploadId = str(parseResponse(response.text, 'InitiateMultipartUploadResult').UploadId);
      if (!uploadId) throw new S3Error('InternalError', 'The storage backend returned no upload id.');
      await catalog.recordUpload(uploadId, input.bucket, input.checksumAlgorithm, input.tags);
      return { uploadId };
    },

    async uploadPart(input: UploadPartInput): Promise<PartWriteResult> {
      checkPartNumber(input.partNumber);
      const admission = createAdmission(input.admit);
      return withKnownLength(input.body, input.size, async (spooledOrStreamed, size) => {
        const body = await admission.beforeLastChunk(spooledOrStreamed, size, () => partChange(input.uploadId, input.partNumber, size));
        const headers = await http
          .sendAndDiscard({
            method: 'PUT',
            bucket: input.bucket,
            key: input.key,
            query: { partNumber: String(input.partNumber), uploadId: input.uploadId },
            body,
            bodyLength: size,
            headers: { 'content-md5': input.contentMd5 },
            signal: whileStreaming(input.signal, body),
          })
          .catch(admission.abandon)
          .catch(uploadLevel);
        const etag = headerValue(headers, 'etag') ?? '""';
        // The body has been consumed: its producer has verified it (see UploadChecksum).
        const checksum = await settledChecksum(input.checksum);
        const recorded = await catalog.recordPart(input.uploadId, input.bucket, input.partNumber, size, etag, checksum?.value);
        await admission.settle(recorded, () => emptyPart(input));
        return { etag, size, ...(checksum ? { checksum } : {}) };
      });
    },

    async uploadPartCopy(input: UploadPartCopyInput) {
      input.signal?.throwIfAborted();
      checkPartNumber(input.partNumber);
      if (input.sourceConditions)
        evaluateConditions(await backend.headObject({ bucket: input.sourceBucket, key: input.sourceKey }), input.sourceConditions, { forCopySource: true });
      const admission = createAdmission(input.admit);
      if (input.admit) {
        const copied = input.sourceRange ? input.sourceRange.end - input.sourceRange.start + 1 : await sizeOfObject(input.sourceBucket, input.sourceKey);
        await admission.ensure(await partChange(input.uploadId, input.partNumber, copied));
      }
      const response = await http.sendForText({
        method: 'PUT',
        bucket: input.bucket,
        key: input.key,
        query: { partNumber: String(input.partNumber), uploadId: input.uploadId },
        headers: {
          'x-amz-copy-source': copySource(input.sourceBucket, input.sourceKey),
          'x-amz-copy-source-range': input.sourceRange ? `bytes=${input.sourceRange.start}-${input.sourceRange.end}` : undefined,
          ...conditionHeaders(input.sourceConditions, 'x-amz-copy-source-'),
        },
      });
      const result = parseResponse(response.text, 'CopyPartResult');
      const etag = quoted(str(result.ETag));
      const size = input.sourceRange
        ? input.sourceRange.end - input.sourceRange.start + 1
        : ((await catalog.object(input.sourceBucket, input.sourceKey))?.size ?? (await backend.headObject({ bucket: input.sourceBucket, key: input.sourceKey })).size);
      const recorded = await catalog.recordPart(input.uploadId, input.bucket, input.partNumber, size, etag, undefined);
      await admission.settle(recorded, () => emptyPart(input));
      return { etag, size, lastModified: new Date(str(result.LastModified) ?? Date.now()) };
    },

    async completeMultipartUpload(input: CompleteMultipartUploadInput): Promise<WriteResult> {
      // A retry of a completion that already happened answers as it did (same part list); the store forgot the upload.
      const remembered = await catalog.completion(input.uploadId, input.bucket, input.key);
      if (remembered !== undefined) {
        const replayed = replayCompletion(remembered, input.parts);
        if (replayed) return replayed;
        throw new S3Error('NoSuchUpload', undefined, { details: { UploadId: input.uploadId } });
      }
      const stored = await allParts(input.bucket, input.key, input.uploadId);
      // Conditions before the part list, as S3 orders them; decided for good under the key claim below.
      const claim = input.conditions && keyClaim(input.bucket, input.key, input.conditions);
      await claim?.check();
      // Checked here, in S3's order, before the store is asked: stores order the checks differently.
      const used = validateCompletion(input.parts, stored.parts);
      // The stored ETags (the client's may differ in quotes or case), in the requested order.
      const body = Buffer.from(
        document(
          'CompleteMultipartUpload',
          used.map((part) => node('Part', text('PartNumber', part.partNumber), text('ETag', quoted(part.etag)))),
        ),
      );
      const tags = (await catalog.upload(input.uploadId))?.tags;
      const admission = createAdmission(input.admit);
      if (input.admit) {
        const size = used.reduce((sum, part) => sum + part.size, 0);
        const change = await objectChange(input.bucket, input.key, size);
        await admission.ensure({ bytes: change.bytes - (await catalog.partsTotal(input.uploadId)), objects: change.objects });
      }
      // A conditional completion holds the key from here until the catalog recorded the object: of
      // racing conditional writes of the key one completes, the others fail (412, or 409 meanwhile)
      // and their uploads stay in progress.
      await claim?.take();
      try {
        // The store-side completion is not cancelled half way (the catalog must learn its outcome): checked before it starts.
        input.signal?.throwIfAborted();
        const response = await http
          .sendForText({
            method: 'POST',
            bucket: input.bucket,
            key: input.key,
            query: { uploadId: input.uploadId },
            body,
            headers: { 'content-type': 'application/xml', ...storeConditionHeaders(input.conditions) },
          })
          .catch(uploadLevel)
          .catch(input.conditions ? storeRefusal(input.conditions) : rethrow);
        parseResponse(response.text, 'CompleteMultipartUploadResult');
        // The version the completion created, when the store names it (RGW does); a HEAD of the key otherwise.
        const storeVersionId = headerValue(response.headers, 'x-amz-version-id');
        const createdVersion = storeVersionId === undefined || storeVersionId === NULL_VERSION_ID ? undefined : storeVersionId;
        if (tags) await backend.putObjectTagging({ bucket: input.bucket, key: input.key, versionId: createdVersion, tags: JSON.parse(tags) as Record<string, string> });
        // The result's ETag is not reliable everywhere (RGW Pacific leaves it empty); HEAD is.
        const written = await backend.headObject({ bucket: input.bucket, key: input.key, versionId: createdVersion });
        const versionId = await writtenVersionId(input.bucket, createdVersion ?? written.versionId);
        const algorithm = stored.checksumAlgorithm;
        const checksum = completedChecksum(algorithm, used);
        const answer: WriteResult = {
          etag: written.etag,
          size: written.size,
          lastModified: written.lastModified,
          ...(checksum ? { checksum } : {}),
          ...(versionId !== undefined ? { versionId } : {}),
        };
        const completed = {
          parts: used.map((part) => (part.checksum ? { partNumber: part.partNumber, size: part.size, checksum: part.checksum } : { partNumber: part.partNumber, size: part.size })),
          completion: encodeCompletion(input.parts, answer),
        };
        const recorded = await catalog.completeUpload(
          input.uploadId,
          input.bucket,
          input.key,
          versionId,
          written.size,
          written.etag,
          checksum,
          input.journal,
          written.contentType,
          completed,
        );
        await claim?.release();
        await admission.settle(recorded, () => removeObject(input.bucket, input.key, versionId));
        return answer;
      } finally {
        await claim?.release();
      }
    },

    async abortMultipartUpload({ bucket, key, uploadId, signal }) {
      signal?.throwIfAborted();
      await http.sendAndDiscard({ method: 'DELETE', bucket, key, query: { uploadId } }).catch(uploadLevel);
      await catalog.abortUpload(uploadId, bucket);
    },

    async listParts(input: ListPartsInput): Promise<ListPartsOutput> {
      input.signal?.throwIfAborted();
      const response = await http
        .sendForText({
          method: 'GET',
          bucket: input.bucket,
          key: input.key,
          query: {
            uploadId: input.uploadId,
            'max-parts': String(input.maxParts),
            'part-number-marker': input.partNumberMarker === undefined ? undefined : String(input.partNumberMarker),
          },
        })
        .catch(uploadLevel);
      const result = parseResponse(response.text, 'ListPartsResult');
      const recorded = new Map((await catalog.parts(input.uploadId)).map((part) => [part.part_number, part]));
      const upload = await catalog.upload(input.uploadId);
      const parts = arr(result.Part).map((part) => {
        const partNumber = Number(str(part.PartNumber));
        const etag = str(part.ETag) ?? '""';
        const known = recorded.get(partNumber);
        const checksumValue = known && known.etag === etag ? known.checksum_value : undefined;
        return {
          partNumber,
          etag,
          size: Number(str(part.Size) ?? 0),
          lastModified: new Date(str(part.LastModified) ?? 0),
          ...(checksumValue && upload?.checksum_algorithm
            ? { checksum: { algorithm: upload.checksum_algorithm as ChecksumAlgorithm, value: checksumValue, type: 'FULL_OBJECT' as const } }
            : {}),
        };
      });
      const isTruncated = str(result.IsTruncated) === 'true';
      const next = str(result.NextPartNumberMarker);
      return {
        parts,
        isTruncated,
        ...(isTruncated && next ? { nextPartNumberMarker: Number(next) } : {}),
        ...(upload?.checksum_algorithm ? { checksumAlgorithm: upload.checksum_algorithm as ChecksumAlgorithm } : {}),
        initiated: new Date(str(result.Initiated) ?? (await catalog.uploadInitiated(input.uploadId)) ?? 0),
      };
    },

    async listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsOutput> {
      input.signal?.throwIfAborted();
      // Delimiters and markers are applied here, over the backend's plain listing under the
      // prefix: stores disagree on them (RGW Pacific ignores the delimiter), and uploads in
      // progress are few.
      const all = await allUploads(input.bucket, input.prefix ?? '');
      return pageOfUploads(all, input);
    },

    async health() {
      try {
        await http.sendAndDiscard({ method: 'GET' });
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    },

    async close() {
      await http.close();
      await catalog.close();
    },
  };

  /**
   * The caller's signal for an upload to the store, in force only while the body is still being
   * sent: cancelling then fails the request before the store has the whole body, so it stores
   * nothing. Once the body has been sent the store may already have committed, and the catalog
   * must learn the outcome: the request is then left to finish.
   */
  function whileStreaming(signal: AbortSignal | undefined, body: Readable): AbortSignal | undefined {
    if (!signal) return undefined;
    if (signal.aborted) return signal;
    const upstream = new AbortController();
    const onAbort = () => {
      if (!body.readableEnded) upstream.abort(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const detach = () => signal.removeEventListener('abort', onAbort);
    body.once('end', detach);
    body.once('close', detach);
    return upstream.signal;
  }

  /**
   * How long a key claim of a conditional write lives at most. A claim is held for the store
   * round trips that commit the write (each bounded by BACKEND_TIMEOUT_MS) and released as soon as
   * the catalog recorded the result or the write failed; the expiry only frees the key of a
   * process that died holding it (its conditional writers get 409 until then, and may retry).
   */
  const claimTtlMs = Math.max(30_000, 6 * options.timeoutMs);

  /**
   * A conditional write's hold on its key (s3-catalog.ts `claimKey`): `check()` evaluates the
   * conditions early (no claim), `take()` claims the key atomically with the evaluation, `release()`
   * gives it back (idempotent). For a bucket the catalog does not track, the object is what a HEAD
   * of the store finds.
   */
  function keyClaim(bucket: string, key: string, conditions: WriteConditions) {
    let id: string | undefined;
    const current = async (): Promise<{ etag: string } | null | undefined> => {
      if (await catalog.usage(bucket)) return undefined;
      return backend.headObject({ bucket, key }).catch((error: unknown) => {
        if (isS3Error(error, 'NoSuchKey')) return null;
        throw error;
      });
    };
    return {
      async check(): Promise<void> {
        const headed = await current();
        checkWriteConditions(headed === undefined ? await catalog.object(bucket, key) : (headed ?? undefined), conditions, key);
      },
      take: async (): Promise<void> => {
        const headed = await current();
        id = await catalog.claimKey(bucket, key, conditions, Date.now(), claimTtlMs, headed);
      },
      release: async (): Promise<void> => {
        if (id === undefined) return;
        const held = id;
        id = undefined;
        // A release that fails (the catalog's database unreachable) leaves the claim to lapse at
        // its expiry: the write itself is done, and the release must not turn it into an error.
        await catalog.releaseClaim(bucket, key, held).catch(ignoreError);
      },
    };
  }

  /**
   * `?partNumber=`: the part's bytes as a range of the object, by the layout the catalog recorded
   * at completion. A write between the layout read and the GET (another ETag) reads them again.
   */
  async function getPart(input: GetObjectInput, partNumber: number): Promise<GetObjectOutput> {
    for (let attempt = 1; ; attempt++) {
      const layout = await partLayout(input);
      const range = partByteRange(layout.size, layout.partSizes, partNumber);
      let output: GetObjectOutput;
      if (range.end < range.start) {
        // An empty part: no bytes to fetch, only the description.
        const info = await backend.headObject({ signal: input.signal, bucket: input.bucket, key: input.key, versionId: input.versionId, conditions: input.conditions });
        output = { info, body: Readable.from([]), bytes: Buffer.alloc(0), range };
      } else {
        output = await backend.getObject({ ...input, partNumber: undefined, range: { kind: 'from', start: range.start, end: range.end } });
      }
      if (output.info.etag === layout.etag) return output;
      output.body.destroy();
      if (attempt >= 3) throw new S3Error('ServiceUnavailable', 'The object kept changing while its part was read. Retry.', { headers: { 'Retry-After': '1' } });
    }
  }

  /** Size, ETag and part sizes (undefined: not multipart) of the object as the catalog knows it, else as a HEAD shows it. */
  async function partLayout(input: GetObjectInput): Promise<{ etag: string; size: number; partSizes?: number[] }> {
    const known = input.versionId === undefined ? await catalog.object(input.bucket, input.key) : await catalog.version(input.bucket, input.key, input.versionId);
    if (known && !known.deleteMarker && (known.parts || multipartPartsOf(known.etag) === undefined))
      return { etag: known.etag, size: known.size, partSizes: known.parts?.map((part) => part.size) };
    const info = await backend.headObject({ signal: input.signal, bucket: input.bucket, key: input.key, versionId: input.versionId, conditions: input.conditions });
    if (info.partsCount !== undefined) throw unknownPartLayout();
    return { etag: info.etag, size: info.size };
  }

  /**
   * The usage change of writing `size` bytes to `key`, as the catalog stands now: a new version in
   * an Enabled bucket replaces nothing; otherwise the write replaces the null version.
   */
  async function objectChange(bucket: string, key: string, size: number): Promise<UsageChange> {
    const previous = await catalog.replaceable(bucket, key);
    return { bytes: size - (previous?.size ?? 0), objects: previous ? 0 : 1 };
  }

  async function partChange(uploadId: string, partNumber: number, size: number): Promise<UsageChange> {
    return { bytes: size - ((await catalog.partSize(uploadId, partNumber)) ?? 0), objects: 0 };
  }

  async function sizeOfObject(bucket: string, key: string, versionId?: string): Promise<number> {
    const known = versionId === undefined ? await catalog.object(bucket, key) : await catalog.version(bucket, key, versionId);
    return known && !known.deleteMarker ? known.size : (await copySourceInfo(bucket, key, versionId)).size;
  }

  /**
   * A copy source's description. A delete marker named by its id is InvalidRequest for a copy
   * (S3), not the MethodNotAllowed of a read.
   */
  async function copySourceInfo(bucket: string, key: string, versionId: string | undefined): Promise<ObjectInfo> {
    return backend.headObject({ bucket, key, versionId }).catch((error: unknown) => {
      if (isS3Error(error, 'MethodNotAllowed')) throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
      throw error;
    });
  }

  /** Undoes an admitted-after-the-fact write that was refused: the new object (the version it made) goes. */
  async function removeObject(bucket: string, key: string, versionId: string | undefined): Promise<void> {
    await backend.deleteObject({ bucket, key, versionId });
  }

  /** Undoes a refused part: parts cannot be deleted, so the part number is replaced by an empty part. */
  async function emptyPart(input: { bucket: string; key: string; uploadId: string; partNumber: number }): Promise<void> {
    const headers = await http.sendAndDiscard({
      method: 'PUT',
      bucket: input.bucket,
      key: input.key,
      query: { partNumber: String(input.partNumber), uploadId: input.uploadId },
      body: Buffer.alloc(0),
    });
    await catalog.recordPart(input.uploadId, input.bucket, input.partNumber, 0, headerValue(headers, 'etag') ?? '""', undefined);
  }

  async function allParts(bucket: string, key: string, uploadId: string) {
    const parts: ListPartsOutput['parts'] = [];
    let partNumberMarker: number | undefined;
    for (;;) {
      const page = await backend.listParts({ bucket, key, uploadId, maxParts: 1000, partNumberMarker });
      parts.push(...page.parts);
      if (!page.isTruncated || page.nextPartNumberMarker === undefined) return { parts, checksumAlgorithm: page.checksumAlgorithm };
      partNumberMarker = page.nextPartNumberMarker;
    }
  }

  async function allUploads(bucket: string, prefix: string): Promise<ListMultipartUploadsOutput['uploads']> {
    const uploads: ListMultipartUploadsOutput['uploads'] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const response = await http
        .sendForText({
          method: 'GET',
          bucket,
          query: { uploads: '', prefix: prefix || undefined, 'key-marker': keyMarker, 'upload-id-marker': uploadIdMarker, 'max-uploads': '1000' },
        })
        .catch(bucketLevel);
      const result = parseResponse(response.text, 'ListMultipartUploadsResult');
      const urlEncoded = str(result.EncodingType) === 'url';
      for (const upload of arr(result.Upload)) {
        uploads.push({ key: decodeKey(str(upload.Key), urlEncoded)!, uploadId: str(upload.UploadId)!, initiated: new Date(str(upload.Initiated) ?? 0) });
      }
      if (str(result.IsTruncated) !== 'true' || uploads.length === 0) break;
      keyMarker = uploads[uploads.length - 1]!.key;
      uploadIdMarker = uploads[uploads.length - 1]!.uploadId;
    }
    // Stable: uploads of one key keep the backend's order (by initiation).
    return sortUploads(uploads);
  }

  return backend;
}
