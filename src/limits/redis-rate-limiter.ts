import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { commandBound, createOutageReporter, silentLogger } from './errors.ts';
import { defineScripts } from './redis-scripts.ts';
import { failOpenResult, gcraAllowed, gcraDenied, gcraStep, validateRule, type GcraState, type RateLimiter, type RateLimitResult, type RateLimitRule } from './rate-limiter.ts';

/**
 * `gcraStep` (rate-limiter.ts) in Lua, and its form for several requests at once.
 * State is the string "anchorMs excess"; all numbers are integers below 2^53 (exact in Lua doubles).
 * Redis expires the key in its own real time while the decision runs on the caller's clock, so the
 * TTL gets a slack: a key must never vanish before its bucket is full by any caller's clock.
 *
 * `gcraTake(key, nowMs, limit, windowMs, expirySlackMs, want)`: a lease, up to `want` requests'
 * worth of the key's bucket taken in one step, charged at once as if that many requests had
 * arrived now (the state `want` gcra calls in a row would leave), with a TTL of "until the bucket
 * is full again" (so idle keys vanish by themselves). Returns {granted, t, excessBefore}:
 * `granted` (0..want) requests fit; the caller derives each one's answer (and a denial's
 * Retry-After) from `t` and `excessBefore` exactly as gcra would.
 *
 * `gcra(key, nowMs, limit, windowMs, expirySlackMs)`: one request, the take of one, answered
 * {allowed 1|0, remaining, resetMs, retryAfterMs}. Run by the quota store's combined reserve
 * script (an upload's rate check and reservation in one round trip).
 */
export const GCRA_LUA_FUNCTION = `
local function gcraTake(key, now, limit, window, slack, want)
  now = tonumber(now)
  limit = tonumber(limit)
  window = tonumber(window)
  want = tonumber(want)
  local capacity = limit * window
  local t = now
  local excess = 0
  local raw = redis.call('GET', key)
  if raw then
    local sep = string.find(raw, ' ', 1, true)
    local anchor = tonumber(string.sub(raw, 1, sep - 1))
    if anchor > t then t = anchor end
    excess = tonumber(string.sub(raw, sep + 1)) - (t - anchor) * limit
    if excess < 0 then excess = 0 end
  end
  local granted = math.floor((capacity - excess) / window)
  if granted > want then granted = want end
  if granted < 0 then granted = 0 end
  if granted > 0 then
    local nextExcess = excess + granted * window
    redis.call('SET', key, string.format('%d %d', t, nextExcess), 'PX', string.format('%d', math.ceil(nextExcess / limit) + tonumber(slack)))
  end
  return {granted, t, excess}
end
local function gcra(key, now, limit, window, slack)
  local taken = gcraTake(key, now, limit, window, slack, 1)
  local excess = taken[3]
  limit = tonumber(limit)
  window = tonumber(window)
  local capacity = limit * window
  if taken[1] == 1 then
    local nextExcess = excess + window
    return {1, math.floor((capacity - nextExcess) / window), math.ceil(nextExcess / limit), 0}
  end
  return {0, 0, math.ceil(excess / limit), math.ceil((excess + window - capacity) / limit)}
end
`;

/**
 * Any number of leases in one script run, in order (each sees the state the previous ones left):
 * KEYS are their state keys; ARGV[1] the expiry slack, then nowMs, limit, windowMs, want per lease.
 * Returns the leases' `gcraTake` replies one after another, three numbers each.
 */
const GCRA_TAKE_BATCH_LUA = `${GCRA_LUA_FUNCTION}
local out = {}
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local reply = gcraTake(KEYS[i], ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[1], ARGV[at + 3])
  for j = 1, 3 do out[#out + 1] = reply[j] end
end
return out`;

/** The Redis key of a rate-limit state (shared with the quota store's combined reserve script). */
export function rateLimitRedisKey(keyPrefix: string, key: string, rule: RateLimitRule): string {
  return `${keyPrefix}rl:${rule.limit}/${rule.windowMs}:${key}`;
}

