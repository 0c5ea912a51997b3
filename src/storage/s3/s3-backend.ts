import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { document, node, text } from '../../s3-protocol/xml.ts';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import { bareEtag, checkWriteConditions, evaluateConditions } from '../conditions.ts';
import { countObjects } from '../count-objects.ts';
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
  DeleteObjectsOutput,
  GetObjectInput,
  GetObjectOutput,
  HeadObjectInput,
  ListMultipartUploadsInput,
  ListMultipartUploadsOutput,
  ListObjectsInput,
  ListObjectsOutput,
  ListPartsInput,
  ListPartsOutput,
  ObjectInfo,
  ObjectMetadata,
  PartWriteResult,
  PutObjectInput,
  StorageBackend,
  UploadPartCopyInput,
  UploadPartInput,
  UsageChange,
  WriteConditions,
  WriteResult,
} from '../storage-backend.ts';
import { settledChecksum, type ListObjectVersionsOutput, type VersioningStatus } from '../storage-backend.ts';
import { partByteRange } from '../part-number.ts';
import { encodeCompletion, replayCompletion } from '../completed-uploads.ts';
import { openS3Catalog, type S3Catalog } from './s3-catalog.ts';
import { copySourceHeader as copySource, createS3Http, headerValue, type S3Http, type S3HttpOptions, type S3HttpResponse } from './s3-http.ts';
import { arr, parseResponse, str } from './s3-xml.ts';

