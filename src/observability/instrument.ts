import type { RateLimiter, RateLimitRule } from '../limits/rate-limiter.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import type { Metrics } from './metrics.ts';

/** Every call the doors reach the store through (`local` state and `close` excluded). */
const BACKEND_CALLS = [
  'createBucket',
  'deleteBucket',
  'putObject',
  'getObject',
  'headObject',
  'deleteObject',
  'deleteObjects',
  'copyObject',
  'listObjects',
  'getObjectTagging',
  'putObjectTagging',
  'deleteObjectTagging',
  'createMultipartUpload',
  'uploadPart',
  'uploadPartCopy',
  'completeMultipartUpload',
  'abortMultipartUpload',
  'listParts',
  'listMultipartUploads',
  'health',
] as const satisfies ReadonlyArray<keyof StorageBackend>;

type AnyCall = (a?: unknown, b?: unknown) => Promise<unknown>;

/**
 * Times every backend call and counts its server-side failures, in one place: the backend object
 * the core built is instrumented in place, so the objects service, the buckets use cases, quotas
 * and health (which all hold this same object) are measured without knowing it. Each method is
 * wrapped once, with its metrics series resolved once: a call costs two clock reads and an await.
 */
export function instrumentBackend(backend: StorageBackend, metrics: Metrics): void {
  for (const name of BACKEND_CALLS) {
    const original = backend[name] as AnyCall;
    const call = metrics.backendCall(name);
    const instrumented: AnyCall = async (a, b) => {
      const start = performance.now();
      try {
        return await original.call(backend, a, b);
      } catch (error) {
        call.failed(error);
        throw error;
      } finally {
        call.observe((performance.now() - start) / 1000);
      }
    };
    (backend as unknown as Record<string, AnyCall>)[name] = instrumented;
  }
}

/** `s3:read` of `s3:read:<account>`, `api:dashboard` of `api:dashboard:user:<id>`: the limiter key's first two parts. */
function scopeOf(key: string): string {
  const second = key.indexOf(':', key.indexOf(':') + 1);
  return second === -1 ? key : key.slice(0, second);
}

/** The limiter every door uses, counting refusals and fail-open passes (only those build the scope label). */
export function instrumentRateLimiter(limiter: RateLimiter, metrics: Metrics): RateLimiter {
  return {
    async check(key, rule) {
      const result = await limiter.check(key, rule);
      if (!result.allowed || result.degraded) metrics.rateLimitChecked(scopeOf(key), result);
      return result;
    },
    observe(key, result) {
      if (!result.allowed || result.degraded) metrics.rateLimitChecked(scopeOf(key), result);
      limiter.observe?.(key, result);
    },
    close: () => limiter.close(),
  };
}

/** A rule no probe can exhaust: the probe asks the limits backend a question, never to limit anything. */
const PROBE_RULE: RateLimitRule = { limit: 1_000_000, windowMs: 1 };

/**
 * Whether the limits backend (Redis) is degraded right now: one limiter check, which fails open
 * with `degraded` when Redis does not answer within REDIS_TIMEOUT_MS. The in-process limiter is
 * never degraded. Asked when /metrics is scraped, so the gauge is current even while idle.
 */
export async function limitsDegraded(limiter: RateLimiter): Promise<boolean> {
  const result = await limiter.check('metrics:redis-probe', PROBE_RULE);
  return result.degraded === true;
}