/** Reads a `gcra` reply ({allowed, remaining, resetMs, retryAfterMs}) as a RateLimitResult. */
export function gcraResult(rule: RateLimitRule, [allowed, remaining, resetMs, retryAfterMs]: number[]): RateLimitResult {
  if (allowed === 1) return { allowed: true, limit: rule.limit, remaining: remaining!, resetMs: resetMs! };
  return { allowed: false, limit: rule.limit, remaining: 0, resetMs: resetMs!, retryAfterMs: retryAfterMs!, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs! / 1000)) };
}

/** Keys live this much longer than "until refilled" by default (see `expirySlackMs`). */
export const DEFAULT_EXPIRY_SLACK_MS = 1_000;

/** How long a gateway may answer from what it took ahead of demand, by default (see `leaseMs`). */
export const DEFAULT_LEASE_MS = 100;

export interface RedisRateLimiterOptions {
  redis: Redis;
  clock?: Clock;
  logger?: Logger;
  /** Prepended to every key (e.g. `cs:`); keys are `${keyPrefix}rl:${limit}/${windowMs}:${key}`. */
  keyPrefix?: string;
  /**
   * Upper bound per check, in addition to the client's own `commandTimeout` (which
   * `createRedisClient` sets): a check never waits longer than this. Default 100 ms.
   */
  timeoutMs?: number;
  /**
   * Keys live this much longer than "until refilled" (Redis expires them by its own clock, the
   * decision uses the callers' clocks): covers clock skew between gateway processes. Default 1000.
   */
  expirySlackMs?: number;
  /**
   * A key this process was asked about recently takes, with its next Redis check, requests ahead
   * of demand (sized by use, at most the rule's refill over `leaseMs` and `maxLease`) and answers
   * the next requests from them without Redis, for at most `leaseMs`. 0 asks Redis for every
   * request. Default 100.
   */
  leaseMs?: number;
  /** Most requests taken ahead of demand in one lease. Default 256. */
  maxLease?: number;
}

/** Most keys in one script run (a few µs each in Redis, however many requests each stands for). */
const MAX_BATCH = 256;

