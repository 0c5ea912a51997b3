import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock, type Clock } from '../clock.ts';
import type { RateLimiter, RateLimitResult } from './rate-limiter.ts';

type TestClock = ReturnType<typeof fixedClock>;

/**
 * The RateLimiter contract, run against every implementation. `makeLimiter` builds a limiter on the
 * given clock (tests move time by advancing it, never by sleeping); keys are unique per test, so
 * implementations may share a backend across tests.
 */
export function rateLimiterContract(name: string, makeLimiter: (clock: Clock) => RateLimiter | Promise<RateLimiter>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    const setup = async () => {
      const clock: TestClock = fixedClock('2030-01-01T00:00:00.000Z');
      const limiter = await makeLimiter(clock);
      return { clock, limiter, key: `acct-${randomUUID()}:write` };
    };
    const countAllowed = (results: RateLimitResult[]) => {
      // A fail-open answer would make every count meaningless: the backend must have answered.
      expect(results.filter((r) => r.degraded)).toEqual([]);
      return results.filter((r) => r.allowed).length;
    };
    const burst = (limiter: RateLimiter, key: string, n: number, rule: { limit: number; windowMs: number }) =>
      Promise.all(Array.from({ length: n }, () => limiter.check(key, rule)));

    it('a concurrent burst of 150 against 100/s gets exactly 100 allowed', async () => {
      const { limiter, key } = await setup();
      const results = await burst(limiter, key, 150, { limit: 100, windowMs: 1000 });
      expect(countAllowed(results)).toBe(100);
      for (const r of results) expect(r.limit).toBe(100);
      await limiter.close();
    });

    it('sequential calls count down remaining, then deny with Retry-After', async () => {
      const { limiter, key } = await setup();
      const rule = { limit: 100, windowMs: 1000 };
      const results: RateLimitResult[] = [];
      for (let i = 0; i < 101; i++) results.push(await limiter.check(key, rule));
      expect(results.slice(0, 100).map((r) => r.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
      expect(results[0]).toEqual({ allowed: true, limit: 100, remaining: 99, resetMs: 10 });
      expect(results[99]).toEqual({ allowed: true, limit: 100, remaining: 0, resetMs: 1000 });
      // One request is refilled every windowMs / limit = 10 ms.
      expect(results[100]).toEqual({ allowed: false, limit: 100, remaining: 0, resetMs: 1000, retryAfterMs: 10, retryAfterSeconds: 1 });
      await limiter.close();
    });

    it('refills gradually and completely after the window', async () => {
      const { clock, limiter, key } = await setup();
      const rule = { limit: 100, windowMs: 1000 };
      expect(countAllowed(await burst(limiter, key, 150, rule))).toBe(100);
      clock.advance(9);
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      clock.advance(1); // 10 ms: exactly one
      expect(countAllowed(await burst(limiter, key, 5, rule))).toBe(1);
      clock.advance(50); // 50 ms more: exactly five
      expect(countAllowed(await burst(limiter, key, 10, rule))).toBe(5);
      clock.advance(1000); // a whole window idle: the full burst again
      expect(countAllowed(await burst(limiter, key, 150, rule))).toBe(100);
      await limiter.close();
    });

    it('is exact when windowMs / limit is not a whole number (300/s)', async () => {
      const { clock, limiter, key } = await setup();
      const rule = { limit: 300, windowMs: 1000 };
      expect(countAllowed(await burst(limiter, key, 400, rule))).toBe(300);
      clock.advance(10); // 10 ms × 300/s = 3 requests
      expect(countAllowed(await burst(limiter, key, 10, rule))).toBe(3);
      clock.advance(3); // 3 ms = 0.9 requests: none
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      clock.advance(1); // 4 ms = 1.2 requests: one
      expect((await limiter.check(key, rule)).allowed).toBe(true);
      // Then one call per ms for a second: 0.2 requests were left over, 300 refill in that second.
      let allowed = 0;
      for (let i = 0; i < 1000; i++) {
        clock.advance(1);
        if ((await limiter.check(key, rule)).allowed) allowed++;
      }
      expect(allowed).toBe(300);
      await limiter.close();
    });

    it('a per-minute rule (login 5/min) denies the 6th attempt for 12 s', async () => {
      const { clock, limiter, key } = await setup();
      const rule = { limit: 5, windowMs: 60_000 };
      for (let i = 0; i < 5; i++) expect((await limiter.check(key, rule)).allowed).toBe(true);
      const denied = await limiter.check(key, rule);
      expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 12_000, retryAfterSeconds: 12, resetMs: 60_000 });
      clock.advance(11_999);
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      clock.advance(1);
      expect(await limiter.check(key, rule)).toMatchObject({ allowed: true, remaining: 0 });
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      await limiter.close();
    });

    it('keeps separate keys independent', async () => {
      const { limiter, key } = await setup();
      const rule = { limit: 3, windowMs: 1000 };
      const other = `${key}-other`;
      expect(countAllowed(await burst(limiter, key, 5, rule))).toBe(3);
      expect(countAllowed(await burst(limiter, other, 5, rule))).toBe(3);
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      await limiter.close();
    });

    it('a clock running backwards grants nothing extra', async () => {
      const { clock, limiter, key } = await setup();
      const rule = { limit: 10, windowMs: 1000 };
      expect(countAllowed(await burst(limiter, key, 10, rule))).toBe(10);
      clock.advance(-60_000);
      expect((await limiter.check(key, rule)).allowed).toBe(false);
      clock.advance(60_000 + 100); // 100 ms after the burst: one refilled
      expect(countAllowed(await burst(limiter, key, 3, rule))).toBe(1);
      await limiter.close();
    });

    it('rejects invalid rules', async () => {
      const { limiter, key } = await setup();
      await expect(limiter.check(key, { limit: 0, windowMs: 1000 })).rejects.toThrow(RangeError);
      await expect(limiter.check(key, { limit: 1.5, windowMs: 1000 })).rejects.toThrow(RangeError);
      await expect(limiter.check(key, { limit: 10, windowMs: 0 })).rejects.toThrow(RangeError);
      await limiter.close();
    });
  });
}
