import type { Readable } from 'node:stream';
import type { BucketsUsecases } from '../buckets/buckets.usecases.ts';
import type { ChecksumAlgorithm } from '../checksums/checksums.ts';
import type { Clock } from '../clock.ts';
import type { BucketRow } from '../db/schema.ts';
import { isS3Error, S3Error } from '../errors/s3-errors.ts';
import type { CommitFacts, DomainEvent, DomainEventType, EventLog, JournalHook } from '../events/events.ts';
import { newEventId } from '../ids.ts';
import { scopeAllows, type ScopeRequest } from '../keys/key-scope.ts';
import type { Logger } from '../logger.ts';
import type { QuotasUsecases } from '../quotas/quotas.usecases.ts';
import { replacedSize } from '../storage/replaced-size.ts';
import type {
  AdmitWrite,
  ByteRangeSpec,
  Conditions,
  DeleteObjectsOutput,
  GetObjectOutput,
  ListMultipartUploadsOutput,
  ListObjectsOutput,
  ListPartsOutput,
  Cancellable,
  ObjectInfo,
  ObjectMetadata,
  PartWriteResult,
  StorageBackend,
  UploadChecksum,
  WriteResult,
} from '../storage/storage-backend.ts';
import { BucketRefusedError, ScopeDeniedError } from './objects.errors.ts';
import { scopeOf, type Principal } from './principal.ts';

export type ObjectsService = ReturnType<typeof createObjectsService>;

/** An object addressed by the caller: the bucket by the account's own name for it. */
export interface ObjectRef {
  bucket: string;
  key: string;
}

/** The bytes of an upload, opened only once the write is authorized and its quota reserved. */
export interface UploadSource {
  body: Readable;
  /** Exact length when known; a body of another length stores nothing. */
  size?: number;
  /** Settled by the body's producer once it verified the body; the backend awaits it before commit. */
  checksum?: UploadChecksum;
}

export interface PutObjectRequest extends ObjectRef, Cancellable {
  metadata: ObjectMetadata;
  tags?: Record<string, string>;
  contentMd5?: string;
  /** Bytes reserved against the quota before the body is read (the upload's size, or an upper bound). */
  reserveBytes: number;
  /** Called once the quota is reserved, before the body is opened (the gateway's 100 Continue). */
  beforeBody?: () => void;
  open: () => UploadSource;
}

export interface CopyObjectRequest extends ObjectRef, Cancellable {
  source: ObjectRef;
  metadataDirective: 'COPY' | 'REPLACE';
  metadata?: ObjectMetadata;
  taggingDirective: 'COPY' | 'REPLACE';
  /** With taggingDirective REPLACE. */
  tags?: Record<string, string>;
  sourceConditions?: Conditions;
}

export interface UploadPartRequest extends ObjectRef, Cancellable {
  uploadId: string;
  partNumber: number;
  contentMd5?: string;
  reserveBytes: number;
  beforeBody?: () => void;
  open: () => UploadSource;
}

export interface UploadPartCopyRequest extends ObjectRef, Cancellable {
  uploadId: string;
  partNumber: number;
  source: ObjectRef;
  sourceRange?: { start: number; end: number };
  sourceConditions?: Conditions;
}

export type CompletedPart = { partNumber: number; etag: string; checksum?: string };

/**
 * Inputs a door reads from the request body only once the request is authorized (a refused request's
 * body is never read): a value, or a function that reads and parses it.
 */
export type AfterAuthorization<T> = T | (() => Promise<T>);

const afterAuthorization = <T>(input: AfterAuthorization<T>): Promise<T> => (typeof input === 'function' ? (input as () => Promise<T>)() : Promise.resolve(input));

/** Objects a listing with details looks up at once (one HEAD each on a proxied backend). */
const HEAD_CONCURRENCY = 16;
/** `quota.warning` is appended when a write takes the account's usage across this share of its quota. */
const QUOTA_WARNING_RATIO = 0.8;

/**
 * The one application service for objects, under every door (the S3 gateway, the file API, the
 * storage explorer). Each call does, in this order and in this one place: the key's scope check
 * (`scopeAllows`), resolution of the bucket name in the caller's namespace (another account's
 * name is AccessDenied, an unknown one NoSuchBucket), the quota reservation, the backend call
 * with `admit` (the quota at commit) and `journal` (the domain event, written by the backend in
 * the same transaction as the change), and the settlement of the reservation. Doors parse their
 * protocol before and render the result after; they never repeat any of these steps.
 *
 * Reads (get, head, list) cost what they cost before: a scope check and a cached resolution.
 */
