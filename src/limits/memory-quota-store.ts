import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock.ts';
import { LimitsUnavailableError } from './errors.ts';
import type { RateLimiter, RateLimitResult } from './rate-limiter.ts';
import {
  assertBytes,
  assertQuota,
  DEFAULT_RESERVATION_TTL_MS,
  type RateCheck,
  type QuotaOrder,
  type QuotaStore,
  type QuotaTicket,
  type QuotaStoreCommonOptions,
  type QuotaUsage,
  type ReserveResult,
  type SettleResult,
} from './quota-store.ts';
import { createUsageLoader } from './usage-loader.ts';

export interface MemoryQuotaStoreOptions extends QuotaStoreCommonOptions {
  clock?: Clock;
  /** Runs the rate checks `reserve` carries (the process's in-process limiter). */
  rateLimiter?: RateLimiter;
}

interface Account {
  /** undefined: never synced from the database. */
  used: number | undefined;
  reserved: number;
  reservations: Map<string, { bytes: number; expiresAt: number }>;
  /** Earliest `expiresAt` among `reservations` (Infinity when none): reclaiming is skipped before it. */
  nextExpiry: number;
  /** The order of figures (see `QuotaTicket`): tickets, settles and resyncs counted. */
  seq: number;
  /** The ticket (or seq) of the figure in `used` (0: none, or set without one). */
  setAt: number;
}

/**
 * Single-process quota store with the Redis store's contract. Every operation runs synchronously
 * between awaits, which makes check-and-reserve atomic within the process.
 */
