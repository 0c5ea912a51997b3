/**
 * Storage quota bookkeeping per account: `used` (committed bytes) and `reserved` (bytes of uploads
 * in flight). An upload reserves its size before the body is accepted; the check and the add are
 * one atomic step against `used + reserved`, so concurrent uploads cannot jointly overrun the
 * quota. It then commits (the actual size delta moves into `used`, the reservation is dropped) or
 * releases. Reservations expire (`reservationTtlMs`, default 1 h) so a crashed upload cannot hold
 * quota forever; expired ones are reclaimed by the next operation on the account.
 *
 * Usage is known only after it was loaded from the database: an account the store has no figure
 * for (fresh process, Redis restarted empty, key evicted) is "unsynced", and `reserve` / `usage`
 * throw `LimitsUnavailableError('unsynced')` until `resync(accountId, usedBytesFromDb)` is called
 * (or the store loads it itself through the `loadUsage` option). Backend failures throw
 * `LimitsUnavailableError('unavailable')`: the caller falls back to the database's usage.
 *
 * Byte counts are non-negative safe integers; a quota may be `Infinity` (unlimited).
 */

import type { RateLimitResult, RateLimitRule } from './rate-limiter.ts';

/**
 * With a `rate` check, `rate` holds its result; a denied rate check reserves nothing (the result
 * is then `ok: false` with `rate.allowed === false`: callers look at `rate` first).
 */
export type ReserveResult = ({ ok: true; reservationId: string; mark: QuotaTicket } | { ok: false; usedBytes: number; reservedBytes: number; quotaBytes: number }) & {
  rate?: RateLimitResult;
};

/** A rate-limit check run in the same atomic step (Redis: the same script) as a reservation. */
export interface RateCheck {
  key: string;
  rule: RateLimitRule;
}

/**
 * A place in the order of the usage figures pushed to a store. Gateways settle their writes
 * concurrently, each with the figure it read after its own commit, and those figures can arrive
 * out of order: a figure read just before another gateway's write committed can land after that
 * write's settle dropped its reservation. Set blindly, it forgets that write until the next
 * settle, and one more upload fits than the quota allows. So a figure goes with one of these:
 * - a **ticket** (`QuotaStore.ticket`, taken before the figure is read): the figure is set only
 *   if none read under a later ticket was. A later ticket was taken after this write's commit,
 *   so that figure already includes the write.
 * - a **mark** (what `reserve` returned, before the body was read): the settle happens only if no
 *   other settle, and no ticket, came since the mark. Every write settled before the mark
 *   committed before this write did, so the figure includes it. This costs no round trip beyond
 *   the settle; when something came since, `settle` does nothing but take a ticket in the same
 *   step and returns it, and the caller reads again and settles under that ticket.
 * Commits and adjustments (which change `used` by a delta) move the order on as settles do.
 * `epoch` tells the store's lives apart: a ticket of another epoch (the Redis key was evicted or
 * deleted since) never sets a figure. Within an epoch the Redis store's order never goes below
 * the server's clock in microseconds, so a Redis rolled back (restarted from an older snapshot,
 * a lagging replica promoted) still orders every figure it sets after the rollback above the
 * tickets given before it.
 */
export interface QuotaTicket {
  readonly epoch: string;
  readonly seq: number;
}

/** How a figure is ordered (see `QuotaTicket`); none: set as it comes. */
export type QuotaOrder = { ticket: QuotaTicket } | { mark: QuotaTicket };

/** What `settle` did: `true` (done), or for a mark passed by, nothing but take this ticket. */
export type SettleResult = true | QuotaTicket;

export interface QuotaUsage {
  usedBytes: number;
  reservedBytes: number;
}

export interface QuotaStore {
  /**
   * Reserves `bytes` if `used + reserved + bytes <= quotaBytes`. For an overwrite pass only the
   * growth (`max(0, newSize − previousSize)`); 0 bytes always succeeds, even over quota.
   * With `rate`, the request's rate-limit check runs first in the same step (one Redis round trip
   * for both); it counts against the same state as `RateLimiter.check(rate.key, rate.rule)` of the
   * same backend, and a store failure fails both (the caller fails the rate check open).
   */
  reserve(accountId: string, bytes: number, quotaBytes: number, rate?: RateCheck): Promise<ReserveResult>;
  /**
   * The end of a write in one step: drops the reservations and sets `used` from the database's
   * figure (as `release` for each, then `resync`), so the store never undercounts in between.
   * With a ticket, the figure is set only if no later ticket's was (the reservations end either
   * way). With a mark, if another settle or a ticket came since the mark, nothing happens but
   * that a ticket is taken (as `ticket` would, in the same step: it saves the caller a round trip)
   * and returned, for the figure read again; otherwise the answer is true.
   */
  settle(accountId: string, usedBytes: number, reservationIds: string[], order?: QuotaOrder): Promise<SettleResult>;
  /**
   * A ticket for a usage figure about to be read (see `QuotaTicket`); it also ends every mark
   * handed out before it.
   */
  ticket(accountId: string): Promise<QuotaTicket>;
  /**
   * Ends a reservation and adds `actualDeltaBytes` (may be negative: overwrite with a smaller
   * object) to `used`. The delta is applied even if the reservation already expired — the bytes are
   * stored either way. Not idempotent: commit each reservation once.
   */
  commit(accountId: string, reservationId: string, actualDeltaBytes: number): Promise<void>;
  /** Drops a reservation (upload failed or aborted). Idempotent. */
  release(accountId: string, reservationId: string): Promise<void>;
  /** Adds `deltaBytes` to `used` (negative for deletes: frees space at once). `used` never goes below 0. */
  adjust(accountId: string, deltaBytes: number): Promise<void>;
  usage(accountId: string): Promise<QuotaUsage>;
  /** Sets `used` from the authoritative database figure (after an outage, or periodically) and recounts `reserved`. */
  resync(accountId: string, usedBytes: number, ticket?: QuotaTicket): Promise<void>;
  close(): Promise<void>;
}

export interface QuotaStoreCommonOptions {
  /** Reservations older than this are reclaimed. Default 3 600 000 (1 h). */
  reservationTtlMs?: number;
  /**
   * Loads an account's committed bytes from the database. When given, an unsynced account is
   * initialised from it on first use (without overwriting a figure another process set meanwhile)
   * instead of throwing `LimitsUnavailableError('unsynced')`.
   */
  loadUsage?: (accountId: string) => Promise<number>;
}

export const DEFAULT_RESERVATION_TTL_MS = 3_600_000;

export function assertBytes(value: number, what: string, { allowNegative = false } = {}): void {
  if (!Number.isSafeInteger(value) || (!allowNegative && value < 0)) {
    throw new RangeError(`quota: ${what} must be a${allowNegative ? 'n' : ' non-negative'} integer number of bytes, got ${value}`);
  }
}

export function assertQuota(quotaBytes: number): void {
  if (quotaBytes === Infinity) return;
  assertBytes(quotaBytes, 'quotaBytes');
}
