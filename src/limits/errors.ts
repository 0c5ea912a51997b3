import type { Redis } from 'ioredis';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';

/**
 * A limits backend could not answer. `reason`:
 * - `unavailable`: Redis is down, slow (timed out) or refused the command. The caller falls back
 *   to the database's usage (quota) — rate limiting never throws this, it fails open instead.
 * - `unsynced`: the store has no usage figure for this account (fresh process, Redis restarted
 *   empty, key evicted). The caller loads usage from the database and calls `resync`, or builds the
 *   store with `loadUsage` so it does that itself.
 */
export class LimitsUnavailableError extends Error {
  constructor(
    readonly reason: 'unavailable' | 'unsynced',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LimitsUnavailableError';
  }
}

export function isLimitsUnavailable(error: unknown, reason?: LimitsUnavailableError['reason']): error is LimitsUnavailableError {
  return error instanceof LimitsUnavailableError && (reason === undefined || error.reason === reason);
}

/** Rejects with `LimitsUnavailableError('unavailable')` when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LimitsUnavailableError('unavailable', `${what}: no answer from Redis within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `withTimeout` for the commands of one client, without a timer of its own when the client already
 * fails every command after at most `ms` (ioredis `commandTimeout`; `createLimits` gives its client
 * the same bound): a second timer and a race per command, on every request of a server whose
 * limits live in Redis, would bound nothing more (about 1 µs of a check's 15 µs of client CPU).
 */
export function commandBound(redis: Pick<Redis, 'options'>, ms: number): <T>(promise: Promise<T>, what: string) => Promise<T> {
  const clientBound = redis.options.commandTimeout;
  if (typeof clientBound === 'number' && clientBound > 0 && clientBound <= ms) return (promise) => promise;
  return (promise, what) => withTimeout(promise, ms, what);
}

/**
 * Logs a backend outage once, then at most once per `intervalMs` with the number of failures in
 * between, and once when it recovers: an outage at 1000 requests/s must not write 1000 lines/s.
 */
export function createOutageReporter(logger: Logger, clock: Clock, component: string, intervalMs = 10_000) {
  let down = false;
  let lastLoggedAt = 0;
  let suppressed = 0;
  return {
    failure(error: unknown): void {
      const now = clock.now().getTime();
      const message = error instanceof Error ? error.message : String(error);
      if (!down || now - lastLoggedAt >= intervalMs || now < lastLoggedAt) {
        logger.warn(`${component}: Redis unavailable, degraded`, { error: message, failuresSinceLastLog: suppressed });
        lastLoggedAt = now;
        suppressed = 0;
      } else {
        suppressed += 1;
      }
      down = true;
    },
    success(): void {
      if (!down) return;
      down = false;
      logger.info(`${component}: Redis reachable again`, { failuresSinceLastLog: suppressed });
      suppressed = 0;
    },
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
