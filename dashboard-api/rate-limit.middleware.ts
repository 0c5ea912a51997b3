import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Clock } from '../src/clock.ts';
import type { RateLimiter, RateLimitRule } from '../src/limits/rate-limiter.ts';
import { jsonError } from './errors.ts';

/** Whom a request is counted against: the account once authenticated routes exist, else the client address. */
export type RateLimitKey = (c: Context) => string;

export const byClientAddress: RateLimitKey = (c) => `ip:${getConnInfo(c).remote.address ?? 'unknown'}`;

/**
 * Dashboard API rate limiting: X-RateLimit-* headers on every response and, over the limit,
 * `429 {error: "rate_limited", detail, requestId}` with Retry-After.
 */
export function rateLimit(options: { limiter: RateLimiter; rule: RateLimitRule | undefined; scope: string; keyOf: RateLimitKey; clock: Clock }): MiddlewareHandler {
  const { limiter, rule, scope, keyOf, clock } = options;
  return async (c, next) => {
    if (!rule) return next();
    const result = await limiter.check(`api:${scope}:${keyOf(c)}`, rule);
    const headers = {
      'X-RateLimit-Limit': String(result.limit),
      'X-RateLimit-Remaining': String(result.remaining),
      'X-RateLimit-Reset': String(Math.ceil((clock.now().getTime() + result.resetMs) / 1000)),
    };
    if (!result.allowed) {
      return jsonError(c, 429, 'rate_limited', `Too many requests. Try again in ${result.retryAfterSeconds} seconds.`, {
        ...headers,
        'Retry-After': String(result.retryAfterSeconds),
      });
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}
