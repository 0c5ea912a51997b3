import type { AccountsRepository } from '../accounts/accounts.repository.ts';
import type { BucketsRepository } from '../buckets/buckets.repository.ts';
import { createChangeClearedCache } from '../db/change-cleared-cache.ts';
import type { ChangeWatcher } from '../db/change-watcher.ts';
import type { BucketRow } from '../db/schema.ts';
import { createAccountCounter } from '../limits/account-counter.ts';
import { isLimitsUnavailable } from '../limits/errors.ts';
import { failOpenResult, type RateCharge } from '../limits/rate-limiter.ts';
import type { QuotaStore, QuotaTicket } from '../limits/quota-store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { AdmitWrite, StorageBackend, UsageChange } from '../storage/storage-backend.ts';
import { countLimitError, quotaExceededError } from './quotas.errors.ts';

export type QuotasUsecases = ReturnType<typeof createQuotasUsecases>;

export interface AccountUsage {
  /** Stored object bytes plus bytes of multipart uploads in progress: what the quota counts. */
  usedBytes: number;
  objectBytes: number;
  objects: number;
  multipartBytes: number;
  quotaBytes: number;
  buckets: { name: string; bytes: number; objects: number; multipartBytes: number }[];
}

/**
 * A hold on quota for one write: `reserve` took what the write was expected to add before its body
 * was read; `admit` (handed to the backend as `AdmitWrite`) settles the write against what it
 * actually changes when it commits. Settle it exactly once, whatever the outcome.
 */
export interface QuotaHold {
  /** The account's quota when the hold was taken. */
  quotaBytes: number;
  admit: AdmitWrite;
  /** Resolves to the account's used bytes as re-read from the backend after the write (for quota events). */
  settle(): Promise<number | undefined>;
}

/**
 * Counts per account that must not grow without bound although they cost no bytes (objects,
 * multipart uploads in progress). The check reads the backend's count and adds the claims of
 * writes admitted in this process but not yet settled (their rows may not be counted yet); the
 * claim is taken in the same synchronous step as the comparison, so concurrent requests in one
 * process cannot pass it together. Gateways sharing a DATA_DIR or a store check independently:
 * across processes the limit can be passed by at most the number of requests in flight.
 */
/** How long a count read by this process stands in for a fresh one (see `objectCounts`). */
const OBJECT_COUNT_REUSE_MS = 1000;
/** Accounts whose quota and bucket list stay cached (see `quotaRows`, `ownedBuckets`). */
const MAX_CACHED_ACCOUNTS = 10_000;

function createCountGate() {
  const pending = createAccountCounter();
  return {
    /** Claims one slot or throws `refuse(current)`; the returned function gives it back (idempotent). */
    async claim(userId: string, limit: number, count: () => Promise<number>, refuse: (current: number) => Error): Promise<() => void> {
      if (limit <= 0) return () => {};
      const counted = await count();
      const claimed = pending.get(userId);
      if (counted + claimed + 1 > limit) throw refuse(counted + claimed);
      return pending.add(userId);
    },
  };
}

/**
 * Storage quotas. The backend's per-bucket usage is the truth (exact, maintained in the same
 * transaction as each change); the quota store only adds what no database can: atomic
 * reservations for uploads in flight, shared across gateways through Redis. After every change
 * the account's figure is re-read from the backend and pushed to the store (`resync`), in the
 * same step as the reservation is dropped, so the store never undercounts in between; a ticket
 * taken before the read keeps a figure read earlier by another gateway from replacing it.
 *
 * A reservation taken before the body is read is only an estimate: what an overwrite replaces
 * can change while its body arrives (the old object deleted, or replaced by a smaller one). The
 * backend therefore calls the hold's `admit` with the change measured at commit, and the hold
 * reserves whatever that exceeds the reservation by, or refuses the write.
 */
