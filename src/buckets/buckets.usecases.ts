import type { BucketRow } from '../db/schema.ts';
import { newBackendBucketSuffix, newId } from '../ids.ts';
import type { ChangeWatcher } from '../db/change-watcher.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { bucketNameProblem } from './bucket-names.ts';
import { bucketAlreadyOwnedError, bucketLimitReachedError, bucketNotFoundError, invalidBucketNameError } from './buckets.errors.ts';
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
  eventLog?: { appendSync(events: DomainEvent[]): number };
  clock?: Clock;
}) {
  const clock = deps.clock ?? systemClock;
  const { bucketsRepository, backend } = deps;
  // Every S3 request resolves its bucket: cache the answers, dropped on any database change.
  let resolutions = new Map<string, BucketResolution>();
  deps.changes.subscribe(() => {
    resolutions = new Map();
  });

  return {
    list(userId: string): BucketRow[] {
      return bucketsRepository.listForOwner(userId);
    },

    resolve(userId: string, name: string): BucketResolution {
      const cacheKey = `${userId}/${name}`;
      const cached = resolutions.get(cacheKey);
      if (cached) return cached;
      const bucket = bucketsRepository.findByOwnerAndName(userId, name);
      const resolution: BucketResolution = bucket ? { kind: 'owned', bucket } : bucketsRepository.existsForAnotherOwner(userId, name) ? { kind: 'foreign' } : { kind: 'missing' };
      if (resolutions.size >= MAX_CACHED_RESOLUTIONS) resolutions = new Map();
      resolutions.set(cacheKey, resolution);
      return resolution;
    },

    async create(userId: string, name: string, origin: EventOrigin = CLI_ORIGIN): Promise<BucketRow> {
      const problem = bucketNameProblem(name);
      if (problem) throw invalidBucketNameError(problem);
      if (bucketsRepository.findByOwnerAndName(userId, name)) throw bucketAlreadyOwnedError(name);
      if (bucketsRepository.countForOwner(userId) >= deps.maxBucketsPerAccount) throw bucketLimitReachedError(deps.maxBucketsPerAccount);
      // The backend name is random, not derived from the account's name: account names repeat
      // across accounts, and a random name leaks nothing to other tenants of a shared backend.
      const backendName = `${deps.backendBucketPrefix}${newBackendBucketSuffix()}`;
      await backend.createBucket(backendName);
      try {
        const created = bucketsRepository.transaction(() => {
          const row = bucketsRepository.insert({ id: newId(), userId, name, backendName });
          deps.eventLog?.appendSync([domainEvent(clock, 'bucket.created', userId, origin, { bucket: name })]);
          return row;
        });
        deps.changes.notify();
        return created;
      } catch (error) {
        // A concurrent create of the same name won the unique index: undo our backend bucket.
        await backend.deleteBucket(backendName).catch(() => undefined);
        if (bucketsRepository.findByOwnerAndName(userId, name)) throw bucketAlreadyOwnedError(name);
        throw error;
      }
    },

    /** Fails with the backend's BucketNotEmpty while objects remain. */
    async remove(userId: string, name: string, origin: EventOrigin = CLI_ORIGIN): Promise<void> {
      const bucket = bucketsRepository.findByOwnerAndName(userId, name);
      if (!bucket) throw bucketNotFoundError(name);
      await backend.deleteBucket(bucket.backendName);
      bucketsRepository.transaction(() => {
        // A concurrent remove that got there first records the event, once.
        if (bucketsRepository.delete(bucket.id)) deps.eventLog?.appendSync([domainEvent(clock, 'bucket.deleted', userId, origin, { bucket: name })]);
      });
      deps.changes.notify();
    },
  };
}
