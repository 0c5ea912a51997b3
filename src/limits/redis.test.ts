import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisTestServer } from '../../test/support/redis-server.ts';
import { fixedClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { isLimitsUnavailable } from './errors.ts';
import { quotaStoreContract } from './quota-store.contract.ts';
import type { QuotaStore } from './quota-store.ts';
import { closeRedisClient, createRedisClient, waitForRedis } from './redis-client.ts';
import { createRedisQuotaStore } from './redis-quota-store.ts';
import { createRedisRateLimiter } from './redis-rate-limiter.ts';
import type { RateLimitResult } from './rate-limiter.ts';
import { createLimits } from './index.ts';
import { rateLimiterContract } from './rate-limiter.contract.ts';

const MiB = 1024 * 1024;
// Generous bound for the contract run, so a loaded CI machine cannot turn a slow answer into a
// fail-open result; the outage tests below use the production-like 100 ms.
const RELAXED_TIMEOUT_MS = 5_000;
// The outage tests: a production-like bound (default 100 ms), with headroom for a loaded 2-core CI
// machine so that calls before the outage and after recovery don't time out by accident.
const OUTAGE_TIMEOUT_MS = 300;

async function connectedClient(url: string, options: Parameters<typeof createRedisClient>[1] = {}): Promise<Redis> {
  const client = createRedisClient(url, options);
  if (!(await waitForRedis(client, 5_000))) throw new Error(`no connection to ${url}`);
  return client;
}

function captureLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let server: RedisTestServer;
let redis: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  redis = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
  clients.push(redis);
});

afterAll(async () => {
  for (const client of clients) await closeRedisClient(client);
  await server?.close();
});

// The tests' clocks stand still while real time passes: keep keys far longer than the refill time
// (in production, with real clocks, the default 1 s slack covers clock skew between processes).
const FROZEN_CLOCK_SLACK_MS = 600_000;

