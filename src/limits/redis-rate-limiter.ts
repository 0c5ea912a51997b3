import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { commandBound, createOutageReporter, silentLogger } from './errors.ts';
import { defineScripts } from './redis-scripts.ts';
import { failOpenResult, validateRule, type RateLimiter, type RateLimitResult, type RateLimitRule } from './rate-limiter.ts';

/**
 * `gcraStep` (rate-limiter.ts) in Lua: read the key's state, decide, write the new state with a TTL
 * of "until the bucket is full again" (so idle keys vanish by themselves). One EVALSHA per check.
 * State is the string "anchorMs excess"; all numbers are integers below 2^53 (exact in Lua doubles).
 * KEYS[1] state key; ARGV: nowMs, limit, windowMs, expirySlackMs.
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

const GCRA_LUA = `${GCRA_LUA_FUNCTION}
return gcra(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])`;

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
 * Rate limiter shared by every gateway process through Redis: one atomic Lua script per check.
 * When Redis is down or slow it fails open: the request is allowed with `degraded: true` and a
 * warning is logged (throttled). The injected client is not closed by `close()`: its owner does that.
 */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const clock = options.clock ?? systemClock;
  const keyPrefix = options.keyPrefix ?? '';
  const timeoutMs = options.timeoutMs ?? 100;
  const expirySlackMs = options.expirySlackMs ?? DEFAULT_EXPIRY_SLACK_MS;
  const outage = createOutageReporter(options.logger ?? silentLogger, clock, 'rate limiter');
  const scripts = defineScripts(options.redis, { rateLimitGcra: { numberOfKeys: 1, lua: GCRA_LUA } });
  const bounded = commandBound(options.redis, timeoutMs);

  return {
    async check(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
      validateRule(rule);
      const now = clock.now().getTime();
      let reply: number[];
      try {
        const redisKey = rateLimitRedisKey(keyPrefix, key, rule);
        reply = (await bounded(scripts.rateLimitGcra(redisKey, now, rule.limit, rule.windowMs, expirySlackMs), 'rate limit check')) as number[];
      } catch (error) {
        outage.failure(error);
        return failOpenResult(rule);
      }
      outage.success();
      return gcraResult(rule, reply);
    },
    async close() {},
  };
}