export function createMemoryQuotaStore(options: MemoryQuotaStoreOptions = {}): QuotaStore {
  const clock = options.clock ?? systemClock;
  const ttlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
  const accounts = new Map<string, Account>();
  // A store's life is its process's: one epoch per store.
  const epoch = randomUUID();

  const account = (accountId: string): Account => {
    let entry = accounts.get(accountId);
    if (!entry) {
      entry = { used: undefined, reserved: 0, reservations: new Map(), nextExpiry: Infinity, seq: 0, setAt: 0 };
      accounts.set(accountId, entry);
    }
    return entry;
  };

  const reclaim = (entry: Account, now: number) => {
    if (now < entry.nextExpiry) return;
    let next = Infinity;
    for (const [id, reservation] of entry.reservations) {
      if (reservation.expiresAt <= now) {
        entry.reservations.delete(id);
        entry.reserved -= reservation.bytes;
      } else if (reservation.expiresAt < next) {
        next = reservation.expiresAt;
      }
    }
    entry.nextExpiry = next;
  };

  const synced = (accountId: string): Account & { used: number } => {
    const entry = account(accountId);
    reclaim(entry, clock.now().getTime());
    if (entry.used === undefined) throw new LimitsUnavailableError('unsynced', `quota: no usage known for account ${accountId}`);
    return entry as Account & { used: number };
  };

  const withUsage = createUsageLoader(options.loadUsage, async (accountId, usedBytes) => {
    assertBytes(usedBytes, 'usedBytes');
    const entry = account(accountId);
    if (entry.used !== undefined) return;
    entry.seq += 1;
    entry.used = usedBytes;
  });

  /** Sets used and recounts reserved from the live reservations (resync, and the end of a write). */
  const setUsed = (entry: Account, usedBytes: number) => {
    reclaim(entry, clock.now().getTime());
    entry.used = usedBytes;
    entry.reserved = 0;
    for (const reservation of entry.reservations.values()) entry.reserved += reservation.bytes;
  };

  /** See `QuotaTicket`: whether a figure read under `ticket` may be set (and, if so, that it is the newest). */
  const claimFigure = (entry: Account, ticket: QuotaTicket | undefined): boolean => {
    if (!ticket) return true;
    if (ticket.epoch !== epoch || ticket.seq <= entry.setAt) return false;
    entry.setAt = ticket.seq;
    return true;
  };

  /** The next ticket of the account's order (see `QuotaTicket`): it ends every mark handed out before it. */
  const nextTicket = (entry: Account): QuotaTicket => {
    entry.seq += 1;
    return { epoch, seq: entry.seq };
  };

  const endReservation = (entry: Account, reservationId: string) => {
    const reservation = entry.reservations.get(reservationId);
    if (!reservation) return;
    entry.reservations.delete(reservationId);
    entry.reserved -= reservation.bytes;
  };

  return {
    async reserve(accountId: string, bytes: number, quotaBytes: number, rateCheck?: RateCheck): Promise<ReserveResult> {
      assertBytes(bytes, 'bytes');
      assertQuota(quotaBytes);
      let rate: RateLimitResult | undefined;
      if (rateCheck) {
        if (!options.rateLimiter) throw new Error('memory quota store: a rate check needs the rateLimiter option');
        rate = await options.rateLimiter.check(rateCheck.key, rateCheck.rule);
        if (!rate.allowed) return { ok: false, usedBytes: 0, reservedBytes: 0, quotaBytes, rate };
      }
      return withUsage(accountId, async () => {
        const entry = synced(accountId);
        if (bytes > 0 && entry.used + entry.reserved + bytes > quotaBytes) {
          return { ok: false, usedBytes: entry.used, reservedBytes: entry.reserved, quotaBytes, rate };
        }
        const reservationId = randomUUID();
        const expiresAt = clock.now().getTime() + ttlMs;
        entry.reservations.set(reservationId, { bytes, expiresAt });
        entry.reserved += bytes;
        if (expiresAt < entry.nextExpiry) entry.nextExpiry = expiresAt;
        return { ok: true, reservationId, mark: { epoch, seq: entry.seq }, rate };
      });
    },
    async settle(accountId: string, usedBytes: number, reservationIds: string[], order?: QuotaOrder): Promise<SettleResult> {
      assertBytes(usedBytes, 'usedBytes');
      const entry = account(accountId);
      const mark = order && 'mark' in order ? order.mark : undefined;
      if (mark && (mark.epoch !== epoch || mark.seq !== entry.seq)) return nextTicket(entry);
      for (const id of reservationIds) endReservation(entry, id);
      entry.seq += 1;
      if (mark) {
        entry.setAt = entry.seq;
        setUsed(entry, usedBytes);
      } else if (claimFigure(entry, order && 'ticket' in order ? order.ticket : undefined)) {
        setUsed(entry, usedBytes);
      }
      return true;
    },
    async ticket(accountId: string): Promise<QuotaTicket> {
      return nextTicket(account(accountId));
    },
    async commit(accountId: string, reservationId: string, actualDeltaBytes: number): Promise<void> {
      assertBytes(actualDeltaBytes, 'actualDeltaBytes', { allowNegative: true });
      const entry = account(accountId);
      endReservation(entry, reservationId);
      entry.seq += 1;
      // Unsynced: the database already has the change; the figure loaded later includes it.
      if (entry.used !== undefined) entry.used = Math.max(0, entry.used + actualDeltaBytes);
    },
    async release(accountId: string, reservationId: string): Promise<void> {
      endReservation(account(accountId), reservationId);
    },
    async adjust(accountId: string, deltaBytes: number): Promise<void> {
      assertBytes(deltaBytes, 'deltaBytes', { allowNegative: true });
      const entry = account(accountId);
      entry.seq += 1;
      if (entry.used !== undefined) entry.used = Math.max(0, entry.used + deltaBytes);
    },
    async usage(accountId: string): Promise<QuotaUsage> {
      return withUsage(accountId, async () => {
        const entry = synced(accountId);
        return { usedBytes: entry.used, reservedBytes: entry.reserved };
      });
    },
    async resync(accountId: string, usedBytes: number, ticket?: QuotaTicket): Promise<void> {
      assertBytes(usedBytes, 'usedBytes');
      const entry = account(accountId);
      if (!claimFigure(entry, ticket)) return;
      entry.seq += 1;
      setUsed(entry, usedBytes);
    },
    async close() {
      accounts.clear();
    },
  };
}