/**
 * Rate limiter shared by every gateway process through Redis.
 *
 * Batches. The checks asked during one turn of the event loop (every request that turn's poll
 * delivered checks its limit) go to Redis together, after the turn, as one atomic script run
 * (`GCRA_TAKE_BATCH_LUA`), the checks of one key as one `gcraTake` of as many requests: each is
 * answered exactly as separate gcra runs in order would answer it, but the client builds, sends and
 * parses one command instead of one per request (that per-command work was most of a limit's cost
 * per GET).
 *
 * Leases. Even batched, a round trip per turn cost a third of the gateway's throughput on a busy
 * key (bench: 4 KiB GET, rate limits in Redis). A key asked again within two leases' time is
 * warm: its next Redis check also takes some requests ahead of demand, charged to the shared
 * bucket at once, and the process answers the following requests of that key from them locally
 * until they are used up or `leaseMs` has passed. How many is sized by use, never by the rule
 * alone: one, then twice the last lease each time a lease was used up, what was used of it when
 * it was not; at most the rule's refill over `leaseMs` and `maxLease`; none while another take of
 * the key is in flight. Checks of a key whose leasing take is out wait for its lease instead of
 * sending takes of their own (requests of later turns arrive meanwhile, and each turn would send
 * one, each resetting the lease's size). (Sized by the rule, a gateway asked once every 100 ms took 30 of a 300/s
 * rule each time and lost 29: a few such gateways starved each other far below the limit.)
 * The shared bucket never grants more than the rule: a lease is charged before it is used, and
 * used within `leaseMs` of being charged, so across all processes a window holds at most
 * `leaseMs` worth of the rule's rate more than the rule allows in that window. What a lease does
 * not use is lost (the bucket refills it within `leaseMs`), so the limit errs strict, by little
 * since leases follow use. A cold key, and any rule whose refill over `leaseMs` is under one
 * request (5/min logins), asks Redis for every request, as before: exact across processes.
 *
 * When Redis is down or slow every check of the batch fails open: the request is allowed with
 * `degraded: true` and a warning is logged (throttled). The injected client is not closed by
 * `close()`: its owner does that.
 */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const clock = options.clock ?? systemClock;
  const keyPrefix = options.keyPrefix ?? '';
  const timeoutMs = options.timeoutMs ?? 100;
  const expirySlackMs = options.expirySlackMs ?? DEFAULT_EXPIRY_SLACK_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const maxLease = options.maxLease ?? 256;
  const outage = createOutageReporter(options.logger ?? silentLogger, clock, 'rate limiter');
  const bounded = commandBound(options.redis, timeoutMs);
  // No numberOfKeys: each call passes its key count first (one key per lease of the batch).
  const batchScript = defineScripts(options.redis, { rateLimitGcraTakeBatch: { lua: GCRA_TAKE_BATCH_LUA } }).rateLimitGcraTakeBatch;

  /** The checks of one key asked this turn: one take of as many requests (plus what is taken ahead). */
  interface Pending {
    rule: RateLimitRule;
    now: number;
    waiters: ((result: RateLimitResult) => void)[];
  }
  /** What this process knows of a key it asked Redis about. */
  interface KeyState {
    /** Requests taken ahead and not answered yet: answered locally until `takenAt + leaseMs`. */
    tokens: number;
    /** Taken ahead by the last take (the next one grows or shrinks from it). */
    ahead: number;
    /** This process's clock when the tokens were charged. */
    takenAt: number;
    /** Takes of this key in flight: while one is, another takes nothing ahead (no hoarding). */
    inFlight: number;
    /** Requests those takes take ahead: while some are on their way, new checks wait for them. */
    aheadInFlight: number;
    /** Checks waiting for the take in flight (answered from its lease, or sent on if it falls short). */
    parked: { now: number; resolve: (result: RateLimitResult) => void }[];
    /**
     * gcra's state as if each request answered here had been charged when it was answered: the
     * X-RateLimit-* figures of local answers, as sequential checks give them.
     */
    local: GcraState;
  }
  let queue = new Map<string, Pending>();
  const keys = new Map<string, KeyState>();
  let lastSweep = 0;

  const usable = (state: KeyState, now: number) => state.tokens > 0 && now >= state.takenAt && now - state.takenAt < leaseMs;
  const warm = (state: KeyState | undefined, now: number): state is KeyState => state !== undefined && now >= state.takenAt && now - state.takenAt < 2 * leaseMs;

  /**
   * How many requests a take of a key asked at `now` takes ahead of demand: none for a cold key or
   * while another take of it is in flight; else sized by use, never by the rule alone (a lease
   * the process does not use is lost to every other process for up to `leaseMs`): twice the last
   * lease when it was used up, what was used of it when it was not; at most the rule's refill over
   * `leaseMs` and `maxLease`.
   */
  const aheadFor = (state: KeyState | undefined, rule: RateLimitRule, now: number): number => {
    if (!warm(state, now) || state.inFlight > 0) return 0;
    const cap = Math.min(maxLease, Math.floor((rule.limit * leaseMs) / rule.windowMs));
    const wanted = state.tokens === 0 ? Math.max(1, 2 * state.ahead) : state.ahead - state.tokens;
    return Math.max(0, Math.min(cap, wanted));
  };

  /**
   * A local answer: one of the tokens, and gcra's step on the local state for its figures. Every
   * token was charged to the shared bucket, whose drain the local state never exceeds, so the step
   * always has room for it.
   */
  const answerLocally = (state: KeyState, rule: RateLimitRule, now: number): RateLimitResult => {
    state.tokens--;
    const step = gcraStep(state.local, now, rule);
    if (step.next) state.local = step.next;
    return step.result;
  };

  /** Forgets keys too long unasked to be used or warm; at most once per 10 leases' time. */
  const sweep = (now: number) => {
    if (now >= lastSweep && now - lastSweep < 10 * leaseMs) return;
    lastSweep = now;
    for (const [key, state] of keys) if (state.inFlight === 0 && !warm(state, now)) keys.delete(key);
  };

  const enqueue = (redisKey: string, rule: RateLimitRule, now: number, resolve: (result: RateLimitResult) => void): void => {
    const pending = queue.get(redisKey);
    if (pending) {
      pending.waiters.push(resolve);
      return;
    }
    // A full batch goes before a new key joins, so one script run stays short for Redis (it
    // serves nobody else meanwhile) and a key's checks stay in one run.
    if (queue.size >= MAX_BATCH) void flush();
    queue.set(redisKey, { rule, now, waiters: [resolve] });
    // After the other requests of this turn have asked too: the servers run a turn's requests
    // together from one setImmediate (src/http/batch-requests.ts), so this flush, queued from
    // there, runs once all of them reached their check (next turn, with a non-blocking poll).
    if (queue.size === 1) setImmediate(flush);
  };

  const flush = async (): Promise<void> => {
    const batch = queue;
    queue = new Map();
    if (batch.size === 0) return;
    const args: (string | number)[] = [batch.size, ...batch.keys(), expirySlackMs];
    /** Per key: what it takes ahead, or undefined when another take was in flight (its size then says nothing of use). */
    const aheads: (number | undefined)[] = [];
    for (const [redisKey, pending] of batch) {
      const { rule, now } = pending;
      let state = keys.get(redisKey);
      const ahead = aheadFor(state, rule, now);
      aheads.push(state && state.inFlight > 0 ? undefined : ahead);
      if (!state) {
        state = { tokens: 0, ahead: 0, takenAt: now, inFlight: 0, aheadInFlight: 0, parked: [], local: { anchorMs: now, excess: 0 } };
        keys.set(redisKey, state);
      }
      state.inFlight++;
      state.aheadInFlight += ahead;
      args.push(now, rule.limit, rule.windowMs, pending.waiters.length + ahead);
    }
    let reply: number[] | undefined;
    try {
      reply = (await bounded(batchScript(...args), 'rate limit check')) as number[];
      outage.success();
    } catch (error) {
      outage.failure(error);
    }
    let i = -1;
    for (const [redisKey, { rule, now: asked, waiters }] of batch) {
      i++;
      const state = keys.get(redisKey)!;
      const ahead = aheads[i];
      state.inFlight--;
      state.aheadInFlight -= ahead ?? 0;
      // The checks that waited for this take: answered from its lease below, or sent on.
      const parked = state.aheadInFlight === 0 ? state.parked.splice(0) : [];
      if (!reply) {
        for (const resolve of waiters) resolve(failOpenResult(rule));
        for (const { resolve } of parked) resolve(failOpenResult(rule));
        continue;
      }
      const granted = reply[i * 3]!;
      const t = reply[i * 3 + 1]!;
      const excessBefore = reply[i * 3 + 2]!;
      const answered = Math.min(granted, waiters.length);
      // Tokens of an earlier take still usable (two takes were in flight) answer first what this one could not.
      const kept = usable(state, asked) ? state.tokens : 0;
      state.tokens = kept;
      for (let w = 0; w < waiters.length; w++) {
        if (w < answered) waiters[w]!(gcraAllowed(rule, excessBefore + (w + 1) * rule.windowMs));
        else if (state.tokens > 0) waiters[w]!(answerLocally(state, rule, asked));
        else waiters[w]!(gcraDenied(rule, excessBefore + granted * rule.windowMs));
      }
      // Left-over tokens of the earlier take keep its (earlier) expiry, and the new ones with them: never later than charged + leaseMs.
      if (state.tokens === 0) state.takenAt = asked;
      state.tokens += granted - answered;
      if (ahead !== undefined) state.ahead = ahead;
      state.local = { anchorMs: t, excess: excessBefore + answered * rule.windowMs };
      // A parked check the lease cannot answer takes anew at the time it is sent (its own time
      // may be a round trip old: a lease stamped with it would be cut short).
      for (const { now: parkedAt, resolve } of parked) {
        if (usable(state, parkedAt)) resolve(answerLocally(state, rule, parkedAt));
        else enqueue(redisKey, rule, clock.now().getTime(), resolve);
      }
    }
    // At the clock's time: the batch's last check may be a parked one asked a round trip ago.
    sweep(clock.now().getTime());
  };

  return {
    check(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
      try {
        validateRule(rule);
      } catch (error) {
        return Promise.reject(error);
      }
      const redisKey = rateLimitRedisKey(keyPrefix, key, rule);
      const now = clock.now().getTime();
      const state = keys.get(redisKey);
      if (state && usable(state, now)) return Promise.resolve(answerLocally(state, rule, now));
      return new Promise((resolve) => {
        // A take of this key that takes ahead is on its way: wait for its lease rather than send
        // another take (requests of later turns arrive while it is out, and each turn would).
        if (state && state.aheadInFlight > 0) state.parked.push({ now, resolve });
        else enqueue(redisKey, rule, now, resolve);
      });
    },
    async close() {},
  };
}
