import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { createMemoryQuotaStore } from './memory-quota-store.ts';
import { createMemoryRateLimiter } from './memory-rate-limiter.ts';
import type { QuotaStore } from './quota-store.ts';
import { closeRedisClient, createRedisClient, waitForRedis } from './redis-client.ts';
import { createRedisQuotaStore } from './redis-quota-store.ts';
import { createRedisRateLimiter } from './redis-rate-limiter.ts';
import type { RateLimiter } from './rate-limiter.ts';

export * from './errors.ts';
export * from './quota-store.ts';
export * from './rate-limiter.ts';
export { createMemoryQuotaStore } from './memory-quota-store.ts';
export { createMemoryRateLimiter } from './memory-rate-limiter.ts';
export { closeRedisClient, createRedisClient, waitForRedis } from './redis-client.ts';
export { createRedisQuotaStore } from './redis-quota-store.ts';
export { createRedisRateLimiter } from './redis-rate-limiter.ts';

export interface LimitsOptions {
  /** Redis URL (REDIS_URL). Unset: in-process counters, correct for a single gateway process only. */
  redisUrl?: string;
  /** Bound for each Redis call (REDIS_TIMEOUT_MS). Default 100. */
  timeoutMs?: number;
  /** Key prefix in a shared Redis. Default `cs:`. */
  keyPrefix?: string;
  /** Quota reservations older than this are reclaimed. Default 1 h. */
  reservationTtlMs?: number;
  /** Loads an account's used bytes from the database when the quota store has no figure for it. */
  loadUsage?: (accountId: string) => Promise<number>;
  clock?: Clock;
  logger?: Logger;
}

export interface Limits {
  rateLimiter: RateLimiter;
  quotaStore: QuotaStore;
  backend: 'redis' | 'memory';
  close(): Promise<void>;
}

/**
 * The rate limiter and quota store for this process: Redis-backed when `redisUrl` is set (waits up
 * to 2 s for a first connection, then starts anyway — limits fail open until Redis answers),
 * in-process otherwise.
 */
export async function createLimits(options: LimitsOptions): Promise<Limits> {
  const { clock, logger, reservationTtlMs, loadUsage } = options;
  if (!options.redisUrl) {
    const rateLimiter = createMemoryRateLimiter({ clock });
    const quotaStore = createMemoryQuotaStore({ clock, reservationTtlMs, loadUsage, rateLimiter });
    return {
      rateLimiter,
      quotaStore,
      backend: 'memory',
      async close() {
        await rateLimiter.close();
        await quotaStore.close();
      },
    };
  }
  const timeoutMs = options.timeoutMs ?? 100;
  const keyPrefix = options.keyPrefix ?? 'cs:';
  const redis = createRedisClient(options.redisUrl, { commandTimeoutMs: timeoutMs, logger, connectionName: 'cloudstorage-limits' });
  if (!(await waitForRedis(redis, 2_000))) logger?.warn('limits: Redis not reachable at startup; rate limits fail open until it is');
  return {
    rateLimiter: createRedisRateLimiter({ redis, clock, logger, keyPrefix, timeoutMs }),
    quotaStore: createRedisQuotaStore({ redis, clock, logger, keyPrefix, timeoutMs, reservationTtlMs, loadUsage }),
    backend: 'redis',
    close: () => closeRedisClient(redis),
  };
}
