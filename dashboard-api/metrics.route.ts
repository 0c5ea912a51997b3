import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { jsonError } from './errors.ts';

export interface MetricsSource {
  /** Prometheus text format (the process's registry, or every worker's merged under WORKERS=N). */
  render(): Promise<string>;
  contentType: string;
}

/** Equal-length digests, so the comparison takes the same time whatever the token's length or content. */
const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `GET /metrics`. With METRICS_TOKEN set it answers only `Authorization: Bearer <token>` (401 JSON
 * otherwise); unset it is open, Prometheus' convention for a scrape on a private network: the
 * samples carry no account, bucket or key names (operations, routes, status classes only).
 */
export function metricsHandler(source: MetricsSource, token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (c: Context) => {
    if (expected !== undefined) {
      const header = c.req.header('authorization') ?? '';
      const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
      if (!timingSafeEqual(digest(presented), expected)) {
        return jsonError(c, 401, 'metrics.unauthorized', 'Send the metrics token as `Authorization: Bearer <METRICS_TOKEN>`.', { 'WWW-Authenticate': 'Bearer realm="metrics"' });
      }
    }
    return c.body(await source.render(), 200, { 'Content-Type': source.contentType, 'Cache-Control': 'no-store' });
  };
}
