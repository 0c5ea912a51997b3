import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock, type Clock } from '../clock.ts';
import { isLimitsUnavailable, LimitsUnavailableError } from './errors.ts';
import type { QuotaStore, QuotaStoreCommonOptions } from './quota-store.ts';
import type { RateLimiter } from './rate-limiter.ts';

const MiB = 1024 * 1024;
type TestClock = ReturnType<typeof fixedClock>;

/**
 * The QuotaStore contract, run against every implementation. Account ids are unique per test, so
 * implementations may share a backend across tests.
 */
export function quotaStoreContract(
  name: string,
  makeStore: (clock: Clock, options: QuotaStoreCommonOptions) => QuotaStore | Promise<QuotaStore>,
  /** A store and the rate limiter whose state its `reserve(…, rate)` counts against. */
  makeRated: (clock: Clock) => Promise<{ store: QuotaStore; limiter: RateLimiter }>,
): void {
  describe(`QuotaStore contract: ${name}`, () => {
    it('reserve runs the request rate check first, in the limiter’s own state; a denied check reserves nothing', async () => {
      const clock: TestClock = fixedClock('2030-01-01T00:00:00.000Z');
      const { store, limiter } = await makeRated(clock);
      const account = `acct-${randomUUID()}`;
      await store.resync(account, 0);
      const rate = { key: `s3:write:{${account}}`, rule: { limit: 2, windowMs: 60_000 } };
      const first = await store.reserve(account, MiB, 10 * MiB, rate);
      expect(first).toMatchObject({ ok: true, rate: { allowed: true, limit: 2, remaining: 1 } });
      // The limiter sees the charge: its own check takes the last request of the burst.
      expect(await limiter.check(rate.key, rate.rule)).toMatchObject({ allowed: true, remaining: 0 });
      const refused = await store.reserve(account, MiB, 10 * MiB, rate);
      expect(refused.ok).toBe(false);
      expect(refused.rate).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 30_000, retryAfterSeconds: 30 });
      expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: MiB });
      // Half a window later one request has refilled; a quota refusal still reports the allowed rate check.
      clock.advance(30_000);
      const overQuota = await store.reserve(account, 10 * MiB, 10 * MiB, rate);
      expect(overQuota).toMatchObject({ ok: false, usedBytes: 0, reservedBytes: MiB, rate: { allowed: true, remaining: 0 } });
      // A reservation that carried its rate check has a mark too, and settles under it.
      clock.advance(30_000);
      const rated = await store.reserve(account, MiB, 10 * MiB, rate);
      if (!rated.ok) throw new Error('reservation refused');
      expect(await store.settle(account, MiB, [rated.reservationId], { mark: rated.mark })).toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: MiB, reservedBytes: MiB });
      await store.close();
    });

    it('settle drops the given reservations and sets used in one step, keeping the others', async () => {
      const clock: TestClock = fixedClock('2030-01-01T00:00:00.000Z');
      const store = await makeStore(clock, { reservationTtlMs: 3_600_000 });
      const account = `acct-${randomUUID()}`;
      await store.resync(account, MiB);
      const ids: string[] = [];
      for (const bytes of [2 * MiB, 3 * MiB, 4 * MiB]) {
        const result = await store.reserve(account, bytes, 100 * MiB);
        if (!result.ok) throw new Error('reservation refused');
        ids.push(result.reservationId);
      }
      await store.settle(account, 4 * MiB, [ids[0]!, ids[1]!]);
      expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: 4 * MiB });
      // Settling reservations already gone (or never made) changes only used.
      await store.settle(account, 5 * MiB, [ids[0]!, 'no-such-reservation']);
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: 4 * MiB });
      await store.settle(account, 9 * MiB, [ids[2]!]);
      expect(await store.usage(account)).toEqual({ usedBytes: 9 * MiB, reservedBytes: 0 });
      await expect(store.settle(account, -1, [])).rejects.toThrow(RangeError);
      await store.close();
    });

    const setup = async (options: QuotaStoreCommonOptions & { usedBytes?: number | null } = {}) => {
      const clock: TestClock = fixedClock('2030-01-01T00:00:00.000Z');
      const store = await makeStore(clock, { reservationTtlMs: 3_600_000, ...options });
      const account = `acct-${randomUUID()}`;
      if (options.usedBytes !== null) await store.resync(account, options.usedBytes ?? 0);
      return { clock, store, account };
    };
    /** A reservation that must be granted: its id and mark. */
    const granted = async (store: QuotaStore, account: string, bytes: number, quota: number) => {
      const result = await store.reserve(account, bytes, quota);
      if (!result.ok) throw new Error(`expected reservation of ${bytes} to succeed: ${JSON.stringify(result)}`);
      return result;
    };
    const reserveOk = async (store: QuotaStore, account: string, bytes: number, quota: number) => (await granted(store, account, bytes, quota)).reservationId;

    it('a figure read under an earlier ticket never replaces one read under a later ticket; the reservations end either way', async () => {
      // Two writes of 1 MiB (A, then B) on an account holding 2 MiB, settled by two gateways: A's
      // figure (3 MiB, read before B committed) arrives after B's (4 MiB, which includes A).
      const { store, account } = await setup({ usedBytes: 2 * MiB });
      const reserve = () => reserveOk(store, account, MiB, 100 * MiB);
      const [a, b, c] = [await reserve(), await reserve(), await reserve()];
      const ticketA = await store.ticket(account);
      const ticketB = await store.ticket(account);
      expect(ticketB.seq).toBeGreaterThan(ticketA.seq);
      await store.settle(account, 4 * MiB, [b], { ticket: ticketB });
      expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: 2 * MiB });
      await store.settle(account, 3 * MiB, [a], { ticket: ticketA });
      // Set blindly, used would be 3 MiB with A's reservation gone: B's megabyte forgotten.
      expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: MiB });
      // A resync under an earlier ticket is refused the same way; under a later one it sets.
      const ticketC = await store.ticket(account);
      const ticketD = await store.ticket(account);
      await store.resync(account, 6 * MiB, ticketD);
      await store.resync(account, 5 * MiB, ticketC);
      expect(await store.usage(account)).toEqual({ usedBytes: 6 * MiB, reservedBytes: MiB });
      // A figure without a ticket is set as it comes (the database's figure pushed by hand).
      await store.settle(account, 5 * MiB, [c]);
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: 0 });
      // Tickets are per store-wide order: a later one still sets after an unticketed figure.
      await store.settle(account, 7 * MiB, [], { ticket: await store.ticket(account) });
      expect(await store.usage(account)).toEqual({ usedBytes: 7 * MiB, reservedBytes: 0 });
      await store.close();
    });

    it('a settle under its reservation’s mark sets the figure only if no other settle, resync or ticket came since; else it does nothing but hand out a ticket', async () => {
      const { store, account } = await setup({ usedBytes: 2 * MiB });
      const reserve = () => granted(store, account, MiB, 100 * MiB);
      // Alone: the mark holds, one call ends the reservation and sets the figure.
      const alone = await reserve();
      expect(await store.settle(account, 3 * MiB, [alone.reservationId], { mark: alone.mark })).toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: 3 * MiB, reservedBytes: 0 });
      // Two writes reserve; B settles first. A's figure (read before B committed) must not land.
      const a = await reserve();
      const b = await reserve();
      expect(await store.settle(account, 5 * MiB, [b.reservationId], { mark: b.mark })).toBe(true);
      const passedBy = await store.settle(account, 4 * MiB, [a.reservationId], { mark: a.mark });
      expect(passedBy).toEqual({ epoch: expect.any(String), seq: expect.any(Number) });
      // Nothing happened but the ticket: A's reservation still holds its megabyte.
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: MiB });
      // A ticket ends every mark handed out before it (its holder may set an older figure later).
      const c = await reserve();
      const ticket = await store.ticket(account);
      expect(await store.settle(account, 6 * MiB, [c.reservationId], { mark: c.mark })).not.toBe(true);
      // A settled under its mark sets a figure newer than every ticket handed out so far.
      const d = await reserve();
      expect(await store.settle(account, 7 * MiB, [a.reservationId, c.reservationId, d.reservationId], { mark: d.mark })).toBe(true);
      expect(await store.settle(account, 1 * MiB, [], { ticket })).toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: 7 * MiB, reservedBytes: 0 });
      // A resync ends marks too.
      const e = await reserve();
      await store.resync(account, 7 * MiB, await store.ticket(account));
      expect(await store.settle(account, 8 * MiB, [e.reservationId], { mark: e.mark })).not.toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: 7 * MiB, reservedBytes: MiB });
      await store.close();
    });

    it('the ticket a passed-by mark hands out orders the figure read again: set unless a later ticket’s figure is there', async () => {
      const { store, account } = await setup({ usedBytes: 2 * MiB });
      const reserve = () => granted(store, account, MiB, 100 * MiB);
      const a = await reserve();
      const b = await reserve();
      expect(await store.settle(account, 4 * MiB, [b.reservationId], { mark: b.mark })).toBe(true);
      // A's figure read before B committed (3 MiB) is refused with a ticket; read again, it is 4 MiB.
      const ticket = await store.settle(account, 3 * MiB, [a.reservationId], { mark: a.mark });
      if (ticket === true) throw new Error('a passed-by mark settled');
      expect(await store.settle(account, 4 * MiB, [a.reservationId], { ticket })).toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: 0 });
      // Handed out before a later ticket's figure was set, it sets nothing after it.
      const c = await reserve();
      const cTicket = await store.settle(account, 3 * MiB, [c.reservationId], { mark: a.mark });
      if (cTicket === true) throw new Error('a passed-by mark settled');
      await store.settle(account, 5 * MiB, [c.reservationId], { ticket: await store.ticket(account) });
      expect(await store.settle(account, 4 * MiB, [], { ticket: cTicket })).toBe(true);
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: 0 });
      await store.close();
    });

    it('a ticket taken before the account was synced still orders the first figures', async () => {
      const { store, account } = await setup({ usedBytes: null });
      const early = await store.ticket(account);
      const late = await store.ticket(account);
      await expect(store.usage(account)).rejects.toMatchObject({ reason: 'unsynced' });
      await store.settle(account, 9, [], { ticket: late });
      await store.settle(account, 8, [], { ticket: early });
      expect(await store.usage(account)).toEqual({ usedBytes: 9, reservedBytes: 0 });
      await store.close();
    });

    it('reserves until full, then refuses with the figures', async () => {
      const { store, account } = await setup({ usedBytes: 4 * MiB });
      for (let i = 0; i < 6; i++) await reserveOk(store, account, MiB, 10 * MiB);
      expect(await store.reserve(account, 1, 10 * MiB)).toEqual({ ok: false, usedBytes: 4 * MiB, reservedBytes: 6 * MiB, quotaBytes: 10 * MiB });
      expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: 6 * MiB });
      await store.close();
    });

    it('refuses a single reservation larger than the free space, and anything over a 0 quota', async () => {
      const { store, account } = await setup({ usedBytes: 0 });
      expect((await store.reserve(account, 10 * MiB + 1, 10 * MiB)).ok).toBe(false);
      expect((await store.reserve(account, 10 * MiB, 10 * MiB)).ok).toBe(true);
      const other = await setup({ usedBytes: 0 });
      expect((await other.store.reserve(other.account, 1, 0)).ok).toBe(false);
      await store.close();
      await other.store.close();
    });

    it('commit moves the actual size into used and frees the rest of the reservation', async () => {
      const { store, account } = await setup({ usedBytes: 0 });
      const id = await reserveOk(store, account, 10 * MiB, 10 * MiB);
      expect((await store.reserve(account, 1, 10 * MiB)).ok).toBe(false);
      await store.commit(account, id, 6 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 6 * MiB, reservedBytes: 0 });
      await reserveOk(store, account, 4 * MiB, 10 * MiB);
      expect((await store.reserve(account, 1, 10 * MiB)).ok).toBe(false);
      await store.close();
    });

    it('release frees the whole reservation and is idempotent', async () => {
      const { store, account } = await setup({ usedBytes: 2 * MiB });
      const id = await reserveOk(store, account, 8 * MiB, 10 * MiB);
      await reserveOk(store, account, 0, 10 * MiB);
      await store.release(account, id);
      await store.release(account, id);
      expect(await store.usage(account)).toEqual({ usedBytes: 2 * MiB, reservedBytes: 0 });
      await reserveOk(store, account, 8 * MiB, 10 * MiB);
      await store.close();
    });

    it('50 concurrent reserves of 1 MiB against a 20 MiB quota: exactly 20 succeed', async () => {
      const { store, account } = await setup({ usedBytes: 0 });
      const results = await Promise.all(Array.from({ length: 50 }, () => store.reserve(account, MiB, 20 * MiB)));
      expect(results.filter((r) => r.ok)).toHaveLength(20);
      expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 20 * MiB });
      const ids = new Set(results.flatMap((r) => (r.ok ? [r.reservationId] : [])));
      expect(ids.size).toBe(20);
      await store.close();
    });

    it('an overwrite needs room only for the growth; a 0-byte reservation succeeds even when full', async () => {
      const { store, account } = await setup({ usedBytes: 9 * MiB });
      // Replacing a 2 MiB object with a 3 MiB one: the caller reserves the 1 MiB difference.
      const grow = await reserveOk(store, account, MiB, 10 * MiB);
      await store.commit(account, grow, MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 10 * MiB, reservedBytes: 0 });
      // Replacing it with a 1 MiB one while full: nothing to reserve, the commit shrinks used.
      const shrink = await reserveOk(store, account, 0, 10 * MiB);
      await store.commit(account, shrink, -2 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 8 * MiB, reservedBytes: 0 });
      await store.close();
    });

    it('adjust with a negative delta (delete) frees space at once; used never goes below 0', async () => {
      const { store, account } = await setup({ usedBytes: 10 * MiB });
      expect((await store.reserve(account, MiB, 10 * MiB)).ok).toBe(false);
      await store.adjust(account, -3 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 7 * MiB, reservedBytes: 0 });
      await reserveOk(store, account, 3 * MiB, 10 * MiB);
      await store.adjust(account, -100 * MiB);
      expect((await store.usage(account)).usedBytes).toBe(0);
      await store.adjust(account, 5 * MiB);
      expect((await store.usage(account)).usedBytes).toBe(5 * MiB);
      await store.close();
    });

    it('reclaims expired reservations (a crashed upload cannot hold quota forever)', async () => {
      const { clock, store, account } = await setup({ usedBytes: 0 });
      await reserveOk(store, account, 6 * MiB, 10 * MiB);
      clock.advance(30 * 60_000);
      await reserveOk(store, account, 4 * MiB, 10 * MiB);
      expect((await store.reserve(account, 1, 10 * MiB)).ok).toBe(false);
      clock.advance(30 * 60_000 - 1);
      expect((await store.reserve(account, 1, 10 * MiB)).ok).toBe(false);
      clock.advance(1); // the first one is 1 h old now
      expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 4 * MiB });
      await reserveOk(store, account, 6 * MiB, 10 * MiB);
      clock.advance(60 * 60_000);
      expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 0 });
      await store.close();
    });

    it('a commit after the reservation expired still counts the stored bytes', async () => {
      const { clock, store, account } = await setup({ usedBytes: 0 });
      const id = await reserveOk(store, account, 5 * MiB, 10 * MiB);
      clock.advance(2 * 3_600_000);
      expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 0 });
      await store.commit(account, id, 5 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: 0 });
      await store.close();
    });

    it('an unlimited (Infinity) quota always reserves', async () => {
      const { store, account } = await setup({ usedBytes: 2 ** 50 });
      await reserveOk(store, account, 2 ** 40, Infinity);
      expect(await store.usage(account)).toEqual({ usedBytes: 2 ** 50, reservedBytes: 2 ** 40 });
      await store.close();
    });

    it('an account without known usage is unsynced until resync', async () => {
      const { store, account } = await setup({ usedBytes: null });
      const error = await store.reserve(account, 1, 10).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LimitsUnavailableError);
      expect(isLimitsUnavailable(error, 'unsynced')).toBe(true);
      await expect(store.usage(account)).rejects.toMatchObject({ reason: 'unsynced' });
      // Changes while unsynced are already in the database figure that resync brings.
      await store.adjust(account, 5);
      await store.resync(account, 7);
      expect(await store.usage(account)).toEqual({ usedBytes: 7, reservedBytes: 0 });
      expect((await store.reserve(account, 3, 10)).ok).toBe(true);
      expect((await store.reserve(account, 1, 10)).ok).toBe(false);
      await store.close();
    });

    it('resync replaces used and keeps live reservations', async () => {
      const { store, account } = await setup({ usedBytes: 1 * MiB });
      const id = await reserveOk(store, account, 2 * MiB, 10 * MiB);
      await store.resync(account, 5 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 5 * MiB, reservedBytes: 2 * MiB });
      await store.commit(account, id, 2 * MiB);
      expect(await store.usage(account)).toEqual({ usedBytes: 7 * MiB, reservedBytes: 0 });
      await store.close();
    });

    it('with loadUsage, an unsynced account is loaded once, however many requests wait', async () => {
      let loads = 0;
      const { store, account } = await setup({
        usedBytes: null,
        loadUsage: async () => {
          loads++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return 15 * MiB;
        },
      });
      const results = await Promise.all(Array.from({ length: 10 }, () => store.reserve(account, MiB, 20 * MiB)));
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      expect(loads).toBe(1);
      expect(await store.usage(account)).toEqual({ usedBytes: 15 * MiB, reservedBytes: 5 * MiB });
      await store.close();
    });

    it('rejects invalid byte counts', async () => {
      const { store, account } = await setup({ usedBytes: 0 });
      await expect(store.reserve(account, -1, 10)).rejects.toThrow(RangeError);
      await expect(store.reserve(account, 1.5, 10)).rejects.toThrow(RangeError);
      await expect(store.reserve(account, 1, NaN)).rejects.toThrow(RangeError);
      await expect(store.adjust(account, 0.5)).rejects.toThrow(RangeError);
      await expect(store.resync(account, -1)).rejects.toThrow(RangeError);
      await store.close();
    });
  });
}
