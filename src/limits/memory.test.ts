import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { createMemoryQuotaStore } from './memory-quota-store.ts';
import { createMemoryRateLimiter } from './memory-rate-limiter.ts';
import { createLimits } from './index.ts';
import { quotaStoreContract } from './quota-store.contract.ts';
import { rateLimiterContract } from './rate-limiter.contract.ts';
import { gcraStep, parseRateLimitRule } from './rate-limiter.ts';

rateLimiterContract('memory', (clock) => createMemoryRateLimiter({ clock }));
quotaStoreContract(
  'memory',
  (clock, options) => createMemoryQuotaStore({ clock, ...options }),
  async (clock) => {
    const limiter = createMemoryRateLimiter({ clock });
    return { store: createMemoryQuotaStore({ clock, rateLimiter: limiter }), limiter };
  },
);

describe('memory quota store', () => {
  it('a ticket of another store (another process’s life) sets nothing', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const [before, after] = [createMemoryQuotaStore({ clock }), createMemoryQuotaStore({ clock })];
    for (let i = 0; i < 5; i++) await before.ticket('acct');
    const old = await before.ticket('acct');
    await after.resync('acct', 3);
    await after.settle('acct', 4, [], { ticket: await after.ticket('acct') });
    await after.settle('acct', 1, [], { ticket: old });
    await after.resync('acct', 1, old);
    expect(await after.usage('acct')).toEqual({ usedBytes: 4, reservedBytes: 0 });
  });
});

describe('memory rate limiter', () => {
  it('forgets keys once their bucket has refilled (bounded memory)', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const limiter = createMemoryRateLimiter({ clock });
    const rule = { limit: 10, windowMs: 1000 };
    for (let i = 0; i < 5000; i++) await limiter.check(`key-${i}`, rule);
    expect(limiter.size).toBe(5000);
    clock.advance(1000);
    for (let i = 0; i < 5000; i++) await limiter.check('hot', rule);
    expect(limiter.size).toBe(1);
  });

  it('never tracks more than maxKeys, evicting the least recently used', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const limiter = createMemoryRateLimiter({ clock, maxKeys: 100 });
    const rule = { limit: 1, windowMs: 60_000 };
    expect((await limiter.check('first', rule)).allowed).toBe(true);
    for (let i = 0; i < 99; i++) await limiter.check(`key-${i}`, rule);
    expect((await limiter.check('first', rule)).allowed).toBe(false); // still tracked, now most recent
    await limiter.check('key-99', rule); // evicts key-0, the least recently used
    expect(limiter.size).toBe(100);
    expect((await limiter.check('first', rule)).allowed).toBe(false);
    expect((await limiter.check('key-0', rule)).allowed).toBe(true); // forgotten: starts over
    for (let i = 100; i < 300; i++) await limiter.check(`key-${i}`, rule);
    expect(limiter.size).toBe(100);
    expect((await limiter.check('first', rule)).allowed).toBe(true); // evicted: starts over
  });

  it('a changed rule for the same key starts from a full bucket', async () => {
    const limiter = createMemoryRateLimiter({ clock: fixedClock('2030-01-01T00:00:00Z') });
    for (let i = 0; i < 5; i++) await limiter.check('k', { limit: 5, windowMs: 1000 });
    expect((await limiter.check('k', { limit: 5, windowMs: 1000 })).allowed).toBe(false);
    expect((await limiter.check('k', { limit: 6, windowMs: 1000 })).allowed).toBe(true);
  });
});

describe('rate limit rules', () => {
  it('parses LIMIT/WINDOW', () => {
    expect(parseRateLimitRule('100/1s')).toEqual({ limit: 100, windowMs: 1000 });
    expect(parseRateLimitRule('5/m')).toEqual({ limit: 5, windowMs: 60_000 });
    expect(parseRateLimitRule('30 / 1m')).toEqual({ limit: 30, windowMs: 60_000 });
    expect(parseRateLimitRule('7/250')).toEqual({ limit: 7, windowMs: 250 });
    expect(() => parseRateLimitRule('0/1s')).toThrow(RangeError);
    expect(() => parseRateLimitRule('fast')).toThrow(RangeError);
  });

  it('gcraStep keeps integer state for large limits and windows', () => {
    const rule = { limit: 1_000_000, windowMs: 86_400_000 };
    let state;
    const now = Date.parse('2030-01-01T00:00:00Z');
    for (let i = 0; i < 3; i++) state = gcraStep(state, now, rule).next;
    expect(state).toEqual({ anchorMs: now, excess: 3 * 86_400_000 });
  });
});

describe('createLimits', () => {
  it('without a Redis URL, builds in-process limits', async () => {
    const limits = await createLimits({ clock: fixedClock('2030-01-01T00:00:00Z'), loadUsage: async () => 5 });
    expect(limits.backend).toBe('memory');
    expect((await limits.quotaStore.reserve('acct', 6, 10)).ok).toBe(false);
    expect((await limits.rateLimiter.check('k', { limit: 1, windowMs: 1000 })).allowed).toBe(true);
    expect((await limits.rateLimiter.check('k', { limit: 1, windowMs: 1000 })).allowed).toBe(false);
    await limits.close();
  });
});
