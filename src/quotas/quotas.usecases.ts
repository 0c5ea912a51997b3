import type { AccountsRepository } from '../accounts/accounts.repository.ts';
import type { BucketsRepository } from '../buckets/buckets.repository.ts';
import { isLimitsUnavailable } from '../limits/errors.ts';
import type { QuotaStore } from '../limits/quota-store.ts';
import type { Logger } from '../logger.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { quotaExceededError } from './quotas.errors.ts';

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

/** A hold on quota for one upload: settle it exactly once, whatever the outcome. */
export interface QuotaHold {
  settle(): Promise<void>;
}

/**
 * Storage quotas. The backend's per-bucket usage is the truth (exact, maintained in the same
 * transaction as each change); the quota store only adds what no database can: atomic
 * reservations for uploads in flight, shared across gateways through Redis. After every change
 * the account's figure is re-read from the backend and pushed to the store (`resync`), before the
 * reservation is dropped, so the store never undercounts in between.
 */
export function createQuotasUsecases(deps: {
  accountsRepository: AccountsRepository;
  bucketsRepository: BucketsRepository;
  backend: StorageBackend;
  quotaStore: QuotaStore;
  defaultQuotaBytes: number;
  logger: Logger;
}) {
  const { accountsRepository, bucketsRepository, backend, quotaStore, logger } = deps;

  const quotaOf = (userId: string): number => accountsRepository.findById(userId)?.quotaBytes ?? deps.defaultQuotaBytes;

  async function usage(userId: string): Promise<AccountUsage> {
    const buckets = await Promise.all(
      bucketsRepository.listForOwner(userId).map(async (bucket) => ({ name: bucket.name, ...(await backend.usage(bucket.backendName)) })),
    );
    const objectBytes = buckets.reduce((sum, bucket) => sum + bucket.bytes, 0);
    const multipartBytes = buckets.reduce((sum, bucket) => sum + bucket.multipartBytes, 0);
    return {
      usedBytes: objectBytes + multipartBytes,
      objectBytes,
      objects: buckets.reduce((sum, bucket) => sum + bucket.objects, 0),
      multipartBytes,
      quotaBytes: quotaOf(userId),
      buckets,
    };
  }

  async function usedBytes(userId: string): Promise<number> {
    return (await usage(userId)).usedBytes;
  }

  /** Pushes the backend's figure to the store; a store outage only costs accuracy until the next resync. */
  async function resync(userId: string): Promise<void> {
    try {
      await quotaStore.resync(userId, await usedBytes(userId));
    } catch (error) {
      if (!isLimitsUnavailable(error)) throw error;
    }
  }

  return {
    usage,
    usedBytes,
    resync,

    /**
     * Reserves room for an upload that adds `growthBytes` (new size minus the size it replaces)
     * before its body is read; throws QuotaExceeded (403) when it cannot fit. With the store
     * unavailable (Redis down) the check falls back to the backend's usage without a reservation.
     */
    async reserve(userId: string, growthBytes: number): Promise<QuotaHold> {
      const quotaBytes = quotaOf(userId);
      const requested = Math.max(0, growthBytes);
      let reservationId: string | undefined;
      try {
        const result = await quotaStore.reserve(userId, requested, quotaBytes);
        if (!result.ok) throw quotaExceededError({ ...result, requestedBytes: requested });
        reservationId = result.reservationId;
      } catch (error) {
        if (!isLimitsUnavailable(error)) throw error;
        logger.warn('quota store unavailable: checking against stored usage without a reservation', { userId });
        const used = await usedBytes(userId);
        if (used + requested > quotaBytes) throw quotaExceededError({ usedBytes: used, reservedBytes: 0, quotaBytes, requestedBytes: requested });
      }
      let settled = false;
      return {
        async settle() {
          if (settled) return;
          settled = true;
          await resync(userId);
          if (reservationId) await quotaStore.release(userId, reservationId).catch((error: unknown) => {
            if (!isLimitsUnavailable(error)) throw error;
          });
        },
      };
    },

    /**
     * Sets the account's quota; null returns it to DEFAULT_QUOTA_BYTES. `reserve` reads the quota
     * afresh on every upload, so the next upload is held to the new figure.
     */
    async setQuota(userId: string, quotaBytes: number | null): Promise<void> {
      accountsRepository.setQuota(userId, quotaBytes);
    },

    /** The quota the account is held to: its own, else the configured default. */
    quotaOf,
  };
}
