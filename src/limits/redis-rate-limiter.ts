import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { createOutageReporter, silentLogger, withTimeout } from './errors.ts';
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
const GCRA_LUA = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local capacity = limit * window
local t = now
local excess = 0
local raw = redis.call('GET', KEYS[1])
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
  redis.call('SET', KEYS[1], string.format('%d %d', t, nextExcess), 'PX', string.format('%d', resetMs + slack))
  return {1, math.floor((capacity - nextExcess) / window), resetMs, 0}
end
return {0, 0, math.ceil(excess / limit), math.ceil((excess + window - capacity) / limit)}
`;

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
  const expirySlackMs = options.expirySlackMs ?? 1_000;
  const outage = createOutageReporter(options.logger ?? silentLogger, clock, 'rate limiter');
  const scripts = defineScripts(options.redis, { rateLimitGcra: { numberOfKeys: 1, lua: GCRA_LUA } });

  return {
    async check(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
      validateRule(rule);
      const now = clock.now().getTime();
      let reply: number[];
      try {
        const redisKey = `${keyPrefix}rl:${rule.limit}/${rule.windowMs}:${key}`;
        reply = (await withTimeout(scripts.rateLimitGcra(redisKey, now, rule.limit, rule.windowMs, expirySlackMs), timeoutMs, 'rate limit check')) as number[];
      } catch (error) {
        outage.failure(error);
        return failOpenResult(rule);
      }
      outage.success();
      const [allowed, remaining, resetMs, retryAfterMs] = reply;
      if (allowed === 1) return { allowed: true, limit: rule.limit, remaining, resetMs };
      return { allowed: false, limit: rule.limit, remaining: 0, resetMs, retryAfterMs, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
    },
    async close() {},
  };
}
