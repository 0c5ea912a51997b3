/**
 * Rate limiting: the contract shared by the in-process and the Redis implementation, and the
 * algorithm both run (the Redis one as a Lua port of `gcraStep`).
 *
 * Algorithm: GCRA (generic cell rate algorithm, i.e. a token bucket kept as one number).
 * A rule `{ limit, windowMs }` means: a burst of at most `limit` requests, refilled continuously at
 * `limit` per `windowMs` (one request every `windowMs / limit` ms). State per key is the
 * "theoretical arrival time" kept as `(anchorMs, excess)`, where `excess` is how far the bucket is
 * drained, in units of 1/limit ms so that all arithmetic is exact integer math (300/s has an
 * emission interval of 3.333… ms; with integers a burst of exactly 300 passes and the 301st does
 * not, with no float drift). Why GCRA rather than a sliding-window counter: O(1) state (one small
 * value per key, one Redis read and write), exact answers (the weighted two-window counter is an
 * estimate that assumes uniform traffic), and an exact Retry-After.
 *
 * Guarantees: an idle key allows a burst of exactly `limit`; the long-run rate never exceeds
 * `limit` per `windowMs`; after a burst one request is allowed every `windowMs / limit` ms and the
 * full burst is back `windowMs` after the last allowed request. Like every token bucket it is not
 * a fixed-window counter: a burst followed by a steady trickle can fit up to `2·limit − 1` requests
 * into the first `windowMs` (the burst, then the refill).
 *
 * Time comes from the caller's injected clock (also for Redis, where it is passed into the script),
 * so tests control time for both implementations. Processes with skewed clocks sharing a key are
 * safe: time never runs backwards for a key (a lagging clock only sees less refill).
 */

export interface RateLimitRule {
  /** Requests allowed in a burst and per window. Positive integer. */
  limit: number;
  /** Window in milliseconds. Positive integer. */
  windowMs: number;
}

export interface RateLimitAllowed {
  allowed: true;
  limit: number;
  /** Requests still allowed right now (X-RateLimit-Remaining). */
  remaining: number;
  /** Milliseconds until the key is back at its full `limit` (X-RateLimit-Reset). */
  resetMs: number;
  /** Set when the backend (Redis) could not be asked and the request was let through (fail open). */
  degraded?: boolean;
}

export interface RateLimitDenied {
  allowed: false;
  limit: number;
  remaining: 0;
  resetMs: number;
  /** Milliseconds until the next request is allowed. */
  retryAfterMs: number;
  /** `retryAfterMs` rounded up to whole seconds, at least 1 (Retry-After header). */
  retryAfterSeconds: number;
  /** A denial always comes from a working backend. */
  degraded?: undefined;
}

export type RateLimitResult = RateLimitAllowed | RateLimitDenied;

export interface RateLimiter {
  /** Counts one request against `key` under `rule` and says whether it may proceed. Never throws for backend failures (fails open); throws `RangeError` for an invalid rule. */
  check(key: string, rule: RateLimitRule): Promise<RateLimitResult>;
  /**
   * Hears a result decided for one of this limiter's keys by another component (a quota
   * reservation that ran the check, see RateCharge), so wrappers (metrics) see every check.
   */
  observe?(key: string, result: RateLimitResult): void;
  close(): Promise<void>;
}

/**
 * A request's rate-limit check handed on to its quota reservation, so that with Redis an upload's
 * rate check and reservation are one script (one round trip) instead of two. Whoever runs the
 * check calls `settle` exactly once with the result; `settle` throws to refuse the request (the
 * gateway's throws TooManyRequests after setting the X-RateLimit-* headers).
 */
export interface RateCharge {
  key: string;
  rule: RateLimitRule;
  settle(result: RateLimitResult): void;
}

/**
 * Parses `LIMIT/WINDOW`, window as `500ms`, `1s`, `1m`, `1h` or plain milliseconds (`100/1s`,
 * `5/1m`). The `RATE_LIMIT_*` settings and their defaults live in the config schema, which uses this.
 */
export function parseRateLimitRule(raw: string, what = 'rate limit'): RateLimitRule {
  const match = /^(\d+)\s*\/\s*(\d*)\s*(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) throw new RangeError(`${what}: expected LIMIT/WINDOW like 100/1s or 5/1m, got ${JSON.stringify(raw)}`);
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const unit = units[match[3] ?? 'ms'] ?? 1;
  const rule = { limit: Number(match[1]), windowMs: Number(match[2] === '' ? 1 : match[2]) * unit };
  validateRule(rule);
  return rule;
}

export function validateRule(rule: RateLimitRule): void {
  const { limit, windowMs } = rule;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`rate limit: limit must be a positive integer, got ${limit}`);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new RangeError(`rate limit: windowMs must be a positive integer, got ${windowMs}`);
  if (!Number.isSafeInteger(limit * windowMs)) throw new RangeError('rate limit: limit × windowMs exceeds 2^53');
}

/** Per-key GCRA state. `excess` is in units of 1/limit ms: 0 = full bucket, `limit·windowMs` = empty. */
export interface GcraState {
  anchorMs: number;
  excess: number;
}

export interface GcraStep {
  result: RateLimitResult;
  /** State to store when the request was allowed (nothing changes on a denial). */
  next?: GcraState;
  /** How long `next` matters: after this many ms the key is full again and can be forgotten. */
  ttlMs: number;
}

/** One GCRA decision. Pure; mirrored line by line by the Lua script in redis-rate-limiter.ts. */
export function gcraStep(state: GcraState | undefined, nowMs: number, rule: RateLimitRule): GcraStep {
  const { limit, windowMs } = rule;
  const capacity = limit * windowMs;
  const cost = windowMs;
  let t = Math.floor(nowMs);
  let excess = 0;
  if (state) {
    if (state.anchorMs > t) t = state.anchorMs;
    excess = Math.max(0, state.excess - (t - state.anchorMs) * limit);
  }
  if (excess + cost <= capacity) {
    const next = excess + cost;
    const result = gcraAllowed(rule, next);
    return { result, next: { anchorMs: t, excess: next }, ttlMs: result.resetMs };
  }
  const result = gcraDenied(rule, excess);
  return { result, ttlMs: result.resetMs };
}

/** gcra's answer to an allowed request that left the bucket drained by `excess` (GcraState units). */
export function gcraAllowed(rule: RateLimitRule, excess: number): RateLimitAllowed {
  const { limit, windowMs } = rule;
  return { allowed: true, limit, remaining: Math.floor((limit * windowMs - excess) / windowMs), resetMs: Math.ceil(excess / limit) };
}

/** gcra's answer to a request that does not fit a bucket drained by `excess` (GcraState units). */
export function gcraDenied(rule: RateLimitRule, excess: number): RateLimitDenied {
  const { limit, windowMs } = rule;
  const retryAfterMs = Math.ceil((excess + windowMs - limit * windowMs) / limit);
  return { allowed: false, limit, remaining: 0, resetMs: Math.ceil(excess / limit), retryAfterMs, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
}

/** The answer when the backend cannot be asked: let the request through, flagged. */
export function failOpenResult(rule: RateLimitRule): RateLimitAllowed {
  return { allowed: true, limit: rule.limit, remaining: rule.limit, resetMs: 0, degraded: true };
}
