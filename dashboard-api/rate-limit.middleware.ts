import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Clock } from '../src/clock.ts';
import type { RateLimiter, RateLimitRule } from '../src/limits/rate-limiter.ts';
import { jsonError } from './errors.ts';

/** Whom a request is counted against (the part of the limiter key after the scope). */
export type RateLimitKey = (c: Context) => string;

export const byClientAddress: RateLimitKey = (c) => `ip:${getConnInfo(c).remote.address ?? 'unknown'}`;

/**
 * The signed-in account (`c.get('user')`, set by the session middleware, which must run first),
 * else the client address: one account's sessions share a budget wherever they come from, and
 * accounts behind one NAT do not starve each other.
 */
export const byAccountOrClientAddress: RateLimitKey = (c) => {
  const user = c.get('user' as never) as { id: string } | undefined;
  return user ? `user:${user.id}` : byClientAddress(c);
};

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