rateLimiterContract('redis', (clock) => createRedisRateLimiter({ redis, clock, keyPrefix: 'contract:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS }));
quotaStoreContract(
  'redis',
  (clock, options) => createRedisQuotaStore({ redis, clock, keyPrefix: 'contract:', timeoutMs: RELAXED_TIMEOUT_MS, ...options }),
  async (clock) => ({
    store: createRedisQuotaStore({ redis, clock, keyPrefix: 'rated:', timeoutMs: RELAXED_TIMEOUT_MS }),
    limiter: createRedisRateLimiter({ redis, clock, keyPrefix: 'rated:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS }),
  }),
);

describe('Redis limits shared between processes', () => {
  it('two clients (two gateway processes) share one rate limit', async () => {
    const other = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(other);
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const options = { clock, keyPrefix: 'shared:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS };
    const a = createRedisRateLimiter({ redis, ...options });
    const b = createRedisRateLimiter({ redis: other, ...options });
    const key = `acct-${randomUUID()}:write`;
    const rule = { limit: 100, windowMs: 1000 };
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => (i % 2 ? a : b).check(key, rule)));
    expect(results.filter((r) => r.degraded)).toEqual([]);
    const allowedA = results.filter((r, i) => i % 2 && r.allowed).length;
    const allowedB = results.filter((r, i) => !(i % 2) && r.allowed).length;
    expect(allowedA + allowedB).toBe(100);
    expect(allowedA).toBeGreaterThan(0);
    expect(allowedB).toBeGreaterThan(0);
  });

  it('two processes taking leases on one busy key get no more than the shared bucket gives, and lose little of it', async () => {
    const other = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(other);
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const options = { clock, keyPrefix: 'shared:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS, leaseMs: 100 };
    const a = createRedisRateLimiter({ redis, ...options });
    const b = createRedisRateLimiter({ redis: other, ...options });
    const key = `acct-${randomUUID()}:read`;
    const rule = { limit: 1000, windowMs: 1000 };
    const allowed = { a: 0, b: 0 };
    // Three seconds in 1 ms steps, each process asked twice a millisecond: 4000/s against 1000/s.
    for (let ms = 0; ms < 3000; ms++) {
      const results = await Promise.all([a.check(key, rule), a.check(key, rule), b.check(key, rule), b.check(key, rule)]);
      expect(results.some((result) => result.degraded)).toBe(false);
      allowed.a += Number(results[0]!.allowed) + Number(results[1]!.allowed);
      allowed.b += Number(results[2]!.allowed) + Number(results[3]!.allowed);
      clock.advance(1);
    }
    // The rule allows the burst of 1000 and then one request a millisecond: 1000 + 2999 in all.
    // A lease is charged before it is answered from, so the two together cannot get more.
    expect(allowed.a + allowed.b).toBeLessThanOrEqual(3999);
    // While demand exceeds the rule a lease is used up at once: next to nothing is lost.
    expect(allowed.a + allowed.b).toBeGreaterThanOrEqual(3950);
    // Whoever's script runs first takes the refill, as without leases: both were served.
    expect(Math.min(allowed.a, allowed.b)).toBeGreaterThan(500);
  });

  for (const [gateways, everyMs] of [
    [3, 150],
    [8, 199],
  ] as const) {
    it(`${gateways} processes asked once every ${everyMs} ms each, far below a 300/s rule, never refuse (leases follow use)`, async () => {
      const clock = fixedClock('2030-01-01T00:00:00Z');
      const options = { clock, keyPrefix: 'shared:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS, leaseMs: 100 };
      const limiters = [];
      for (let i = 0; i < gateways; i++) {
        const client = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
        clients.push(client);
        limiters.push(createRedisRateLimiter({ redis: client, ...options }));
      }
      const key = `acct-${randomUUID()}:read`;
      const rule = { limit: 300, windowMs: 1000 };
      let asked = 0;
      let refused = 0;
      // Ten seconds in 1 ms steps; process i is asked at i ms past each of its periods.
      for (let ms = 0; ms < 10_000; ms++) {
        for (let i = 0; i < gateways; i++) {
          if (ms % everyMs !== i) continue;
          asked++;
          if (!(await limiters[i]!.check(key, rule)).allowed) refused++;
        }
        clock.advance(1);
      }
      expect(asked).toBe(gateways * Math.ceil((10_000 - gateways) / everyMs));
      expect(refused).toBe(0);
    });
  }

  it('two clients share one quota', async () => {
    const other = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(other);
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const a = createRedisQuotaStore({ redis, clock, keyPrefix: 'shared:', timeoutMs: RELAXED_TIMEOUT_MS });
    const b = createRedisQuotaStore({ redis: other, clock, keyPrefix: 'shared:', timeoutMs: RELAXED_TIMEOUT_MS });
    const account = `acct-${randomUUID()}`;
    await a.resync(account, 0);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).reserve(account, MiB, 20 * MiB)));
    expect(results.filter((r) => r.ok)).toHaveLength(20);
    expect(await b.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 20 * MiB });
    // A reservation taken through one process is committed through the other.
    const first = results.find((r) => r.ok);
    if (!first?.ok) throw new Error('no reservation');
    await b.commit(account, first.reservationId, MiB);
    expect(await a.usage(account)).toEqual({ usedBytes: MiB, reservedBytes: 19 * MiB });
  });

  it('rate-limit keys expire once refilled and reservation keys vanish once reclaimed', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    // No leases: a lease would charge its requests ahead (and the key lives until they refill too).
    const limiter = createRedisRateLimiter({ redis, clock, keyPrefix: 'ttl:', timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: 60_000, leaseMs: 0 });
    const key = `acct-${randomUUID()}:read`;
    for (let i = 0; i < 3; i++) await limiter.check(key, { limit: 300, windowMs: 1000 });
    const pttl = await redis.pttl(`ttl:rl:300/1000:${key}`);
    // 3 requests at 300/s are refilled after 10 ms; plus the slack.
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_010);

    const store = createRedisQuotaStore({ redis, clock, keyPrefix: 'ttl:', timeoutMs: RELAXED_TIMEOUT_MS, reservationTtlMs: 1000 });
    const account = `acct-${randomUUID()}`;
    await store.resync(account, 0);
    for (let i = 0; i < 3; i++) await store.reserve(account, 10, 100);
    expect(await redis.exists(`ttl:quota:{${account}}:expiry`, `ttl:quota:{${account}}:bytes`)).toBe(2);
    clock.advance(1000);
    expect(await store.usage(account)).toEqual({ usedBytes: 0, reservedBytes: 0 });
    expect(await redis.exists(`ttl:quota:{${account}}:expiry`, `ttl:quota:{${account}}:bytes`)).toBe(0);
  });
});

