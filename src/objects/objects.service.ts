import type { Readable } from 'node:stream';
import type { RateCharge } from '../limits/rate-limiter.ts';
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
import { replacedObject, replacedSize } from '../storage/replaced-size.ts';
import { versionsOfKey } from '../storage/versions-of-key.ts';
import { checkWriteConditions } from '../storage/conditions.ts';
import type {
  AdmitWrite,
  ByteRangeSpec,
  Conditions,
  DeleteObjectResult,
  DeleteObjectsOutput,
  GetObjectOutput,
  ListMultipartUploadsOutput,
  ListObjectsOutput,
  ListObjectVersionsOutput,
  ListPartsOutput,
  Cancellable,
  ObjectIdentifier,
  ObjectInfo,
  ObjectMetadata,
  PartWriteResult,
  StorageBackend,
  UploadChecksum,
  VersioningStatus,
  WriteConditions,
  WriteResult,
} from '../storage/storage-backend.ts';
import { aclGrantsRead, isNonPrivate, type CannedAcl } from './acl.ts';
import { uploadAclKey, type ObjectAclStore } from './object-acls.ts';
import { BucketRefusedError, ScopeDeniedError } from './objects.errors.ts';
import { isAnonymous, scopeOf, type Principal } from './principal.ts';

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
  /** The object's canned ACL; undefined is private (a new write without one makes the key private again, as on AWS). */
  acl?: CannedAcl;
  /** S3 conditional write (If-Match / If-None-Match); decided by the backend at commit (see WriteConditions). */
  conditions?: WriteConditions;
  /** The request's rate-limit check, run with the quota reservation (one Redis round trip); see RateCharge. */
  rateCharge?: RateCharge;
}

export interface CopyObjectRequest extends ObjectRef, Cancellable {
  /** `versionId`: copy that version of the source (S3's `x-amz-copy-source: /b/k?versionId=`). */
  source: ObjectRef & { versionId?: string };
  metadataDirective: 'COPY' | 'REPLACE';
  metadata?: ObjectMetadata;
  taggingDirective: 'COPY' | 'REPLACE';
  /** With taggingDirective REPLACE. */
  tags?: Record<string, string>;
  sourceConditions?: Conditions;
  /** The copy's canned ACL: the request's, never the source's (private when none, as on AWS). */
  acl?: CannedAcl;
  /**
   * The caller deletes the source right after, within the same account (the trash's moves): the
   * copy is not held to the quota or the object limit, since the account's usage is what it was
   * once the move is done, and a full account must still be able to delete into its trash. Never
   * set by a door.
   */
  moving?: boolean;
}