export function createObjectsService(deps: {
  backend: StorageBackend;
  buckets: BucketsUsecases;
  quotas: QuotasUsecases;
  clock: Clock;
  /** Where quota events go (object events are journaled by the backend); without it they are dropped. */
  events?: Pick<EventLog, 'append'>;
  logger?: Logger;
}) {
  const { backend, buckets, quotas, clock } = deps;

  const authorize = (principal: Principal, request: ScopeRequest, message?: string): void => {
    if (!scopeAllows(scopeOf(principal), request)) throw new ScopeDeniedError(message);
  };

  const resolve = (principal: Principal, name: string): BucketRow => {
    const resolution = buckets.resolve(principal.accountId, name);
    // Another account's bucket: refused before anything about its objects can be learned.
    if (resolution.kind === 'foreign') throw new BucketRefusedError(name, 'foreign');
    if (resolution.kind === 'missing') throw new BucketRefusedError(name, 'missing');
    return resolution.bucket;
  };

  /** Scope, then bucket: a bucket outside the key's scope is AccessDenied whether or not it exists. */
  const access = (principal: Principal, request: ScopeRequest & { bucket: string }, message?: string): BucketRow => {
    authorize(principal, request, message);
    return resolve(principal, request.bucket);
  };

  /** The source of a copy is read as a GET would read it: a copy must not lift an object out of reach into reach. */
  const copySource = (principal: Principal, source: ObjectRef): BucketRow =>
    access(principal, { action: 'read', bucket: source.bucket, key: source.key }, 'Access Denied: the access key is not allowed to read the copy source.');

  function event(principal: Principal, type: DomainEventType, facts: Partial<DomainEvent>): DomainEvent {
    const now = clock.now();
    const built: DomainEvent = { id: newEventId(now), type, time: now.toISOString(), accountId: principal.accountId, actor: principal.actor, ...facts };
    if (principal.clientAddress !== undefined) built.clientAddress = principal.clientAddress;
    return built;
  }

  const objectFacts = (bucket: string, facts: CommitFacts, contentType?: string): Partial<DomainEvent> => {
    const out: Partial<DomainEvent> = { bucket, key: facts.key };
    if (facts.size !== undefined) out.size = facts.size;
    if (facts.etag !== undefined) out.etag = facts.etag;
    const type = facts.contentType ?? contentType;
    if (type !== undefined) out.contentType = type;
    if (facts.versionId !== undefined) out.versionId = facts.versionId;
    return out;
  };

  /** put, copy, complete: a new key is `object.created`, a replaced one `object.updated` (overwrite). */
  const writeJournal =
    (principal: Principal, bucket: string, contentType?: string): JournalHook =>
    (facts) => [
      facts.replaced
        ? event(principal, 'object.updated', { ...objectFacts(bucket, facts, contentType), detail: { change: 'overwrite' } })
        : event(principal, 'object.created', objectFacts(bucket, facts, contentType)),
    ];

  /** Deletes journal only what they actually deleted (a delete of a missing key changes nothing). */
  const deleteJournal =
    (principal: Principal, bucket: string): JournalHook =>
    (facts) =>
      facts.replaced ? [event(principal, 'object.deleted', objectFacts(bucket, facts))] : [];

  const taggingJournal =
    (principal: Principal, bucket: string): JournalHook =>
    (facts) => [event(principal, 'object.updated', { ...objectFacts(bucket, facts), detail: { change: 'tagging' } })];

  /** Quota events are appended right after the change; an event log outage must not fail a write that was stored. */
  async function appendQuietly(events: DomainEvent[]): Promise<void> {
    if (!deps.events || events.length === 0) return;
    try {
      await deps.events.append(events);
    } catch (error) {
      deps.logger?.warn('quota event not recorded', { accountId: events[0]!.accountId, type: events[0]!.type, error: (error as Error).message });
    }
  }

  async function noteRefusal(principal: Principal, ref: ObjectRef, error: unknown): Promise<void> {
    if (!isS3Error(error, 'QuotaExceeded')) return;
    const { details } = error as S3Error;
    const detail: Record<string, unknown> =
      details.Limit !== undefined
        ? { limit: details.Limit === 'MaxObjects' ? 'objects' : 'uploads', current: Number(details.Current), maximum: Number(details.Maximum) }
        : {
            usedBytes: Number(details.UsedBytes),
            quotaBytes: Number(details.QuotaBytes),
            reservedBytes: Number(details.ReservedBytes),
            requestedBytes: Number(details.RequestedBytes),
          };
    await appendQuietly([event(principal, 'quota.exceeded', { bucket: ref.bucket, key: ref.key, detail })]);
  }

  /**
   * Reserve → write (with `admit`) → settle, with the quota events: `quota.exceeded` when the
   * reservation or the admission at commit refuses, `quota.warning` when the settled usage crossed
   * QUOTA_WARNING_RATIO of the quota with this write (before < 80 % ≤ after; "before" is the settled
   * figure minus what this write was admitted for, so no extra read is needed).
   */
  async function withQuota<T>(principal: Principal, ref: ObjectRef, reserveBytes: number, write: (admit: AdmitWrite) => Promise<T>, beforeWrite?: () => void): Promise<T> {
    let hold;
    try {
      hold = await quotas.reserve(principal.accountId, reserveBytes);
    } catch (error) {
      await noteRefusal(principal, ref, error);
      throw error;
    }
    let admittedBytes = 0;
    const admit: AdmitWrite = async (change) => {
      await hold.admit(change);
      admittedBytes = change.bytes;
    };
    let result: T;
    let usedAfter: number | undefined;
    try {
      beforeWrite?.();
      result = await write(admit);
    } catch (error) {
      await noteRefusal(principal, ref, error);
      throw error;
    } finally {
      usedAfter = await hold.settle();
    }
    if (admittedBytes > 0 && usedAfter !== undefined) {
      const { quotaBytes } = hold;
      const threshold = quotaBytes * QUOTA_WARNING_RATIO;
      if (quotaBytes > 0 && usedAfter - admittedBytes < threshold && usedAfter >= threshold) {
        await appendQuietly([event(principal, 'quota.warning', { bucket: ref.bucket, key: ref.key, detail: { usedBytes: usedAfter, quotaBytes } })]);
      }
    }
    return result;
  }

  const service = {
    /** Stores an object (S3 PutObject, a file API upload): an overwrite reserves only its growth. */
    async putObject(principal: Principal, input: PutObjectRequest): Promise<WriteResult & { bucketRow: BucketRow }> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      // An estimate before the body is accepted: the backend admits the write again, at commit,
      // against what it actually replaces then (the old object may change while the body arrives).
      const replaced = await replacedSize(backend, bucket.backendName, input.key);
      const result = await withQuota(
        principal,
        input,
        input.reserveBytes - replaced,
        (admit) => {
          const upload = input.open();
          return backend.putObject({
            signal: input.signal,
            bucket: bucket.backendName,
            key: input.key,
            body: upload.body,
            size: upload.size,
            metadata: input.metadata,
            tags: input.tags,
            contentMd5: input.contentMd5,
            checksum: upload.checksum,
            admit,
            journal: writeJournal(principal, input.bucket, input.metadata.contentType),
          });
        },
        input.beforeBody,
      );
      return { ...result, bucketRow: bucket };
    },

    /** CopyObject: the source is read-checked and resolved like the destination; the copy reserves its growth. */
    async copyObject(principal: Principal, input: CopyObjectRequest): Promise<WriteResult> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const source = copySource(principal, input.source);
      if (source.backendName === bucket.backendName && input.source.key === input.key && input.metadataDirective === 'COPY' && input.taggingDirective === 'COPY') {
        throw new S3Error(
          'InvalidRequest',
          "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        );
      }
      const growth = (await replacedSize(backend, source.backendName, input.source.key)) - (await replacedSize(backend, bucket.backendName, input.key));
      return withQuota(principal, input, growth, (admit) =>
        backend.copyObject({
          signal: input.signal,
          sourceBucket: source.backendName,
          sourceKey: input.source.key,
          bucket: bucket.backendName,
          key: input.key,
          metadataDirective: input.metadataDirective,
          metadata: input.metadataDirective === 'REPLACE' ? input.metadata : undefined,
          tags: input.taggingDirective === 'REPLACE' ? (input.tags ?? {}) : undefined,
          sourceConditions: input.sourceConditions,
          admit,
          journal: writeJournal(principal, input.bucket),
        }),
      );
    },

    async getObject(principal: Principal, input: ObjectRef & Cancellable & { range?: ByteRangeSpec; conditions?: Conditions }): Promise<GetObjectOutput> {
      const bucket = access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      return backend.getObject({ signal: input.signal, bucket: bucket.backendName, key: input.key, range: input.range, conditions: input.conditions });
    },

    async headObject(principal: Principal, input: ObjectRef & Cancellable & { conditions?: Conditions }): Promise<ObjectInfo> {
      const bucket = access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      return backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key, conditions: input.conditions });
    },

    /** S3's DELETE succeeds for a missing key; `mustExist` (the file API) answers NoSuchKey instead. */
    async deleteObject(principal: Principal, input: ObjectRef & Cancellable & { mustExist?: boolean }): Promise<void> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      if (input.mustExist) await backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key });
      await backend.deleteObject({ signal: input.signal, bucket: bucket.backendName, key: input.key, journal: deleteJournal(principal, input.bucket) });
      await quotas.resync(principal.accountId);
    },

    /**
     * DeleteObjects: the batch needs write access to the bucket; then, as S3 does under a policy
     * that denies some keys, the allowed keys are deleted and each denied one is an AccessDenied entry.
     */
    async deleteObjects(principal: Principal, input: Cancellable & { bucket: string; keys: AfterAuthorization<string[]> }): Promise<DeleteObjectsOutput> {
      authorize(principal, { action: 'writeSome', bucket: input.bucket });
      const bucket = resolve(principal, input.bucket);
      const keys = await afterAuthorization(input.keys);
      const scope = scopeOf(principal);
      const allowed: string[] = [];
      const denied: string[] = [];
      for (const key of keys) (scopeAllows(scope, { action: 'write', bucket: input.bucket, key }) ? allowed : denied).push(key);
      const result =
        allowed.length > 0
          ? await backend.deleteObjects({ signal: input.signal, bucket: bucket.backendName, keys: allowed, journal: deleteJournal(principal, input.bucket) })
          : { deleted: [], errors: [] };
      if (allowed.length > 0) await quotas.resync(principal.accountId);
      return { deleted: result.deleted, errors: [...result.errors, ...denied.map((key) => ({ key, code: 'AccessDenied', message: 'Access Denied' }))] };
    },

    async getObjectTagging(principal: Principal, input: ObjectRef & Cancellable): Promise<Record<string, string>> {
      const bucket = access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      return backend.getObjectTagging({ signal: input.signal, bucket: bucket.backendName, key: input.key });
    },

    async putObjectTagging(principal: Principal, input: ObjectRef & Cancellable & { tags: AfterAuthorization<Record<string, string>> }): Promise<void> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const tags = await afterAuthorization(input.tags);
      await backend.putObjectTagging({ signal: input.signal, bucket: bucket.backendName, key: input.key, tags, journal: taggingJournal(principal, input.bucket) });
    },

    async deleteObjectTagging(principal: Principal, input: ObjectRef & Cancellable): Promise<void> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      await backend.deleteObjectTagging({ signal: input.signal, bucket: bucket.backendName, key: input.key, journal: taggingJournal(principal, input.bucket) });
    },

    /** One page of keys; a prefix-scoped key lists only under its prefix (`prefix` '' or undefined: the whole bucket). */
    async listObjects(
      principal: Principal,
      input: Cancellable & { bucket: string; prefix?: string; delimiter?: string; startAfter?: string; maxKeys: number },
    ): Promise<ListObjectsOutput & { bucketRow: BucketRow }> {
      const bucket = access(principal, { action: 'list', bucket: input.bucket, prefix: input.prefix ?? '' });
      const page = await backend.listObjects({
        signal: input.signal,
        bucket: bucket.backendName,
        prefix: input.prefix || undefined,
        delimiter: input.delimiter,
        startAfter: input.startAfter,
        maxKeys: input.maxKeys,
      });
      return { ...page, bucketRow: bucket };
    },

    /**
     * A page with each object's full info (content type…), for the file API and the explorer:
     * listings do not carry it, so each object is looked up (an index read on the filesystem
     * backend); one deleted meanwhile is left out.
     */
    async listObjectsWithInfo(
      principal: Principal,
      input: Cancellable & { bucket: string; prefix?: string; delimiter?: string; startAfter?: string; maxKeys: number },
    ): Promise<{ page: ListObjectsOutput; bucketRow: BucketRow; objects: ObjectInfo[] }> {
      const { bucketRow, ...page } = await service.listObjects(principal, input);
      const described: (ObjectInfo | undefined)[] = new Array(page.contents.length);
      let next = 0;
      const worker = async () => {
        while (next < page.contents.length) {
          const index = next++;
          try {
            described[index] = await backend.headObject({ signal: input.signal, bucket: bucketRow.backendName, key: page.contents[index]!.key });
          } catch (error) {
            if (!isS3Error(error, 'NoSuchKey')) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, page.contents.length) }, worker));
      return { page, bucketRow, objects: described.filter((info): info is ObjectInfo => info !== undefined) };
    },

    /** The caller's bucket name for a bucket row id (file ids carry row ids); undefined when it is not the caller's. */
    bucketNameById(principal: Principal, bucketId: string): string | undefined {
      return buckets.list(principal.accountId).find((bucket) => bucket.id === bucketId)?.name;
    },

    /** Uploads cost no bytes until parts arrive, but each is an index row: MAX_UPLOADS_PER_ACCOUNT. */
    async createMultipartUpload(
      principal: Principal,
      input: ObjectRef & Cancellable & { metadata: ObjectMetadata; tags?: Record<string, string>; checksumAlgorithm?: ChecksumAlgorithm },
    ): Promise<{ uploadId: string }> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      try {
        return await quotas.admitUpload(principal.accountId, () =>
          backend.createMultipartUpload({
            signal: input.signal,
            bucket: bucket.backendName,
            key: input.key,
            metadata: input.metadata,
            tags: input.tags,
            checksumAlgorithm: input.checksumAlgorithm,
          }),
        );
      } catch (error) {
        await noteRefusal(principal, input, error);
        throw error;
      }
    },

    /** Parts in progress count against the quota; a re-uploaded part is charged in full until it lands. */
    async uploadPart(principal: Principal, input: UploadPartRequest): Promise<PartWriteResult> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      return withQuota(
        principal,
        input,
        input.reserveBytes,
        (admit) => {
          const upload = input.open();
          return backend.uploadPart({
            signal: input.signal,
            bucket: bucket.backendName,
            key: input.key,
            uploadId: input.uploadId,
            partNumber: input.partNumber,
            body: upload.body,
            size: upload.size,
            contentMd5: input.contentMd5,
            checksum: upload.checksum,
            admit,
          });
        },
        input.beforeBody,
      );
    },

    async uploadPartCopy(principal: Principal, input: UploadPartCopyRequest): Promise<PartWriteResult & { lastModified: Date }> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const source = copySource(principal, input.source);
      const copied = input.sourceRange ? input.sourceRange.end - input.sourceRange.start + 1 : await replacedSize(backend, source.backendName, input.source.key);
      return withQuota(principal, input, copied, (admit) =>
        backend.uploadPartCopy({
          signal: input.signal,
          bucket: bucket.backendName,
          key: input.key,
          uploadId: input.uploadId,
          partNumber: input.partNumber,
          sourceBucket: source.backendName,
          sourceKey: input.source.key,
          sourceRange: input.sourceRange,
          sourceConditions: input.sourceConditions,
          // The source may have grown since it was sized above: the part is admitted at its real size.
          admit,
        }),
      );
    },

    /**
     * Completion rarely grows usage (the parts already count) but adds an object
     * (MAX_OBJECTS_PER_ACCOUNT), and parts a proxy's store holds without the catalog knowing count
     * only now: admitted at commit.
     */
    async completeMultipartUpload(principal: Principal, input: ObjectRef & Cancellable & { uploadId: string; parts: AfterAuthorization<CompletedPart[]> }): Promise<WriteResult> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const parts = await afterAuthorization(input.parts);
      return withQuota(principal, input, 0, (admit) =>
        backend.completeMultipartUpload({
          signal: input.signal,
          bucket: bucket.backendName,
          key: input.key,
          uploadId: input.uploadId,
          parts,
          admit,
          journal: writeJournal(principal, input.bucket),
        }),
      );
    },

    async abortMultipartUpload(principal: Principal, input: ObjectRef & Cancellable & { uploadId: string }): Promise<void> {
      const bucket = access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      await backend.abortMultipartUpload({ signal: input.signal, bucket: bucket.backendName, key: input.key, uploadId: input.uploadId });
      await quotas.resync(principal.accountId);
    },

    async listParts(principal: Principal, input: ObjectRef & Cancellable & { uploadId: string; partNumberMarker?: number; maxParts: number }): Promise<ListPartsOutput> {
      const bucket = access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      return backend.listParts({
        signal: input.signal,
        bucket: bucket.backendName,
        key: input.key,
        uploadId: input.uploadId,
        partNumberMarker: input.partNumberMarker,
        maxParts: input.maxParts,
      });
    },

    async listMultipartUploads(
      principal: Principal,
      input: Cancellable & { bucket: string; prefix?: string; delimiter?: string; keyMarker?: string; uploadIdMarker?: string; maxUploads: number },
    ): Promise<ListMultipartUploadsOutput> {
      const bucket = access(principal, { action: 'list', bucket: input.bucket, prefix: input.prefix ?? '' });
      return backend.listMultipartUploads({
        signal: input.signal,
        bucket: bucket.backendName,
        prefix: input.prefix || undefined,
        delimiter: input.delimiter,
        keyMarker: input.keyMarker,
        uploadIdMarker: input.uploadIdMarker,
        maxUploads: input.maxUploads,
      });
    },
  };
  return service;
}