describe('quota tickets across the lives of a Redis', () => {
  it('a ticket taken before the account’s keys went (restart, eviction) sets nothing: every figure of the new life was read after it', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const store = createRedisQuotaStore({ redis, clock, keyPrefix: 'lives:', timeoutMs: RELAXED_TIMEOUT_MS });
    const account = `acct-${randomUUID()}`;
    await store.resync(account, 0);
    // Life 1 hands out many tickets; the write holding the last one is slow to settle.
    for (let i = 0; i < 5; i++) await store.ticket(account);
    const old = await store.ticket(account);
    await redis.del(`lives:quota:{${account}}`, `lives:quota:{${account}}:expiry`, `lives:quota:{${account}}:bytes`);
    // Life 2: the figure loaded afresh, then a write settled under the new life's first ticket.
    await store.resync(account, 3 * MiB);
    const fresh = await store.ticket(account);
    expect(fresh.epoch).not.toBe(old.epoch);
    await store.settle(account, 4 * MiB, [], { ticket: fresh });
    // The old ticket belongs to the other life: refused, whatever its seq.
    await store.settle(account, MiB, [], { ticket: old });
    await store.resync(account, MiB, old);
    expect(await store.usage(account)).toEqual({ usedBytes: 4 * MiB, reservedBytes: 0 });
    // Nor does it sync an account the new life has not loaded yet.
    await redis.del(`lives:quota:{${account}}`);
    await store.settle(account, MiB, [], { ticket: old });
    await expect(store.usage(account)).rejects.toMatchObject({ reason: 'unsynced' });
  });
});

describe('quota tickets across a Redis rolled back (restart from a snapshot, a lagging replica promoted)', () => {
  it('the same epoch comes back with an older seq, yet a ticket given before the rollback never replaces a figure set after it', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const store = createRedisQuotaStore({ redis, clock, keyPrefix: 'rollback:', timeoutMs: RELAXED_TIMEOUT_MS });
    const account = `acct-${randomUUID()}`;
    const hash = `rollback:quota:{${account}}`;
    await store.resync(account, 0, await store.ticket(account));
    const snapshot = await redis.hgetall(hash);
    // Other gateways take tickets; then gateway P commits a MiB, takes its ticket and reads its figure: 1 MiB.
    for (let i = 0; i < 3; i++) await store.ticket(account);
    const beforeRollback = await store.ticket(account);
    // Redis goes back to the snapshot: same epoch, older seq.
    await redis.del(hash);
    await redis.hset(hash, snapshot);
    // Gateway Q commits another MiB and settles under its reservation's mark: 2 MiB.
    const q = await store.reserve(account, MiB, 100 * MiB);
    if (!q.ok) throw new Error('reservation refused');
    expect(q.mark.epoch).toBe(beforeRollback.epoch);
    expect(await store.settle(account, 2 * MiB, [q.reservationId], { mark: q.mark })).toBe(true);
    // P's figure, read before Q's write, arrives: refused.
    await store.settle(account, MiB, [], { ticket: beforeRollback });
    await store.resync(account, MiB, beforeRollback);
    expect(await store.usage(account)).toEqual({ usedBytes: 2 * MiB, reservedBytes: 0 });
  });
});