export interface UploadPartRequest extends ObjectRef, Cancellable {
  uploadId: string;
  partNumber: number;
  contentMd5?: string;
  reserveBytes: number;
  beforeBody?: () => void;
  open: () => UploadSource;
  /** As PutObjectRequest.rateCharge. */
  rateCharge?: RateCharge;
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
const PUBLIC_ACCESS_DISABLED = 'Public access is disabled on this server (ALLOW_PUBLIC_ACCESS=false): only the private ACL can be set.';

/** A bucket's or object's ACL as GetBucketAcl/GetObjectAcl render it. */
export interface AclView {
  acl: CannedAcl;
  /** The owning account (the grant document's Owner and FULL_CONTROL grantee). */
  ownerId: string;
}

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
  /** Object ACLs (metadata database); without it only private ACLs can be set. */
  acls?: ObjectAclStore;
  /** ALLOW_PUBLIC_ACCESS (default true): false refuses non-private ACLs and makes stored ones grant nothing. */
  allowPublicAccess?: boolean;
}) {
  const { backend, buckets, quotas, clock, acls } = deps;
  const publicAccess = deps.allowPublicAccess !== false;

  const authorize = (principal: Principal, request: ScopeRequest, message?: string): void => {
    if (!scopeAllows(scopeOf(principal), request)) throw new ScopeDeniedError(message);
  };

  const resolve = async (principal: Principal, name: string): Promise<BucketRow> => {
    const resolution = await buckets.resolve(principal.accountId, name);
    // Another account's bucket: names are per account, so it is answered exactly like a missing one
    // (NoSuchBucket), and nothing about it, not even that the name is used, can be learned.
    if (resolution.kind === 'foreign') throw new BucketRefusedError(name, 'foreign');
    if (resolution.kind === 'missing') throw new BucketRefusedError(name, 'missing');
    return resolution.bucket;
  };

  /** Scope, then bucket: a bucket outside the key's scope is AccessDenied whether or not it exists. */
  const access = (principal: Principal, request: ScopeRequest & { bucket: string }, message?: string): Promise<BucketRow> => {
    authorize(principal, request, message);
    return resolve(principal, request.bucket);
  };

  /** A name the caller does not own, for a request no public ACL can open: today's answer (anonymous: AccessDenied, as AWS). */
  const refuseForeign = async (principal: Principal, name: string): Promise<never> => {
    if (!isAnonymous(principal)) await resolve(principal, name);
    throw new S3Error('AccessDenied');
  };

  /**
   * The bucket a name the caller does not own addresses for a read: the one bucket holding it in
   * the public namespace (`public_name`), when public access is on. Names are per account, so this
   * is the only way an anonymous or other account's request can name a bucket.
   */
  const publicBucket = async (principal: Principal, name: string): Promise<BucketRow> => {
    const bucket = publicAccess && acls ? await buckets.resolvePublic(name) : undefined;
    if (bucket === undefined || bucket.userId === principal.accountId) return refuseForeign(principal, name);
    return bucket;
  };

  /**
   * An object read (GET/HEAD, a copy's source): the caller's own bucket as always; otherwise the
   * public bucket of that name when the OBJECT's ACL grants this reader READ (a bucket ACL does
   * not open its objects, as on AWS). A reader the bucket ACL lets list learns that a key does
   * not exist (NoSuchKey); anyone else gets AccessDenied for any key.
   *
   * A `versionId` is read by the bucket's owner only: ACL rows are per key, not per version (AWS
   * keeps one per version), so the ACL a key has now says nothing about its older versions, which
   * may have been written private. Others get AccessDenied for any version, public bucket or not.
   */
  const objectReadAccess = async (principal: Principal, ref: ObjectRef & Cancellable & { versionId?: string }, message?: string): Promise<BucketRow> => {
    authorize(principal, { action: 'read', bucket: ref.bucket, key: ref.key }, message);
    if (!isAnonymous(principal)) {
      const resolution = await buckets.resolve(principal.accountId, ref.bucket);
      if (resolution.kind === 'owned') return resolution.bucket;
    }
    return foreignObjectRead(principal, ref);
  };

  async function foreignObjectRead(principal: Principal, ref: ObjectRef & Cancellable & { versionId?: string }): Promise<BucketRow> {
    const bucket = await publicBucket(principal, ref.bucket);
    if (ref.versionId !== undefined) throw new S3Error('AccessDenied');
    const reader = isAnonymous(principal) ? 'anonymous' : 'authenticated';
    if (aclGrantsRead(await acls!.get(bucket.id, ref.key), reader)) return bucket;
    if (aclGrantsRead(bucket.acl, reader)) await backend.headObject({ signal: ref.signal, bucket: bucket.backendName, key: ref.key });
    throw new S3Error('AccessDenied');
  }

  /** A listing: the caller's own bucket, or the public bucket of that name when its bucket ACL grants this reader READ. */
  const listAccess = async (principal: Principal, request: ScopeRequest & { action: 'list'; bucket: string }): Promise<BucketRow> => {
    authorize(principal, request);
    if (!isAnonymous(principal)) {
      const resolution = await buckets.resolve(principal.accountId, request.bucket);
      if (resolution.kind === 'owned') return resolution.bucket;
    }
    const bucket = await publicBucket(principal, request.bucket);
    if (!aclGrantsRead(bucket.acl, isAnonymous(principal) ? 'anonymous' : 'authenticated')) throw new S3Error('AccessDenied');
    return bucket;
  };

  /** The source of a copy is read as a GET would read it: a copy must not lift an object out of reach into reach. */
  const copySource = (principal: Principal, source: ObjectRef & Cancellable & { versionId?: string }): Promise<BucketRow> =>
    objectReadAccess(principal, source, 'Access Denied: the access key is not allowed to read the copy source.');

  /**
   * A copy source naming a delete marker by version id: S3's 400 InvalidRequest, not the 405 (and
   * the marker's headers) a GET of it answers, which would describe the copy's destination.
   */
  const refuseMarkerSource = (error: unknown): never => {
    if (isS3Error(error, 'MethodNotAllowed')) throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
    throw error;
  };

  /** A non-private ACL a write asks for: refused when the operator forbids public access; claims the bucket's public name before anything is stored. */
  const admitAcl = async (bucket: BucketRow, acl: CannedAcl | undefined): Promise<void> => {
    if (!isNonPrivate(acl)) return;
    if (!publicAccess) throw new S3Error('AccessDenied', PUBLIC_ACCESS_DISABLED);
    if (!acls) throw new S3Error('NotImplemented', 'ACLs other than private are not available on this server.');
    await acls.claim(bucket);
  };

  /** The ETag of the object stored under `key` now (undefined: none, or the store did not answer). */
  const currentTag = (bucket: BucketRow, key: string, signal?: AbortSignal): Promise<string | undefined> =>
    backend.headObject({ signal, bucket: bucket.backendName, key }).then(
      (info) => info.etag,
      () => undefined,
    );

  /**
   * Runs a backend write (`write`, given the journal hook to pass on) with the key's ACL held
   * aside (ObjectAclStore.hold) while it runs, when that ACL grants more than the write's own: the
   * new bytes are never readable beyond what their ACL grants, not even between commit and
   * `applyAfterWrite`. When the write fails without replacing the object (nothing journaled, the
   * same ETag still stored), the held ACL goes back, so a failed overwrite (a bad digest, a lost
   * conditional race, a client gone) does not leave the old object private. A bucket that never
   * had a public object pays nothing (`mayHaveAcls`).
   */
  async function writeHoldingAcl<T>(
    bucket: BucketRow,
    key: string,
    acl: CannedAcl | undefined,
    signal: AbortSignal | undefined,
    journal: JournalHook,
    write: (journal: JournalHook) => Promise<T>,
  ): Promise<T> {
    if (acls === undefined || !(await acls.mayHaveAcls(bucket.id))) return write(journal);
    return heldWrite(acls, bucket, key, acl, signal, journal, write);
  }

  async function heldWrite<T>(
    store: ObjectAclStore,
    bucket: BucketRow,
    key: string,
    acl: CannedAcl | undefined,
    signal: AbortSignal | undefined,
    journal: JournalHook,
    write: (journal: JournalHook) => Promise<T>,
  ): Promise<T> {
    if (!(await store.hold(bucket.id, key, acl))) return write(journal);
    // Which object the held ACL belongs to: it goes back only onto that one.
    const heldTag = await currentTag(bucket, key, signal);
    let committed = false;
    try {
      return await write((facts) => {
        committed = true;
        return journal(facts);
      });
    } finally {
      // Committed: applyAfterWrite sets the key's ACL (dropping the hold). Not committed (failed,
      // or a retried completion that changed nothing): the ACL goes back onto the same object.
      // No signal: a client that went away must not keep its ACL from being restored.
      if (!committed) {
        if (heldTag !== undefined && (await currentTag(bucket, key)) === heldTag) await store.restore(bucket.id, key);
        else await store.dropHold(bucket.id, key);
      }
    }
  }

  /** After the write committed: a public ACL is stored now (the object was private until then); a private write clears again, in case an ACL change landed during the upload. */
  const applyAfterWrite = async (bucket: BucketRow, key: string, acl: CannedAcl | undefined): Promise<void> => {
    if (!acls) return;
    if (isNonPrivate(acl)) await acls.set(bucket, key, acl);
    else if (await acls.mayHaveAcls(bucket.id)) await acls.clear(bucket.id, key);
  };

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

  /**
   * Deletes journal only what they actually deleted (a delete of a missing key changes nothing).
   * `versionId` is the version removed or the marker created; in a versioned bucket `detail.deleteMarker`
   * says whether the delete created (or removed) a marker (then the data may still be stored) or
   * removed a version for good. `extra` is the door's own
   * detail (the dashboard's trash), merged in.
   */
  const deleteJournal =
    (principal: Principal, bucket: string, extra?: Record<string, unknown>): JournalHook =>
    (facts) => {
      if (!facts.replaced) return [];
      const out = objectFacts(bucket, facts);
      // In a versioned bucket (a version id) the detail always says whether a marker was involved.
      if (facts.versionId !== undefined || extra !== undefined) out.detail = { ...extra, ...(facts.versionId !== undefined && { deleteMarker: facts.deleteMarker === true }) };
      return [event(principal, 'object.deleted', out)];
    };

  /**
   * The newest version of `key` that is not a delete marker (`'null'` for a null version;
   * undefined: none). ACL rows are per key: the row is the one written with this version (a write
   * sets or clears it, a marker on top keeps it for when the marker goes).
   */
  async function newestDataVersion(bucket: BucketRow, key: string, signal?: AbortSignal): Promise<string | undefined> {
    // Usually the first entry: small pages.
    for await (const entry of versionsOfKey((page) => backend.listObjectVersions({ signal, bucket: bucket.backendName, ...page }), key, 100)) {
      if (!entry.deleteMarker) return entry.versionId;
    }
    return undefined;
  }

  /** `fn` over `items`, HEAD_CONCURRENCY at a time (a lookup each on a proxied backend), results in order. */
  async function mapConcurrently<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, items.length) }, worker));
    return results;
  }

  /**
   * Before deletes: for each key that has an ACL row, the version that row was written with. Keys
   * without a row (every key of a bucket that never had a public object) cost nothing.
   */
  async function aclVersionsBefore(bucket: BucketRow, keys: string[], signal?: AbortSignal): Promise<Map<string, string | undefined> | undefined> {
    if (acls === undefined || !(await acls.mayHaveAcls(bucket.id))) return undefined;
    const withRow = [...(await acls.keysWithAcl(bucket.id, [...new Set(keys)]))];
    if (withRow.length === 0) return undefined;
    const versions = await mapConcurrently(withRow, (key) => newestDataVersion(bucket, key, signal));
    return new Map(withRow.map((key, index) => [key, versions[index]]));
  }

  /**
   * After deletes: a key's ACL row goes when the version it was written with is no longer the
   * key's newest data version (that version was deleted, or a Suspended delete replaced the null
   * version by a marker). Otherwise an older version, written private, would surface under the
   * newer one's public ACL. A marker made or removed on top keeps the row. No signal, and a failed
   * lookup clears: a client that went away or a store that did not answer must not leave it open.
   */
  async function settleAclsAfterDelete(bucket: BucketRow, before: Map<string, string | undefined> | undefined): Promise<void> {
    if (before === undefined) return;
    const keys = [...before.keys()];
    const now = await mapConcurrently(keys, (key) => newestDataVersion(bucket, key).catch(() => undefined));
    const cleared = keys.filter((key, index) => now[index] === undefined || now[index] !== before.get(key));
    if (cleared.length > 0) await acls!.clearMany(bucket.id, cleared);
  }

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
  async function withQuota<T>(
    principal: Principal,
    ref: ObjectRef & { rateCharge?: RateCharge },
    reserveBytes: number,
    write: (admit: AdmitWrite) => Promise<T>,
    beforeWrite?: () => void,
  ): Promise<T> {
    let hold;
    try {
      hold = await quotas.reserve(principal.accountId, reserveBytes, ref.rateCharge);
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

  /** A write the quota does not hold (see CopyObjectRequest.moving): committed unchecked, then the stored figure is pushed. */
  async function unmetered<T>(principal: Principal, write: (admit: AdmitWrite | undefined) => Promise<T>): Promise<T> {
    try {
      return await write(undefined);
    } finally {
      await quotas.resync(principal.accountId);
    }
  }

  /** Early evaluation of write conditions against the key as it is now (a HEAD on a proxied backend). */
  async function precheckConditions(backendBucket: string, key: string, conditions: WriteConditions, signal?: AbortSignal): Promise<void> {
    const current = await backend.headObject({ signal, bucket: backendBucket, key }).catch((error: unknown) => {
      if (isS3Error(error, 'NoSuchKey')) return undefined;
      throw error;
    });
    checkWriteConditions(current, conditions, key);
  }

  const service = {
    /** Stores an object (S3 PutObject, a file API upload): an overwrite reserves only its growth. */
    async putObject(principal: Principal, input: PutObjectRequest): Promise<WriteResult & { bucketRow: BucketRow }> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      // A condition that already fails is answered before any quota is reserved or body read; the
      // backend decides it again, atomically, at commit. Unconditional writes skip this lookup.
      if (input.conditions) await precheckConditions(bucket.backendName, input.key, input.conditions, input.signal);
      // An estimate before the body is accepted: the backend admits the write again, at commit,
      // against what it actually replaces then (the old object may change while the body arrives).
      const replaced = await replacedObject(backend, bucket.backendName, input.key);
      await admitAcl(bucket, input.acl);
      const result = await withQuota(
        principal,
        input,
        input.reserveBytes - replaced.bytes,
        (admit) =>
          writeHoldingAcl(bucket, input.key, input.acl, input.signal, writeJournal(principal, input.bucket, input.metadata.contentType), (journal) => {
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
              conditions: input.conditions,
              replaced,
              admit,
              journal,
            });
          }),
        input.beforeBody,
      );
      await applyAfterWrite(bucket, input.key, input.acl);
      return { ...result, bucketRow: bucket };
    },

    /** CopyObject: the source is read-checked and resolved like the destination; the copy reserves its growth. */
    async copyObject(principal: Principal, input: CopyObjectRequest): Promise<WriteResult> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const source = await copySource(principal, { ...input.source, signal: input.signal });
      await admitAcl(bucket, input.acl);
      // Copying a version onto its own key is how S3 restores it: only a copy of the current object onto itself is refused.
      if (
        input.source.versionId === undefined &&
        source.backendName === bucket.backendName &&
        input.source.key === input.key &&
        input.metadataDirective === 'COPY' &&
        input.taggingDirective === 'COPY'
      ) {
        throw new S3Error(
          'InvalidRequest',
          "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        );
      }
      // The source's own size (not `replacedSize`, which in a versioned bucket is what a write replaces: nothing).
      const sourceSize = (
        await backend.headObject({ signal: input.signal, bucket: source.backendName, key: input.source.key, versionId: input.source.versionId }).catch(refuseMarkerSource)
      ).size;
      const growth = sourceSize - (await replacedSize(backend, bucket.backendName, input.key));
      const metered = <T>(write: (admit: AdmitWrite | undefined) => Promise<T>): Promise<T> =>
        input.moving ? unmetered(principal, write) : withQuota(principal, input, growth, write);
      const result = await metered((admit) =>
        writeHoldingAcl(bucket, input.key, input.acl, input.signal, writeJournal(principal, input.bucket), (journal) =>
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
            sourceVersionId: input.source.versionId,
            admit,
            journal,
          }),
        ),
      );
      await applyAfterWrite(bucket, input.key, input.acl);
      return result;
    },

    /** `versionId`: that version (the bucket's owner only, see objectReadAccess). */
    async getObject(
      principal: Principal,
      input: ObjectRef & Cancellable & { versionId?: string; range?: ByteRangeSpec; conditions?: Conditions; partNumber?: number },
    ): Promise<GetObjectOutput> {
      const bucket = await objectReadAccess(principal, input);
      return backend.getObject({
        signal: input.signal,
        bucket: bucket.backendName,
        key: input.key,
        versionId: input.versionId,
        range: input.range,
        conditions: input.conditions,
        partNumber: input.partNumber,
      });
    },

    /** `partNumber`: S3's HEAD ?partNumber=; `withParts`: the part layout too (GetObjectAttributes), a read like HEAD. */
    async headObject(
      principal: Principal,
      input: ObjectRef & Cancellable & { versionId?: string; conditions?: Conditions; partNumber?: number; withParts?: boolean },
    ): Promise<ObjectInfo> {
      const bucket = await objectReadAccess(principal, input);
      return backend.headObject({
        signal: input.signal,
        bucket: bucket.backendName,
        key: input.key,
        versionId: input.versionId,
        conditions: input.conditions,
        partNumber: input.partNumber,
        withParts: input.withParts,
      });
    },

    /**
     * S3's DELETE succeeds for a missing key; `mustExist` (the file API) answers NoSuchKey instead.
     * Without `versionId`: a delete marker in a versioned bucket, the object otherwise; with it,
     * that version (or marker) for good (the `write` action: scoped keys have no separate
     * DeleteObjectVersion permission). `eventDetail` is merged into the `object.deleted` detail.
     */
    async deleteObject(
      principal: Principal,
      input: ObjectRef & Cancellable & { versionId?: string; mustExist?: boolean; eventDetail?: Record<string, unknown> },
    ): Promise<DeleteObjectResult> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      if (input.mustExist) await backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key, versionId: input.versionId });
      const aclsBefore = await aclVersionsBefore(bucket, [input.key], input.signal);
      let result: DeleteObjectResult;
      try {
        result = await backend.deleteObject({
          signal: input.signal,
          bucket: bucket.backendName,
          key: input.key,
          versionId: input.versionId,
          journal: deleteJournal(principal, input.bucket, input.eventDetail),
        });
      } finally {
        // Also when the delete failed: it may have committed before the error (a client gone).
        await settleAclsAfterDelete(bucket, aclsBefore);
      }
      await quotas.resync(principal.accountId);
      return result;
    },

    /**
     * DeleteObjects: the batch needs write access to the bucket; then, as S3 does under a policy
     * that denies some keys, the allowed objects are deleted and each denied one is an AccessDenied
     * entry. Each object as `deleteObject` (a `versionId` removes that version).
     */
    async deleteObjects(principal: Principal, input: Cancellable & { bucket: string; objects: AfterAuthorization<ObjectIdentifier[]> }): Promise<DeleteObjectsOutput> {
      authorize(principal, { action: 'writeSome', bucket: input.bucket });
      const bucket = await resolve(principal, input.bucket);
      const objects = await afterAuthorization(input.objects);
      const scope = scopeOf(principal);
      const allowed: ObjectIdentifier[] = [];
      const denied: ObjectIdentifier[] = [];
      for (const object of objects) (scopeAllows(scope, { action: 'write', bucket: input.bucket, key: object.key }) ? allowed : denied).push(object);
      let result: DeleteObjectsOutput = { deleted: [], errors: [] };
      if (allowed.length > 0) {
        const aclsBefore = await aclVersionsBefore(
          bucket,
          allowed.map((object) => object.key),
          input.signal,
        );
        try {
          result = await backend.deleteObjects({ signal: input.signal, bucket: bucket.backendName, objects: allowed, journal: deleteJournal(principal, input.bucket) });
        } finally {
          await settleAclsAfterDelete(bucket, aclsBefore);
        }
        await quotas.resync(principal.accountId);
      }
      const refused = denied.map(({ key, versionId }) => ({ key, ...(versionId !== undefined && { versionId }), code: 'AccessDenied', message: 'Access Denied' }));
      return { deleted: result.deleted, errors: [...result.errors, ...refused] };
    },

    async getObjectTagging(principal: Principal, input: ObjectRef & Cancellable & { versionId?: string }): Promise<Record<string, string>> {
      const bucket = await access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      return backend.getObjectTagging({ signal: input.signal, bucket: bucket.backendName, key: input.key, versionId: input.versionId });
    },

    async putObjectTagging(principal: Principal, input: ObjectRef & Cancellable & { versionId?: string; tags: AfterAuthorization<Record<string, string>> }): Promise<void> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const tags = await afterAuthorization(input.tags);
      await backend.putObjectTagging({
        signal: input.signal,
        bucket: bucket.backendName,
        key: input.key,
        versionId: input.versionId,
        tags,
        journal: taggingJournal(principal, input.bucket),
      });
    },

    async deleteObjectTagging(principal: Principal, input: ObjectRef & Cancellable & { versionId?: string }): Promise<void> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      await backend.deleteObjectTagging({
        signal: input.signal,
        bucket: bucket.backendName,
        key: input.key,
        versionId: input.versionId,
        journal: taggingJournal(principal, input.bucket),
      });
    },

    /**
     * The id of the key's current version (undefined in an Unversioned bucket), for S3's
     * x-amz-version-id on a tagging request that named no version. `action`: what the request
     * itself needed, so a write-only key that tagged the object may learn which version it tagged.
     */
    async currentVersionId(principal: Principal, input: ObjectRef & Cancellable & { action: 'read' | 'write' }): Promise<string | undefined> {
      const bucket = await access(principal, { action: input.action, bucket: input.bucket, key: input.key });
      return (await backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key })).versionId;
    },

    /** GetBucketVersioning: `Unversioned` for a bucket whose versioning was never configured. */
    async getBucketVersioning(principal: Principal, name: string, options: Cancellable = {}): Promise<VersioningStatus> {
      const bucket = await access(principal, { action: 'bucketInfo', bucket: name });
      return backend.getBucketVersioning(bucket.backendName, options);
    },

    /**
     * PutBucketVersioning: a bucket configuration, the account's act like its ACL or CORS rules
     * (`bucketAdmin`: an unrestricted key or a session); no event (there is no bucket-updated type).
     */
    async putBucketVersioning(principal: Principal, name: string, status: 'Enabled' | 'Suspended', options: Cancellable = {}): Promise<void> {
      authorize(principal, { action: 'bucketAdmin' });
      const bucket = await resolve(principal, name);
      await backend.putBucketVersioning(bucket.backendName, status, options);
    },

    /**
     * ListObjectVersions, the bucket's owner only (a public bucket ACL does not open it: older
     * versions and deleted keys are not what the owner made public); a prefix-scoped key lists only
     * under its prefix, as ListObjects.
     */
    async listObjectVersions(
      principal: Principal,
      input: Cancellable & { bucket: string; prefix?: string; delimiter?: string; keyMarker?: string; versionIdMarker?: string; maxKeys: number },
    ): Promise<ListObjectVersionsOutput> {
      const bucket = await access(principal, { action: 'list', bucket: input.bucket, prefix: input.prefix ?? '' });
      return backend.listObjectVersions({
        signal: input.signal,
        bucket: bucket.backendName,
        prefix: input.prefix || undefined,
        delimiter: input.delimiter,
        keyMarker: input.keyMarker,
        versionIdMarker: input.versionIdMarker,
        maxKeys: input.maxKeys,
      });
    },

    /** One page of keys; a prefix-scoped key lists only under its prefix (`prefix` '' or undefined: the whole bucket). */
    async listObjects(
      principal: Principal,
      input: Cancellable & { bucket: string; prefix?: string; delimiter?: string; startAfter?: string; maxKeys: number },
    ): Promise<ListObjectsOutput & { bucketRow: BucketRow }> {
      const bucket = await listAccess(principal, { action: 'list', bucket: input.bucket, prefix: input.prefix ?? '' });
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
      const described = await mapConcurrently(page.contents, (entry) =>
        backend.headObject({ signal: input.signal, bucket: bucketRow.backendName, key: entry.key }).catch((error: unknown) => {
          if (!isS3Error(error, 'NoSuchKey')) throw error;
          return undefined;
        }),
      );
      return { page, bucketRow, objects: described.filter((info): info is ObjectInfo => info !== undefined) };
    },

    /** The caller's bucket name for a bucket row id (file ids carry row ids); undefined when it is not the caller's. */
    async bucketNameById(principal: Principal, bucketId: string): Promise<string | undefined> {
      return (await buckets.list(principal.accountId)).find((bucket) => bucket.id === bucketId)?.name;
    },

    /** Uploads cost no bytes until parts arrive, but each is an index row: MAX_UPLOADS_PER_ACCOUNT. */
    async createMultipartUpload(
      principal: Principal,
      input: ObjectRef & Cancellable & { metadata: ObjectMetadata; tags?: Record<string, string>; checksumAlgorithm?: ChecksumAlgorithm; acl?: CannedAcl },
    ): Promise<{ uploadId: string }> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      await admitAcl(bucket, input.acl);
      try {
        const created = await quotas.admitUpload(principal.accountId, () =>
          backend.createMultipartUpload({
            signal: input.signal,
            bucket: bucket.backendName,
            key: input.key,
            metadata: input.metadata,
            tags: input.tags,
            checksumAlgorithm: input.checksumAlgorithm,
          }),
        );
        // The ACL applies at completion (as on AWS): kept under the upload's pseudo key until then.
        if (isNonPrivate(input.acl)) await acls!.set(bucket, uploadAclKey(created.uploadId), input.acl);
        return created;
      } catch (error) {
        await noteRefusal(principal, input, error);
        throw error;
      }
    },

    /** Parts in progress count against the quota; a re-uploaded part is charged in full until it lands. */
    async uploadPart(principal: Principal, input: UploadPartRequest): Promise<PartWriteResult> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
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
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const source = await copySource(principal, { ...input.source, signal: input.signal });
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
    async completeMultipartUpload(
      principal: Principal,
      input: ObjectRef & Cancellable & { uploadId: string; parts: AfterAuthorization<CompletedPart[]>; conditions?: WriteConditions },
    ): Promise<WriteResult> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const parts = await afterAuthorization(input.parts);
      const marker = acls && (await acls.mayHaveAcls(bucket.id)) ? uploadAclKey(input.uploadId) : undefined;
      const acl = marker === undefined ? undefined : await acls!.get(bucket.id, marker);
      // A retried completion the backend answers from memory commits nothing (no journal call):
      // it must not touch the object's ACL, which the first completion set.
      let committed = false;
      const journal = writeJournal(principal, input.bucket);
      const result = await withQuota(principal, input, 0, (admit) =>
        // The completed object must not inherit the key's ACL either, not even briefly.
        writeHoldingAcl(bucket, input.key, acl, input.signal, journal, (heldJournal) =>
          backend.completeMultipartUpload({
            signal: input.signal,
            bucket: bucket.backendName,
            key: input.key,
            uploadId: input.uploadId,
            parts,
            conditions: input.conditions,
            admit,
            journal: (facts) => {
              committed = true;
              return heldJournal(facts);
            },
          }),
        ),
      );
      if (committed) {
        await applyAfterWrite(bucket, input.key, acl);
        if (acl !== undefined) await acls!.clear(bucket.id, marker!);
      }
      return result;
    },

    async abortMultipartUpload(principal: Principal, input: ObjectRef & Cancellable & { uploadId: string }): Promise<void> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      await backend.abortMultipartUpload({ signal: input.signal, bucket: bucket.backendName, key: input.key, uploadId: input.uploadId });
      if (acls && (await acls.mayHaveAcls(bucket.id))) await acls.clear(bucket.id, uploadAclKey(input.uploadId));
      await quotas.resync(principal.accountId);
    },

    async listParts(principal: Principal, input: ObjectRef & Cancellable & { uploadId: string; partNumberMarker?: number; maxParts: number }): Promise<ListPartsOutput> {
      const bucket = await access(principal, { action: 'read', bucket: input.bucket, key: input.key });
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
      const bucket = await access(principal, { action: 'list', bucket: input.bucket, prefix: input.prefix ?? '' });
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

    /** GetObjectAcl: the owner's view of an object's canned ACL (public ACLs never open ACL reads, as on AWS). */
    async getObjectAcl(principal: Principal, input: ObjectRef & Cancellable): Promise<AclView> {
      const bucket = await access(principal, { action: 'read', bucket: input.bucket, key: input.key });
      await backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key });
      const acl = acls && (await acls.mayHaveAcls(bucket.id)) ? await acls.get(bucket.id, input.key) : undefined;
      return { acl: acl ?? 'private', ownerId: bucket.userId };
    },

    /** PutObjectAcl on an existing object (NoSuchKey otherwise); the ACL (header or XML body) is read only once authorized. */
    async putObjectAcl(principal: Principal, input: ObjectRef & Cancellable & { acl: AfterAuthorization<CannedAcl> }): Promise<void> {
      const bucket = await access(principal, { action: 'write', bucket: input.bucket, key: input.key });
      const acl = await afterAuthorization(input.acl);
      await admitAcl(bucket, acl);
      await backend.headObject({ signal: input.signal, bucket: bucket.backendName, key: input.key });
      if (!acls) return;
      if (isNonPrivate(acl)) await acls.set(bucket, input.key, acl);
      else if (await acls.mayHaveAcls(bucket.id)) {
        await acls.clear(bucket.id, input.key);
        await acls.releaseIfUnused(bucket.id);
      }
    },

    /** GetBucketAcl (the key's scope must cover the bucket). */
    async getBucketAcl(principal: Principal, name: string): Promise<AclView> {
      const bucket = await access(principal, { action: 'bucketInfo', bucket: name });
      return { acl: bucket.acl, ownerId: bucket.userId };
    },

    /**
     * PutBucketAcl (and CreateBucket's x-amz-acl): opening a bucket to others is the account's
     * act, like creating it (`bucketAdmin`: an unrestricted key or a session).
     */
    async putBucketAcl(principal: Principal, name: string, aclInput: AfterAuthorization<CannedAcl>): Promise<void> {
      authorize(principal, { action: 'bucketAdmin' });
      await resolve(principal, name);
      const acl = await afterAuthorization(aclInput);
      if (isNonPrivate(acl) && !publicAccess) throw new S3Error('AccessDenied', PUBLIC_ACCESS_DISABLED);
      await buckets.setAcl(principal.accountId, name, acl);
    },

    /** CreateBucket with x-amz-acl, before the bucket is created: the ACL must be settable (public access on, public name free). */
    async admitBucketAcl(principal: Principal, name: string, acl: CannedAcl | undefined): Promise<void> {
      if (!isNonPrivate(acl)) return;
      if (!publicAccess) throw new S3Error('AccessDenied', PUBLIC_ACCESS_DISABLED);
      await buckets.assertPublicNameAvailable(principal.accountId, name);
    },
  };
  return service;
}
