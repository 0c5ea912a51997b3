import type { BucketRow } from '../db/schema.ts';
import { newBackendBucketSuffix, newId } from '../ids.ts';
import type { ChangeWatcher } from '../db/change-watcher.ts';
import { createChangeClearedCache } from '../db/change-cleared-cache.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { bucketNameProblem } from './bucket-names.ts';
import { bucketAlreadyOwnedError, bucketLimitReachedError, bucketNotFoundError, invalidBucketNameError, publicNameTakenError } from './buckets.errors.ts';
import type { BucketsRepository } from './buckets.repository.ts';
import { systemClock, type Clock } from '../clock.ts';
import { CLI_ORIGIN, domainEvent, type EventOrigin } from '../events/domain-event.ts';
import type { DomainEvent } from '../events/events.ts';

export type BucketsUsecases = ReturnType<typeof createBucketsUsecases>;

/** What an account's bucket name resolves to from that account's point of view. */
export type BucketResolution =
  | { kind: 'owned'; bucket: BucketRow }
  | { kind: 'foreign' } // another account has a bucket of this name: AccessDenied, never its contents
  | { kind: 'missing' };

/** Bound on cached resolutions: lookups of names nobody owns must not grow memory without limit. */
const MAX_CACHED_RESOLUTIONS = 10_000;