describe('one Lua script per call', () => {
  /** Commands each connection sent while `action` ran, seen through MONITOR (script-internal calls excluded). */
  async function commandsDuring(action: (client: Redis) => Promise<void>) {
    const client = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    const monitorClient = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(client, monitorClient);
    const monitor = await monitorClient.monitor();
    const marker = `marker-${randomUUID()}`;
    const seen: string[][] = [];
    const done = new Promise<void>((resolve) => {
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) resolve();
        else if (source !== 'lua') seen.push(args.map((arg) => arg.toLowerCase()));
      });
    });
    await action(client);
    await redis.echo(marker);
    await done;
    monitor.disconnect();
    return seen;
  }

  it('a rate-limit check its process holds no lease for is exactly one EVAL/EVALSHA command (3/s takes nothing ahead)', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const seen = await commandsDuring(async (client) => {
      const limiter = createRedisRateLimiter({ redis: client, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS });
      for (let i = 0; i < 5; i++) await limiter.check('one-script', { limit: 3, windowMs: 1000 });
    });
    expect(seen.map((args) => args[0])).toEqual(['eval', 'evalsha', 'evalsha', 'evalsha', 'evalsha']);
  });

  it('checks asked during one event-loop turn reach Redis as one script run in one write, each decided on its own', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const client = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(client);
    const limiter = createRedisRateLimiter({ redis: client, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS });
    await limiter.check('turn-warm-up', { limit: 3, windowMs: 1000 });
    const stream = client.stream as { write: (...args: unknown[]) => boolean };
    const write = stream.write;
    let writes = 0;
    stream.write = function (this: unknown, ...args: unknown[]) {
      writes += 1;
      return write.apply(this, args);
    };
    const seen = await commandsDuring(async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => limiter.check(`turn-${i % 4}`, { limit: 3, windowMs: 1000 })));
      // Four keys, five checks each against a burst of three: every check was decided on its own, in order.
      expect(results.map((result) => result.allowed)).toEqual(Array.from({ length: 20 }, (_, i) => i < 12));
      expect(results.filter((result) => result.allowed).map((result) => result.remaining)).toEqual([...Array(4).fill(2), ...Array(4).fill(1), ...Array(4).fill(0)]);
    });
    stream.write = write;
    expect(writes).toBe(1);
    // One EVALSHA naming the four keys once each (numkeys is its third argument): five requests of a key are one lease.
    expect(seen.map((args) => [args[0], args[2]])).toEqual([['evalsha', '4']]);
  });

  it('the client leaves batching to the limiter: no ioredis auto-pipelining, whose Pipeline per turn cost more CPU than it saved', async () => {
    const client = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(client);
    expect(client.options.enableAutoPipelining).toBe(false);
  });

  it('a turn with more keys than one batch holds sends several script runs, and decides every check', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const limiter = createRedisRateLimiter({ redis, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS });
    const prefix = randomUUID();
    const seen = await commandsDuring(async () => {
      // 600 keys with a burst of one, each asked twice in a row: the first allowed, the second not.
      const results = await Promise.all(Array.from({ length: 1200 }, (_, i) => limiter.check(`${prefix}-${Math.floor(i / 2)}`, { limit: 1, windowMs: 1000 })));
      expect(results.map((result) => result.allowed)).toEqual(Array.from({ length: 1200 }, (_, i) => i % 2 === 0));
      expect(results.some((result) => result.degraded)).toBe(false);
    });
    // 600 keys: script runs of 256, 256 and 88 keys.
    expect(seen.filter((args) => args[0] === 'evalsha' || args[0] === 'eval').map((args) => args[2])).toEqual(['256', '256', '88']);
  });

  it('600 checks of one key in one turn are one lease of 600 requests: exactly the burst allowed', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const limiter = createRedisRateLimiter({ redis, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS });
    const key = `big-turn-${randomUUID()}`;
    const seen = await commandsDuring(async () => {
      const results = await Promise.all(Array.from({ length: 600 }, () => limiter.check(key, { limit: 500, windowMs: 1000 })));
      expect(results.filter((result) => result.allowed)).toHaveLength(500);
    });
    expect(seen.filter((args) => args[0] === 'evalsha' || args[0] === 'eval').map((args) => args[2])).toEqual(['1']);
  });

  const scriptRuns = (seen: string[][]) => seen.filter((args) => args[0] === 'evalsha' || args[0] === 'eval').length;

  /** A 1000/s key on a limiter with 100 ms leases: its answers, its script runs while `steps` ran, and the key's state after. */
  async function leaseRun(steps: (check: () => Promise<RateLimitResult>, clock: ReturnType<typeof fixedClock>) => Promise<void>) {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const key = `lease-${randomUUID()}`;
    const results: RateLimitResult[] = [];
    const seen = await commandsDuring(async (client) => {
      const limiter = createRedisRateLimiter({ redis: client, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS, leaseMs: 100 });
      await steps(async () => {
        const result = await limiter.check(key, { limit: 1000, windowMs: 1000 });
        results.push(result);
        return result;
      }, clock);
    });
    return { results, runs: scriptRuns(seen), state: await redis.get(`rl:1000/1000:${key}`), now: clock.now().getTime() };
  }

  it('a busy key is answered from leases that grow with use: 103 checks of 1000/s are 8 script runs, counted down as one bucket', async () => {
    const { results, runs, state, now } = await leaseRun(async (check) => {
      for (let i = 0; i < 103; i++) await check();
    });
    // The cold key takes one request; then each take is one request and a lease twice the last
    // one, which was used up: 1+1, 1+2, 1+4 … 1+64 (the rule's refill over 100 ms caps it at 100).
    // 1 + 2 + 3 + 5 + 9 + 17 + 33 + 65 = 135 taken for 103 answered.
    expect(runs).toBe(8);
    expect(results.map((result) => result.remaining)).toEqual(Array.from({ length: 103 }, (_, i) => 999 - i));
    expect(results.every((result) => result.allowed && !result.degraded)).toBe(true);
    expect(results[102]).toEqual({ allowed: true, limit: 1000, remaining: 897, resetMs: 103 });
    // The shared bucket was charged for all it handed out, the 32 still leased included.
    expect(state).toBe(`${now} ${135 * 1000}`);
  });

  it('a lease is used only within leaseMs of being charged; the next one shrinks to what was used of it', async () => {
    const { results, runs, state, now } = await leaseRun(async (check, clock) => {
      await check(); // cold: 1
      await check(); // 1 + a lease of 1
      await check(); // from the lease
      await check(); // used up: 1 + a lease of 2
      clock.advance(99);
      await check(); // still from the lease (1 of its 2 left)
      clock.advance(1);
      await check(); // 100 ms: the lease is over, one token lost; used 1 of 2, so 1 + a lease of 1
    });
    expect(runs).toBe(4);
    // 99 ms on, the lease answers as gcra would for requests at those times: 99 ms refilled.
    expect(results[4]).toEqual({ allowed: true, limit: 1000, remaining: 999, resetMs: 1 });
    expect(results[5]).toEqual({ allowed: true, limit: 1000, remaining: 999, resetMs: 1 });
    // 6 charged at the start have all refilled by now; this take charged 2.
    expect(state).toBe(`${now} ${2 * 1000}`);
  });

  it('a clock going back voids the lease (its time would refill it anew)', async () => {
    const { results, runs } = await leaseRun(async (check, clock) => {
      await check();
      await check(); // 1 + a lease of 1
      clock.advance(-1);
      await check(); // not from the lease, and not warm: exactly one
    });
    expect(runs).toBe(3);
    expect(results[2]).toMatchObject({ allowed: true, remaining: 996 });
  });

  it('a check asked while a take of its key is out waits for that take’s lease instead of sending another', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const key = `lease-${randomUUID()}`;
    const rule = { limit: 1000, windowMs: 1000 };
    const blocker = await connectedClient(server.url, { commandTimeoutMs: RELAXED_TIMEOUT_MS });
    clients.push(blocker);
    let results: RateLimitResult[] = [];
    const seen = await commandsDuring(async (client) => {
      const limiter = createRedisRateLimiter({ redis: client, clock, timeoutMs: RELAXED_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS, leaseMs: 100 });
      await limiter.check(key, rule);
      await limiter.check(key, rule); // 1 + a lease of 1
      await limiter.check(key, rule); // from it: used up
      // Redis busy for 100 ms (a script spinning on its clock): the next take stays out meanwhile.
      const busy = blocker.eval("local s = redis.call('TIME') repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 100000 return 1", 0);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const first = limiter.check(key, rule); // 1 + a lease of 2
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const second = limiter.check(key, rule); // a later turn, while the take is out
      results = await Promise.all([first, second]);
      await busy;
    });
    // The limiter's scripts (the busy script names no key).
    const wants = seen.filter((args) => (args[0] === 'evalsha' || args[0] === 'eval') && args[2] !== '0').map((args) => args.at(-1));
    // No take for the second check: it was answered from the lease the first one brought.
    expect(wants).toEqual(['1', '2', '3']);
    expect(results).toEqual([
      { allowed: true, limit: 1000, remaining: 996, resetMs: 4 },
      { allowed: true, limit: 1000, remaining: 995, resetMs: 5 },
    ]);
  });

  it('each quota operation is exactly one EVAL/EVALSHA command', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const seen = await commandsDuring(async (client) => {
      const store = createRedisQuotaStore({ redis: client, clock, timeoutMs: RELAXED_TIMEOUT_MS });
      await store.resync('one-script', 0);
      const reservation = await store.reserve('one-script', 10, 100);
      if (!reservation.ok) throw new Error('reserve failed');
      await store.commit('one-script', reservation.reservationId, 10);
      await store.usage('one-script');
      const second = await store.reserve('one-script', 10, 100);
      if (!second.ok) throw new Error('reserve failed');
      await store.release('one-script', second.reservationId);
      await store.adjust('one-script', -10);
      await store.settle('one-script', 0, [], { ticket: await store.ticket('one-script') });
    });
    expect(seen).toHaveLength(9);
    for (const args of seen) expect(['eval', 'evalsha']).toContain(args[0]);
  });
});