export function createQuotasUsecases(deps: {
  accountsRepository: AccountsRepository;
  bucketsRepository: BucketsRepository;
  backend: StorageBackend;
  quotaStore: QuotaStore;
  /** Clears the cached quotas and bucket lists on any metadata change, this process's or another's. */
  changes: ChangeWatcher;
  defaultQuotaBytes: number;
  /** MAX_OBJECTS_PER_ACCOUNT; 0 or absent: no limit. */
  maxObjectsPerAccount?: number;
  /** MAX_UPLOADS_PER_ACCOUNT (multipart uploads in progress); 0 or absent: no limit. */
  maxUploadsPerAccount?: number;
  /** Ages the object counts the count limit reuses; without it they are read afresh for every new object. */
  clock?: Clock;
  logger: Logger;
}) {
  const { accountsRepository, bucketsRepository, backend, quotaStore, logger } = deps;
  /**
   * The account's object count as of the last time this process read its totals (every write's
   * settlement does), reused by the object limit for OBJECT_COUNT_REUSE_MS instead of re-reading
   * every bucket before each new object. Writes of this process are exact (a write releases its
   * claim only after its settlement refreshed the count); another process's writes are seen at
   * most that much later, which widens the cross-process slack of the limit by them.
   */
  const objectCounts = new Map<string, { objects: number; at: number }>();
  const maxObjects = deps.maxObjectsPerAccount ?? 0;
  const maxUploads = deps.maxUploadsPerAccount ?? 0;
  const objectsGate = createCountGate();
  const uploadsGate = createCountGate();

  // Every write reads the account's quota (reserve) and its buckets (the settlement sums their
  // usage): two metadata queries per PUT that almost never change. Both are cached and dropped on
  // any metadata change (a quota set here notifies; bucket creation and deletion do; another
  // process's changes arrive through the change watcher), like the bucket resolutions. The bytes
  // themselves are never cached: every settlement re-reads each bucket's usage from the backend.
  const quotaRows = createChangeClearedCache({
    changes: deps.changes,
    load: async (userId): Promise<number | null> => (await accountsRepository.findById(userId))?.quotaBytes ?? null,
    maxEntries: MAX_CACHED_ACCOUNTS,
  });
  const ownedBuckets = createChangeClearedCache({
    changes: deps.changes,
    load: (userId): Promise<BucketRow[]> => bucketsRepository.listForOwner(userId),
    maxEntries: MAX_CACHED_ACCOUNTS,
  });

  const quotaOf = async (userId: string): Promise<number> => (await quotaRows.get(userId)) ?? deps.defaultQuotaBytes;

  /** The account's stored totals (no quota lookup: a write's hot path needs only these). */
  async function totals(userId: string): Promise<Omit<AccountUsage, 'quotaBytes'>> {
    const buckets = await Promise.all((await ownedBuckets.get(userId)).map(async (bucket) => ({ name: bucket.name, ...(await backend.local.usage(bucket.backendName)) })));
    const objectBytes = buckets.reduce((sum, bucket) => sum + bucket.bytes, 0);
    const multipartBytes = buckets.reduce((sum, bucket) => sum + bucket.multipartBytes, 0);
    const objects = buckets.reduce((sum, bucket) => sum + bucket.objects, 0);
    if (deps.clock) objectCounts.set(userId, { objects, at: deps.clock.now().getTime() });
    return {
      usedBytes: objectBytes + multipartBytes,
      objectBytes,
      objects,
      multipartBytes,
      buckets,
    };
  }

  async function usage(userId: string): Promise<AccountUsage> {
    return { ...(await totals(userId)), quotaBytes: await quotaOf(userId) };
  }

  async function usedBytes(userId: string): Promise<number> {
    return (await totals(userId)).usedBytes;
  }

  async function uploadsInProgress(userId: string): Promise<number> {
    const counts = await Promise.all((await ownedBuckets.get(userId)).map((bucket) => backend.local.countUploads(bucket.backendName)));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * The store's ticket for a figure about to be read (see `QuotaTicket`: other gateways settle
   * their writes concurrently), taken after the change it follows committed; undefined when the
   * store is unavailable.
   */
  async function ticketFor(userId: string): Promise<QuotaTicket | undefined> {
    try {
      return await quotaStore.ticket(userId);
    } catch (error) {
      if (!isLimitsUnavailable(error)) throw error;
      return undefined;
    }
  }

  /**
   * Pushes the backend's figure to the store, ordered by a ticket (and returns it). Without a
   * ticket (the store failed to give one) nothing is pushed: a figure set out of order could drop
   * another gateway's write, while leaving the store's figure as it is only over-counts, until
   * the next write's settle pushes a fresh one. A store outage thus only costs accuracy, never room.
   */
  async function resync(userId: string): Promise<number> {
    const ticket = await ticketFor(userId);
    const used = await usedBytes(userId);
    if (!ticket) return used;
    try {
      await quotaStore.resync(userId, used, ticket);
    } catch (error) {
      if (!isLimitsUnavailable(error)) throw error;
    }
    return used;
  }

  /**
   * Reserves `bytes` more for the account (one atomic check-and-add against used + reserved);
   * the reservation id and its mark, or undefined when the store is unavailable and the check fell back to
   * stored usage, where the write must fit with `wholeChange` bytes on top.
   */
  async function take(userId: string, quotaBytes: number, bytes: number, wholeChange: number, charge?: RateCharge): Promise<{ id: string; mark: QuotaTicket } | undefined> {
    try {
      const result = await quotaStore.reserve(userId, bytes, quotaBytes, charge && { key: charge.key, rule: charge.rule });
      if (charge) charge.settle(result.rate ?? failOpenResult(charge.rule));
      if (!result.ok) throw quotaExceededError({ ...result, requestedBytes: bytes });
      return { id: result.reservationId, mark: result.mark };
    } catch (error) {
      if (!isLimitsUnavailable(error)) throw error;
      // The store failed before answering: the rate check fails open, as RateLimiter.check does.
      charge?.settle(failOpenResult(charge.rule));
      logger.warn('quota store unavailable: checking against stored usage without a reservation', { userId });
      const used = await usedBytes(userId);
      if (used + wholeChange > quotaBytes) throw quotaExceededError({ usedBytes: used, reservedBytes: 0, quotaBytes, requestedBytes: wholeChange });
      return undefined;
    }
  }

  return {
    usage,
    usedBytes,
    resync,

    /** Bytes held by uploads in flight (0 while the store is unavailable): what `reserve` checks on top of usage. */
    async reservedBytes(userId: string): Promise<number> {
      try {
        return (await quotaStore.usage(userId)).reservedBytes;
      } catch (error) {
        if (!isLimitsUnavailable(error)) throw error;
        return 0;
      }
    },

    /**
     * Reserves room for an upload that is expected to add `growthBytes` (new size minus the size
     * it replaces) before its body is read; throws QuotaExceeded (403) when it cannot fit. Pass
     * the hold's `admit` to the backend: it settles the write against what it really replaces.
     * With the store unavailable (Redis down) the checks fall back to the backend's usage without
     * a reservation. A `charge` (the request's rate-limit check) runs in the same store call as the
     * reservation: with Redis, the upload's one round trip before its body.
     */
    async reserve(userId: string, growthBytes: number, charge?: RateCharge): Promise<QuotaHold> {
      const reservations: string[] = [];
      /** The first reservation's mark: the settle's order when nothing else settled meanwhile (QuotaTicket). */
      let mark: QuotaTicket | undefined;
      // Read once per write: the reservation, the admission at commit and the quota events use the same figure.
      const quotaBytes = await quotaOf(userId);
      /** Bytes this hold has already been admitted for (reserved, or checked during an outage). */
      let held = Math.max(0, growthBytes);
      // A write that adds nothing needs no reservation (the store would grant it even over quota),
      // unless it carries its rate check: then a 0-byte one, dropped at settle.
      if (held > 0 || charge) {
        const taken = await take(userId, quotaBytes, held, held, charge);
        if (taken) {
          reservations.push(taken.id);
          mark = taken.mark;
        }
      }
      let releaseObject: (() => void) | undefined;
      let settled = false;
      return {
        quotaBytes,
        async admit(change: UsageChange) {
          if (settled) throw new Error('quota hold: admit after settle');
          const extra = change.bytes - held;
          if (extra > 0) {
            const taken = await take(userId, quotaBytes, extra, change.bytes);
            if (taken) {
              reservations.push(taken.id);
              mark ??= taken.mark;
            }
            held = change.bytes;
          }
          if (change.objects > 0 && !releaseObject) {
            releaseObject = await objectsGate.claim(
              userId,
              maxObjects,
              async () => {
                const known = objectCounts.get(userId);
                if (known && deps.clock && deps.clock.now().getTime() - known.at <= OBJECT_COUNT_REUSE_MS) return known.objects;
                return (await totals(userId)).objects;
              },
              (current) => countLimitError({ what: 'objects', current, limit: maxObjects }),
            );
          }
        },
        async settle() {
          if (settled) return undefined;
          settled = true;
          try {
            const unavailable = (error: unknown): true => {
              if (!isLimitsUnavailable(error)) throw error;
              return true;
            };
            // One store call when no other write of the account settled since this one reserved
            // (its mark): the reservations end and the figure read after this write's commit,
            // which includes every write settled before the mark, is pushed in the same step.
            // Otherwise the store does nothing but hand out a ticket in that same call (a write
            // without a reservation, which has no mark, asks for one); then the figure again
            // (which then includes this write and every write settled under an earlier ticket),
            // then the settle, which sets it unless a later ticket's figure is already there: one
            // more round trip and a second read. A mark settle the store fails leaves the
            // reservations to expire, as it did before marks.
            let ticket: QuotaTicket | undefined;
            if (mark) {
              const used = await usedBytes(userId);
              const settledOrTicket = await quotaStore.settle(userId, used, reservations, { mark }).catch(unavailable);
              // true: settled, or the store failed (`unavailable`): its reservations then expire.
              if (settledOrTicket === true) return used;
              ticket = settledOrTicket;
            } else {
              ticket = await ticketFor(userId);
            }
            // Without a ticket (store unavailable) nothing is pushed and the reservations stay
            // until they expire (QUOTA_RESERVATION_TTL_MS), as when the settle itself fails: an
            // over-count, never a figure that could drop another gateway's write.
            const used = await usedBytes(userId);
            if (ticket) await quotaStore.settle(userId, used, reservations, { ticket }).catch(unavailable);
            return used;
          } finally {
            // The committed object (if any) is in the backend's count by now.
            releaseObject?.();
          }
        },
      };
    },

    /**
     * Runs `create` (CreateMultipartUpload) if the account has fewer than MAX_UPLOADS_PER_ACCOUNT
     * multipart uploads in progress, else throws QuotaExceeded: uploads cost no bytes until their
     * parts arrive, but each is a row in the index.
     */
    async admitUpload<T>(userId: string, create: () => Promise<T>): Promise<T> {
      const release = await uploadsGate.claim(
        userId,
        maxUploads,
        () => uploadsInProgress(userId),
        (current) => countLimitError({ what: 'uploads', current, limit: maxUploads }),
      );
      try {
        return await create();
      } finally {
        release();
      }
    },

    /**
     * Sets the account's quota; null returns it to DEFAULT_QUOTA_BYTES. The cached quotas are
     * dropped at once in this process (and in the others as soon as their change watcher sees the
     * commit), so the next upload is held to the new figure.
     */
    async setQuota(userId: string, quotaBytes: number | null): Promise<void> {
      await accountsRepository.setQuota(userId, quotaBytes);
      deps.changes.notify();
    },

    /** The quota the account is held to: its own, else the configured default. */
    quotaOf,
  };
}
