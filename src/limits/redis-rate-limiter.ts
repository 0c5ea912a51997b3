import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { commandBound, createOutageReporter, silentLogger } from './errors.ts';
import { defineScripts } from './redis-scripts.ts';
import { failOpenResult, validateRule, type RateLimiter, type RateLimitResult, type RateLimitRule } from './rate-limiter.ts';

/**
 * `gcraStep` (rate-limiter.ts) in Lua: read the key's state, decide, write the new state with a TTL
 * of "until the bucket is full again" (so idle keys vanish by themselves). Run by the batch script
 * below and by the quota store's combined reserve script.
 * State is the string "anchorMs excess"; all numbers are integers below 2^53 (exact in Lua doubles).
 * Arguments: state key, nowMs, limit, windowMs, expirySlackMs.
 * Redis expires the key in its own real time while the decision runs on the caller's clock, so the
 * TTL gets a slack: a key must never vanish before its bucket is full by any caller's clock.
 * Returns {allowed 1|0, remaining, resetMs, retryAfterMs}.
 */
export const GCRA_LUA_FUNCTION = `
local function gcra(key, now, limit, window, slack)
  now = tonumber(now)
  limit = tonumber(limit)
  window = tonumber(window)
  slack = tonumber(slack)
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
  if excess + window <= capacity then
    local nextExcess = excess + window
    local resetMs = math.ceil(nextExcess / limit)
    redis.call('SET', key, string.format('%d %d', t, nextExcess), 'PX', string.format('%d', resetMs + slack))
    return {1, math.floor((capacity - nextExcess) / window), resetMs, 0}
  end
  return {0, 0, math.ceil(excess / limit), math.ceil((excess + window - capacity) / limit)}
end
`;

/**
 * Any number of checks in one script run, in order (each sees the state the previous ones left):
 * KEYS are their state keys; ARGV[1] the expiry slack, then nowMs, limit, windowMs per check.
 * Returns the checks' `gcra` replies one after another, four numbers each.
 */
const GCRA_BATCH_LUA = `${GCRA_LUA_FUNCTION}
local out = {}
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 3
  local reply = gcra(KEYS[i], ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[1])
  for j = 1, 4 do out[#out + 1] = reply[j] end
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
}

/**
 * Rate limiter shared by every gateway process through Redis. The checks asked during one turn of
 * the event loop (every request that turn's poll delivered checks its limit) go to Redis together,
 * after the turn, as one atomic script run (`GCRA_BATCH_LUA`): each is decided on its own and in
 * order, exactly as separate scripts would decide them, but the client builds, sends and parses one
 * command instead of one per request (that per-command work was most of a limit's cost per GET).
 * A single check is one script run as before. When Redis is down or slow every check of the batch
 * fails open: the request is allowed with `degraded: true` and a warning is logged (throttled).
 * The injected client is not closed by `close()`: its owner does that.
 */
/** Most checks in one script run (a few µs each in Redis). */
const MAX_BATCH = 256;

export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const clock = options.clock ?? systemClock;
  const keyPrefix = options.keyPrefix ?? '';
  const timeoutMs = options.timeoutMs ?? 100;
  const expirySlackMs = options.expirySlackMs ?? DEFAULT_EXPIRY_SLACK_MS;
  const outage = createOutageReporter(options.logger ?? silentLogger, clock, 'rate limiter');
  const bounded = commandBound(options.redis, timeoutMs);
  // No numberOfKeys: each call passes its key count first (one key per check of the batch).
  const batchScript = defineScripts(options.redis, { rateLimitGcraBatch: { lua: GCRA_BATCH_LUA } }).rateLimitGcraBatch;

  interface Pending {
    redisKey: string;
    rule: RateLimitRule;
    now: number;
    resolve: (result: RateLimitResult) => void;
  }
  let queue: Pending[] = [];

  const flush = async (): Promise<void> => {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const args: (string | number)[] = [batch.length];
    for (const pending of batch) args.push(pending.redisKey);
    args.push(expirySlackMs);
    for (const pending of batch) args.push(pending.now, pending.rule.limit, pending.rule.windowMs);
    let results: RateLimitResult[];
    try {
      const reply = (await bounded(batchScript(...args), 'rate limit check')) as number[];
      results = batch.map((pending, i) => gcraResult(pending.rule, reply.slice(i * 4, i * 4 + 4)));
    } catch (error) {
      outage.failure(error);
      for (const pending of batch) pending.resolve(failOpenResult(pending.rule));
      return;
    }
    outage.success();
    for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
  };

  return {
    check(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
      try {
        validateRule(rule);
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise((resolve) => {
        queue.push({ redisKey: rateLimitRedisKey(keyPrefix, key, rule), rule, now: clock.now().getTime(), resolve });
        // After the other requests of this turn have asked too: the servers run a turn's requests
        // together from one setImmediate (src/http/batch-requests.ts), so this flush, queued from
        // there, runs once all of them reached their check (next turn, with a non-blocking poll);
        // a full batch goes at once, so one script run stays short for Redis (it serves nobody else meanwhile).
        if (queue.length === 1) setImmediate(flush);
        else if (queue.length >= MAX_BATCH) void flush();
      });
    },
    async close() {},
  };
}