describe('Redis down or slow', () => {
  let outage: RedisTestServer;
  beforeAll(async () => {
    outage = await startRedisServer();
  });
  afterAll(async () => {
    await outage?.close();
  });

  // No stopwatch here: a call that waited for the dead or frozen server would never settle (the
  // test times out), and one that settles before the server answers proves the timeout fired.
  const settle = <T>(call: () => Promise<T>) =>
    call().then(
      (value) => ({ value, error: undefined as unknown }),
      (error: unknown) => ({ value: undefined, error }),
    );

  async function setup() {
    const { logger, lines } = captureLogger();
    const client = await connectedClient(outage.url, { commandTimeoutMs: OUTAGE_TIMEOUT_MS, logger });
    clients.push(client);
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const limiter = createRedisRateLimiter({ redis: client, clock, logger, timeoutMs: OUTAGE_TIMEOUT_MS, expirySlackMs: FROZEN_CLOCK_SLACK_MS });
    const store: QuotaStore = createRedisQuotaStore({ redis: client, clock, logger, timeoutMs: OUTAGE_TIMEOUT_MS });
    return { client, clock, limiter, store, lines, account: `acct-${randomUUID()}` };
  }

  it('server stopped: checks fail open (degraded) without waiting for Redis, quota reports unavailable; after a restart both work again', async () => {
    const { limiter, store, lines, account } = await setup();
    const rule = { limit: 10, windowMs: 1000 };
    const key = `${account}:write`;
    await store.resync(account, 0);
    expect(await limiter.check(key, rule)).toMatchObject({ allowed: true, remaining: 9 });
    expect((await store.reserve(account, 5, 100)).ok).toBe(true);

    await outage.stop('SIGKILL');

    for (let i = 0; i < 20; i++) {
      const { value } = await settle(() => limiter.check(key, rule));
      expect(value).toEqual({ allowed: true, limit: 10, remaining: 10, resetMs: 0, degraded: true });
    }
    const warnings = lines.filter((line) => line.level === 'warn' && line.message.startsWith('rate limiter'));
    expect(warnings).toHaveLength(1); // one line per outage, not one per request

    const quotaCalls: (() => Promise<unknown>)[] = [
      () => store.reserve(account, 1, 100),
      () => store.commit(account, 'some-reservation', 1),
      () => store.release(account, 'some-reservation'),
      () => store.adjust(account, -1),
      () => store.usage(account),
      () => store.resync(account, 0),
    ];
    for (const call of quotaCalls) {
      const { error } = await settle(call);
      expect(isLimitsUnavailable(error, 'unavailable')).toBe(true);
    }

    await outage.start();
    // ioredis reconnects by itself; no new client, limiter or store.
    const first = await until('a non-degraded check', async () => {
      const result = await limiter.check(key, rule);
      return result.allowed && result.degraded ? undefined : result;
    });
    expect(first).toMatchObject({ allowed: true, remaining: 9 }); // the restarted server starts empty
    expect(lines.some((line) => line.level === 'info' && line.message === 'rate limiter: Redis reachable again')).toBe(true);
    let allowed = 1;
    for (let i = 0; i < 15; i++) if ((await limiter.check(key, rule)).allowed) allowed++;
    expect(allowed).toBe(10);

    // The restarted server lost the usage: quota says so until it is resynced from the database.
    await expect(store.reserve(account, 1, 100)).rejects.toMatchObject({ reason: 'unsynced' });
    await store.resync(account, 90);
    expect((await store.reserve(account, 10, 100)).ok).toBe(true);
    expect((await store.reserve(account, 1, 100)).ok).toBe(false);
    expect(await store.usage(account)).toEqual({ usedBytes: 90, reservedBytes: 10 });
  });

  it('server frozen (slow): a check returns degraded within the timeout, then recovers', async () => {
    const { limiter, store, account } = await setup();
    const rule = { limit: 10, windowMs: 1000 };
    const key = `${account}:read`;
    await store.resync(account, 0);
    expect((await limiter.check(key, rule)).degraded).toBeUndefined();

    outage.pause();
    try {
      // The server stays frozen until `finally`: only the client's timeout can settle these calls.
      const check = await settle(() => limiter.check(key, rule));
      expect(check.value).toMatchObject({ allowed: true, degraded: true });
      const reserve = await settle(() => store.reserve(account, 1, 100));
      expect(isLimitsUnavailable(reserve.error, 'unavailable')).toBe(true);
    } finally {
      outage.resume();
    }

    const result = await until('a non-degraded check', async () => {
      const r = await limiter.check(key, rule);
      return r.allowed && r.degraded ? undefined : r;
    });
    expect(result.allowed).toBe(true);
    expect((await store.usage(account)).usedBytes).toBe(0);
  });

  it('Redis unreachable from the start: fails open at once', async () => {
    const { logger, lines } = captureLogger();
    const client = createRedisClient('redis://127.0.0.1:1', { commandTimeoutMs: 100, connectTimeoutMs: 200, logger });
    clients.push(client);
    const limiter = createRedisRateLimiter({ redis: client, logger });
    const store = createRedisQuotaStore({ redis: client, logger });
    const { value } = await settle(() => limiter.check('k', { limit: 1, windowMs: 1000 }));
    expect(value).toMatchObject({ allowed: true, degraded: true });
    await expect(store.reserve('acct', 1, 10)).rejects.toMatchObject({ reason: 'unavailable' });
    expect(lines.some((line) => line.level === 'warn')).toBe(true);
  });
});

describe('createLimits', () => {
  it('with a Redis URL, builds Redis-backed limits that share state with other processes', async () => {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const one = await createLimits({ redisUrl: server.url, clock, keyPrefix: 'limits:', timeoutMs: RELAXED_TIMEOUT_MS, loadUsage: async () => 7 });
    const two = await createLimits({ redisUrl: server.url, clock, keyPrefix: 'limits:', timeoutMs: RELAXED_TIMEOUT_MS });
    try {
      expect(one.backend).toBe('redis');
      const key = `acct-${randomUUID()}:login`;
      const rule = { limit: 2, windowMs: 60_000 };
      expect((await one.rateLimiter.check(key, rule)).allowed).toBe(true);
      expect((await two.rateLimiter.check(key, rule)).allowed).toBe(true);
      expect((await one.rateLimiter.check(key, rule)).allowed).toBe(false);
      const account = `acct-${randomUUID()}`;
      expect((await one.quotaStore.reserve(account, 3, 10)).ok).toBe(true); // loads 7 used bytes
      expect(await two.quotaStore.usage(account)).toEqual({ usedBytes: 7, reservedBytes: 3 });
    } finally {
      await one.close();
      await two.close();
    }
  });
});