export interface S3BackendOptions extends Omit<S3HttpOptions, 'maxConnections' | 'now'> {
  maxConnections?: number;
  /** Local state: the catalog database and spool files for bodies of unknown length. */
  stateDir: string;
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
    async beforeLastChunk(body: Readable, size: number, measure: () => UsageChange): Promise<Readable> {
      if (!admit) return body;
      if (size === 0) {
        await ensure(measure());
        return body;
      }
      return holdLastChunk(body, () => ensure(measure()), isAbandoned);
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
 * The S3 proxy backend: every account bucket is one bucket of a remote S3 store (MinIO, Ceph
 * RGW, Garage, AWS S3), and every call becomes one or a few re-signed requests to it, with
 * bodies streamed through. What stores differ on or lack (additional checksums, exact usage
 * for quotas) lives in a local catalog (s3-catalog.ts).
 */
export async function createS3Backend(options: S3BackendOptions): Promise<StorageBackend & { catalog: S3Catalog }> {
  await mkdir(join(options.stateDir, 'spool'), { recursive: true });
  const catalog = openS3Catalog(join(options.stateDir, 'catalog.sqlite'));
  const http: S3Http = createS3Http({ ...options, maxConnections: options.maxConnections ?? 128 });

  function objectInfo(key: string, bucket: string, headers: Headers, statusCode: number): { info: ObjectInfo; range?: { start: number; end: number } } {
    const etag = headerValue(headers, 'etag') ?? '""';
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
    const checksum = catalog.checksumFor(bucket, key, etag);
    if (checksum) info.checksum = checksum;
    const parts = multipartPartsOf(etag);
    if (parts !== undefined) info.partsCount = parts;
    return { info, range };
  }

  /** Streams a body of unknown length to a spool file first: S3 stores need Content-Length up front. */
  async function withKnownLength<T>(body: Readable, size: number | undefined, send: (body: Readable, size: number) => Promise<T>): Promise<T> {
    if (size !== undefined) return send(body, size);
    const path = join(options.stateDir, 'spool', randomBytes(12).toString('hex'));
    try {
      await pipeline(body, createWriteStream(path));
      const { size: spooled } = await stat(path);
      return await send(createReadStream(path), spooled);
    } finally {
      await rm(path, { force: true });
    }
  }

  async function headBucket(bucket: string): Promise<void> {
    await http.sendAndDiscard({ method: 'HEAD', bucket }).catch(bucketLevel);
  }

  /** Usage, sizes and uploads as the catalog recorded them; its journal. */
  const local: BackendLocalState = {
    storedSize(bucket: string, key: string): number | undefined {
      // Only for buckets the catalog tracks; others fall back to a HEAD.
      if (!catalog.usage(bucket)) return undefined;
      return catalog.object(bucket, key)?.size ?? 0;
    },

    correctUsage(bucket: string, usage: BucketUsage): void {
      catalog.setUsage(bucket, usage);
    },

    async countUploads(bucket: string): Promise<number> {
      return catalog.countUploads(bucket);
    },

    async usage(bucket: string): Promise<BucketUsage> {
      const recorded = catalog.usage(bucket);
      if (recorded) return recorded;
      // A bucket the catalog has never seen (created before it, or by another tool): count it once.
      await headBucket(bucket);
      const counted = { ...(await countObjects(backend, bucket)), multipartBytes: 0 };
      catalog.setUsage(bucket, counted);
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
      catalog.setUsage(bucket, { bytes: 0, objects: 0, multipartBytes: 0 });
    },

    async deleteBucket(bucket, options) {
      options?.signal?.throwIfAborted();
      const listing = await backend.listObjects({ bucket, maxKeys: 1 });
      if (listing.contents.length > 0 || listing.commonPrefixes.length > 0) throw new S3Error('BucketNotEmpty');
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
      catalog.dropBucket(bucket);
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
        const recorded = catalog.recordObject(input.bucket, input.key, size, etag, checksum, input.journal, input.metadata.contentType);
        claim?.release();
        await admission.settle(recorded, () => removeObject(input.bucket, input.key));
        const lastModified = new Date(headerValue(headers, 'last-modified') ?? headerValue(headers, 'date') ?? Date.now());
        return { etag, size, lastModified, ...(checksum ? { checksum } : {}) };
      });
      return claim ? written.finally(claim.release) : written;
    },

    async getObject(input: GetObjectInput): Promise<GetObjectOutput> {
      if (input.partNumber !== undefined) return getPart(input, input.partNumber);
      // Cancelling closes the upstream request, or destroys the body while it streams.
      const response = await http.send({
        method: 'GET',
        signal: input.signal,
        bucket: input.bucket,
        key: input.key,
        headers: { range: rangeHeader(input.range), ...conditionHeaders(input.conditions) },
      });
      const { info, range } = objectInfo(input.key, input.bucket, response.headers, response.statusCode);
      try {
        evaluateConditions(info, input.conditions);
      } catch (error) {
        response.body.destroy();
        throw error;
      }
      return { info, body: response.body, ...(range ? { range } : {}) };
    },

    async headObject(input: HeadObjectInput): Promise<ObjectInfo> {
      const headers = await http
        .sendAndDiscard({ method: 'HEAD', bucket: input.bucket, key: input.key, headers: conditionHeaders(input.conditions), signal: input.signal })
        .catch(async (error: unknown) => {
          // HEAD has no body to tell a missing key from a missing bucket.
          if (isS3Error(error, 'NoSuchKey')) await headBucket(input.bucket);
          throw error;
        });
      const { info } = objectInfo(input.key, input.bucket, headers, 200);
      evaluateConditions(info, input.conditions);
      if (input.partNumber === undefined && !input.withParts) return info;
      // Part layouts are the catalog's (stores do not tell them), valid while the ETag is the one recorded.
      const known = info.partsCount === undefined ? undefined : catalog.object(input.bucket, input.key);
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

    async deleteObject({ bucket, key, journal, signal }) {
      signal?.throwIfAborted();
      await http.sendAndDiscard({ method: 'DELETE', bucket, key });
      catalog.forgetObjects(bucket, [key], journal, true);
      return {};
    },

    async deleteObjects({ bucket, objects, journal, signal }): Promise<DeleteObjectsOutput> {
      signal?.throwIfAborted();
      const keys = objects.map((o) => o.key);
      const body = Buffer.from(
        document(
          'Delete',
          text('Quiet', false),
          keys.map((key) => node('Object', text('Key', key))),
        ),
      );
      const response = await http
        .sendForText({
          method: 'POST',
          bucket,
          query: { delete: '' },
          body,
          headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' },
        })
        .catch(bucketLevel);
      const result = parseResponse(response.text, 'DeleteResult');
      const deleted = arr(result.Deleted).map((entry) => str(entry.Key)!);
      const errors = arr(result.Error).map((entry) => ({ key: str(entry.Key)!, code: str(entry.Code) ?? 'InternalError', message: str(entry.Message) ?? '' }));
      catalog.forgetObjects(bucket, deleted, journal);
      return { deleted: deleted.map((key) => ({ key })), errors };
    },

    async getBucketVersioning(): Promise<VersioningStatus> {
      return 'Unversioned';
    },

    async putBucketVersioning(): Promise<void> {
      throw new S3Error('NotImplemented');
    },

    async listObjectVersions(): Promise<ListObjectVersionsOutput> {
      throw new S3Error('NotImplemented');
    },

    async copyObject(input: CopyObjectInput): Promise<WriteResult> {
      if (input.sourceConditions)
        evaluateConditions(await backend.headObject({ bucket: input.sourceBucket, key: input.sourceKey }), input.sourceConditions, { forCopySource: true });
      // RGW ignores the tagging directive (REPLACE drops the tags, COPY keeps the source's): tags
      // are set again after the copy.
      const tags = input.tags ?? (input.metadataDirective === 'REPLACE' ? await backend.getObjectTagging({ bucket: input.sourceBucket, key: input.sourceKey }) : undefined);
      const admission = createAdmission(input.admit);
      if (input.admit) await admission.ensure(objectChange(input.bucket, input.key, await sizeOfObject(input.sourceBucket, input.sourceKey)));
      // A store-side copy is not cancelled half way (the catalog must learn its outcome): checked before it starts.
      input.signal?.throwIfAborted();
      const response = await http
        .sendForText({
          method: 'PUT',
          bucket: input.bucket,
          key: input.key,
          headers: {
            'x-amz-copy-source': copySource(input.sourceBucket, input.sourceKey),
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
          }
          throw error;
        });
      const result = parseResponse(response.text, 'CopyObjectResult');
      const etag = quoted(str(result.ETag));
      if (tags && Object.keys(tags).length > 0) await backend.putObjectTagging({ bucket: input.bucket, key: input.key, tags });
      else if (input.tags) await backend.deleteObjectTagging({ bucket: input.bucket, key: input.key });
      const source = catalog.object(input.sourceBucket, input.sourceKey);
      const known = source && source.etag === etag ? source : undefined;
      const size = known?.size ?? (await backend.headObject({ bucket: input.bucket, key: input.key })).size;
      const checksum = known?.checksum;
      // The content type is known without a HEAD only when the copy replaced the metadata.
      const contentType = input.metadataDirective === 'REPLACE' ? input.metadata?.contentType : undefined;
      const recorded = catalog.recordObject(input.bucket, input.key, size, etag, checksum, input.journal, contentType);
      await admission.settle(recorded, () => removeObject(input.bucket, input.key));
      return { etag, size, lastModified: new Date(str(result.LastModified) ?? Date.now()), ...(checksum ? { checksum } : {}) };
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

    async getObjectTagging({ bucket, key, signal }) {
      signal?.throwIfAborted();
      const response = await http.sendForText({ method: 'GET', bucket, key, query: { tagging: '' } });
      // RGW answers an untagged object with an empty body.
      if (response.text.trim() === '') return {};
      const result = parseResponse(response.text, 'Tagging');
      const tagSet = (result.TagSet ?? {}) as Record<string, unknown>;
      return Object.fromEntries(arr(tagSet.Tag).map((tag) => [str(tag.Key) ?? '', str(tag.Value) ?? '']));
    },

    async putObjectTagging({ bucket, key, tags, journal, signal }) {
      signal?.throwIfAborted();
      const body = Buffer.from(
        document(
          'Tagging',
          node(
            'TagSet',
            Object.entries(tags).map(([name, value]) => node('Tag', text('Key', name), text('Value', value))),
          ),
        ),
      );
      await http.sendAndDiscard({
        method: 'PUT',
        bucket,
        key,
        query: { tagging: '' },
        body,
        headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' },
      });
      if (journal) catalog.journalChange(journal, { bucket, key, replaced: true });
    },

    async deleteObjectTagging({ bucket, key, journal, signal }) {
      signal?.throwIfAborted();
      await http.sendAndDiscard({ method: 'DELETE', bucket, key, query: { tagging: '' } });
      if (journal) catalog.journalChange(journal, { bucket, key, replaced: true });
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
      catalog.recordUpload(uploadId, input.bucket, input.checksumAlgorithm, input.tags);
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
        const recorded = catalog.recordPart(input.uploadId, input.bucket, input.partNumber, size, etag, checksum?.value);
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
        await admission.ensure(partChange(input.uploadId, input.partNumber, copied));
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
        : (catalog.object(input.sourceBucket, input.sourceKey)?.size ?? (await backend.headObject({ bucket: input.sourceBucket, key: input.sourceKey })).size);
      const recorded = catalog.recordPart(input.uploadId, input.bucket, input.partNumber, size, etag, undefined);
      await admission.settle(recorded, () => emptyPart(input));
      return { etag, size, lastModified: new Date(str(result.LastModified) ?? Date.now()) };
    },

    async completeMultipartUpload(input: CompleteMultipartUploadInput): Promise<WriteResult> {
      // A retry of a completion that already happened answers as it did (same part list); the store forgot the upload.
      const remembered = catalog.completion(input.uploadId, input.bucket, input.key);
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
      const tags = catalog.upload(input.uploadId)?.tags;
      const admission = createAdmission(input.admit);
      if (input.admit) {
        const size = used.reduce((sum, part) => sum + part.size, 0);
        const change = objectChange(input.bucket, input.key, size);
        await admission.ensure({ bytes: change.bytes - catalog.partsTotal(input.uploadId), objects: change.objects });
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
        if (tags) await backend.putObjectTagging({ bucket: input.bucket, key: input.key, tags: JSON.parse(tags) as Record<string, string> });
        // The result's ETag is not reliable everywhere (RGW Pacific leaves it empty); HEAD is.
        const written = await backend.headObject({ bucket: input.bucket, key: input.key });
        const algorithm = stored.checksumAlgorithm;
        const checksum = completedChecksum(algorithm, used);
        const answer: WriteResult = { etag: written.etag, size: written.size, lastModified: written.lastModified, ...(checksum ? { checksum } : {}) };
        const completed = {
          parts: used.map((part) => (part.checksum ? { partNumber: part.partNumber, size: part.size, checksum: part.checksum } : { partNumber: part.partNumber, size: part.size })),
          completion: encodeCompletion(input.parts, answer),
        };
        const recorded = catalog.completeUpload(input.uploadId, input.bucket, input.key, written.size, written.etag, checksum, input.journal, written.contentType, completed);
        claim?.release();
        await admission.settle(recorded, () => removeObject(input.bucket, input.key));
        return { etag: written.etag, size: written.size, lastModified: written.lastModified, ...(checksum ? { checksum } : {}) };
      } finally {
        claim?.release();
      }
    },

    async abortMultipartUpload({ bucket, key, uploadId, signal }) {
      signal?.throwIfAborted();
      await http.sendAndDiscard({ method: 'DELETE', bucket, key, query: { uploadId } }).catch(uploadLevel);
      catalog.abortUpload(uploadId, bucket);
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
      const recorded = new Map(catalog.parts(input.uploadId).map((part) => [part.part_number, part]));
      const upload = catalog.upload(input.uploadId);
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
        initiated: new Date(str(result.Initiated) ?? catalog.uploadInitiated(input.uploadId) ?? 0),
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
      catalog.close();
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
      if (catalog.usage(bucket)) return undefined;
      return backend.headObject({ bucket, key }).catch((error: unknown) => {
        if (isS3Error(error, 'NoSuchKey')) return null;
        throw error;
      });
    };
    return {
      async check(): Promise<void> {
        const headed = await current();
        checkWriteConditions(headed === undefined ? catalog.object(bucket, key) : (headed ?? undefined), conditions, key);
      },
      take: async (): Promise<void> => {
        const headed = await current();
        id = catalog.claimKey(bucket, key, conditions, Date.now(), claimTtlMs, headed);
      },
      release: (): void => {
        if (id === undefined) return;
        catalog.releaseClaim(bucket, key, id);
        id = undefined;
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
        const info = await backend.headObject({ signal: input.signal, bucket: input.bucket, key: input.key, conditions: input.conditions });
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
    const known = catalog.object(input.bucket, input.key);
    if (known && (known.parts || multipartPartsOf(known.etag) === undefined)) return { etag: known.etag, size: known.size, partSizes: known.parts?.map((part) => part.size) };
    const info = await backend.headObject({ signal: input.signal, bucket: input.bucket, key: input.key, conditions: input.conditions });
    if (info.partsCount !== undefined) throw unknownPartLayout();
    return { etag: info.etag, size: info.size };
  }

  /** The usage change of writing `size` bytes to `key`, as the catalog stands now. */
  function objectChange(bucket: string, key: string, size: number): UsageChange {
    const previous = catalog.object(bucket, key);
    return { bytes: size - (previous?.size ?? 0), objects: previous ? 0 : 1 };
  }

  function partChange(uploadId: string, partNumber: number, size: number): UsageChange {
    return { bytes: size - (catalog.partSize(uploadId, partNumber) ?? 0), objects: 0 };
  }

  async function sizeOfObject(bucket: string, key: string): Promise<number> {
    return catalog.object(bucket, key)?.size ?? (await backend.headObject({ bucket, key })).size;
  }

  /** Undoes an admitted-after-the-fact write that was refused: the new object goes. */
  async function removeObject(bucket: string, key: string): Promise<void> {
    await backend.deleteObject({ bucket, key });
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
    catalog.recordPart(input.uploadId, input.bucket, input.partNumber, 0, headerValue(headers, 'etag') ?? '""', undefined);
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