export function createBucketsUsecases(deps: {
  bucketsRepository: BucketsRepository;
  backend: StorageBackend;
  maxBucketsPerAccount: number;
  backendBucketPrefix: string;
  changes: ChangeWatcher;
  /** The event log: `bucket.created` / `bucket.deleted` are appended in the bucket row's transaction. */
  eventLog?: { append(events: DomainEvent[]): Promise<unknown> };
  clock?: Clock;
}) {
  const clock = deps.clock ?? systemClock;
  const { bucketsRepository, backend } = deps;
  const cache = <V>(load: (key: string) => Promise<V>) => createChangeClearedCache({ changes: deps.changes, load, maxEntries: MAX_CACHED_RESOLUTIONS });

  // Every S3 request resolves its bucket (key: `${userId}/${name}`; ids hold no `/`), loaded only on a miss.
  const resolutions = cache(async (cacheKey): Promise<BucketResolution> => {
    const slash = cacheKey.indexOf('/');
    const userId = cacheKey.slice(0, slash);
    const name = cacheKey.slice(slash + 1);
    const bucket = await bucketsRepository.findByOwnerAndName(userId, name);
    if (bucket) return { kind: 'owned', bucket };
    return (await bucketsRepository.existsForAnotherOwner(userId, name)) ? { kind: 'foreign' } : { kind: 'missing' };
  });

  // CORS rules a credential-less preflight is answered from, per bucket name (undefined: none applies).
  const preflightCors = cache(async (name): Promise<unknown[] | undefined> => {
    const candidates = await bucketsRepository.corsCandidatesByName(name);
    if (candidates.length === 0) return undefined;
    return candidates.length === 1 ? (candidates[0]!.cors ?? undefined) : candidates.flatMap((candidate) => candidate.cors ?? []);
  });

  // Names in the public namespace (anonymous and other accounts' requests): undefined for "no public bucket".
  const publicResolutions = cache((name) => bucketsRepository.findPublicByName(name));

  return {
    /** The buckets the account sees (ListBuckets, the dashboard): internal ones (the trash) are left out. */
    async list(userId: string): Promise<BucketRow[]> {
      return (await bucketsRepository.listForOwner(userId)).filter((bucket) => !bucket.internal);
    },

    resolve(userId: string, name: string): Promise<BucketResolution> {
      return resolutions.get(`${userId}/${name}`);
    },

    async create(userId: string, name: string, origin: EventOrigin = CLI_ORIGIN): Promise<BucketRow> {
      const problem = bucketNameProblem(name);
      if (problem) throw invalidBucketNameError(problem);
      if (await bucketsRepository.findByOwnerAndName(userId, name)) throw bucketAlreadyOwnedError(name);
      if ((await bucketsRepository.countForOwner(userId)) >= deps.maxBucketsPerAccount) throw bucketLimitReachedError(deps.maxBucketsPerAccount);
      // The backend name is random, not derived from the account's name: account names repeat
      // across accounts, and a random name leaks nothing to other tenants of a shared backend.
      const backendName = `${deps.backendBucketPrefix}${newBackendBucketSuffix()}`;
      await backend.createBucket(backendName);
      try {
        const created = await bucketsRepository.transaction(async () => {
          // Counted again under the account's lock: the check above let concurrent creations all through.
          await bucketsRepository.lockAccountBuckets(userId);
          if ((await bucketsRepository.countForOwner(userId)) >= deps.maxBucketsPerAccount) throw bucketLimitReachedError(deps.maxBucketsPerAccount);
          const row = await bucketsRepository.insert({ id: newId(), userId, name, backendName });
          await deps.eventLog?.append([domainEvent(clock, 'bucket.created', userId, origin, { bucket: name })]);
          return row;
        });
        deps.changes.notify();
        return created;
      } catch (error) {
        // A concurrent create of the same name won the unique index: undo our backend bucket.
        await backend.deleteBucket(backendName).catch(() => undefined);
        if (await bucketsRepository.findByOwnerAndName(userId, name).catch(() => undefined)) throw bucketAlreadyOwnedError(name);
        throw error;
      }
    },

    /** Sets (validated rules) or removes (null) the CORS configuration of the caller's bucket `name`. */
    async setCors(userId: string, name: string, rules: unknown[] | null): Promise<void> {
      const bucket = await bucketsRepository.findByOwnerAndName(userId, name);
      if (!bucket || !(await bucketsRepository.setCors(bucket.id, rules))) throw bucketNotFoundError(name);
      deps.changes.notify();
    },

    /**
     * The CORS rules a preflight for bucket `name` is answered from. A preflight carries no
     * credentials and names are per account, so the URL cannot tell whose bucket it means: the
     * rules of every bucket of that name are consulted, the public name's holder first. Choosing
     * none when several accounts configured one would let any account break another's browser
     * uploads by configuring CORS on a bucket of the same name (every account has `default`). A
     * preflight only lets a page send a request; the gateway still authenticates it, and a signed
     * request's own response headers come from the caller's own bucket (applyRequestCors).
     */
    corsForPreflight(name: string): Promise<unknown[] | undefined> {
      return preflightCors.get(name);
    },

    /**
     * The bucket that holds `name` in the public namespace (its ACL or one of its objects' is not
     * private), for callers that do not own a bucket of that name; undefined when none does.
     */
    resolvePublic(name: string): Promise<BucketRow | undefined> {
      return publicResolutions.get(name);
    },

    /** CreateBucket with a public ACL: refused before the bucket exists when another account's public bucket holds the name. */
    async assertPublicNameAvailable(userId: string, name: string): Promise<void> {
      const holder = await bucketsRepository.findPublicByName(name);
      if (holder && holder.userId !== userId) throw publicNameTakenError(name);
    },

    /**
     * Sets the canned ACL of the caller's bucket `name`. A non-private ACL claims the name in the
     * public namespace in the same transaction (publicNameTakenError when another account's bucket
     * holds it); back to private, the claim is released unless an object ACL still needs it.
     */
    async setAcl(userId: string, name: string, acl: BucketRow['acl']): Promise<BucketRow> {
      const bucket = await bucketsRepository.findByOwnerAndName(userId, name);
      if (!bucket) throw bucketNotFoundError(name);
      await bucketsRepository.transaction(async () => {
        await bucketsRepository.lockPublicName(bucket.id);
        if (acl !== 'private' && !(await bucketsRepository.claimPublicName(bucket.id, bucket.name))) throw publicNameTakenError(name);
        if (!(await bucketsRepository.setAcl(bucket.id, acl))) throw bucketNotFoundError(name);
        if (acl === 'private') await bucketsRepository.releasePublicNameIfUnused(bucket.id);
      });
      deps.changes.notify();
      return { ...bucket, acl };
    },

    /** Fails with the backend's BucketNotEmpty while objects remain. */
    async remove(userId: string, name: string, origin: EventOrigin = CLI_ORIGIN): Promise<void> {
      const bucket = await bucketsRepository.findByOwnerAndName(userId, name);
      if (!bucket) throw bucketNotFoundError(name);
      await backend.deleteBucket(bucket.backendName);
      await bucketsRepository.transaction(async () => {
        // A concurrent remove that got there first records the event, once.
        if (await bucketsRepository.delete(bucket.id)) await deps.eventLog?.append([domainEvent(clock, 'bucket.deleted', userId, origin, { bucket: name })]);
      });
      deps.changes.notify();
    },
  };
}
