import type { ServerResponse } from 'node:http';
import type { Config } from '../../src/config/config.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { RateLimiter, RateLimitRule } from '../../src/limits/rate-limiter.ts';
import type { S3Operation } from './operations.ts';

export type S3RateLimitClass = 'read' | 'write' | 'list';

const LIST_OPERATIONS = new Set<S3Operation['op']>(['ListBuckets', 'ListObjects', 'ListObjectsV2', 'ListMultipartUploads', 'ListParts']);
const READ_OPERATIONS = new Set<S3Operation['op']>([
  'GetObject',
  'HeadObject',
  'HeadBucket',
  'GetBucketLocation',
  'GetBucketVersioning',
  'GetObjectTagging',
  'GetObjectAttributes',
  'GetBucketAcl',
  'GetObjectAcl',
  'NotImplemented',
]);

/** The spec's operation classes: listings, reads (GET/HEAD), and everything that changes state. */
export function rateLimitClassOf(operation: S3Operation): S3RateLimitClass {
  if (LIST_OPERATIONS.has(operation.op)) return 'list';
  if (READ_OPERATIONS.has(operation.op)) return 'read';
  return 'write';
}

export function rateLimitRules(config: Config): Record<S3RateLimitClass, RateLimitRule | undefined> {
  return { read: config.RATE_LIMIT_READ, write: config.RATE_LIMIT_WRITE, list: config.RATE_LIMIT_LIST };
}

/**
 * Counts the request against its account and class. Sets the X-RateLimit-* headers on every
 * response; over the limit, throws TooManyRequests (429) with Retry-After, which the AWS SDKs and
 * CLIs retry with backoff.
 */
export async function enforceRateLimit(
  limiter: RateLimiter,
  rules: Record<S3RateLimitClass, RateLimitRule | undefined>,
  userId: string,
  operation: S3Operation,
  outgoing: ServerResponse,
  nowMs: number,
): Promise<void> {
  const rateClass = rateLimitClassOf(operation);
  const rule = rules[rateClass];
  if (!rule) return;
  const result = await limiter.check(`s3:${rateClass}:${userId}`, rule);
  outgoing.setHeader('X-RateLimit-Limit', String(result.limit));
  outgoing.setHeader('X-RateLimit-Remaining', String(result.remaining));
  outgoing.setHeader('X-RateLimit-Reset', String(Math.ceil((nowMs + result.resetMs) / 1000)));
  if (!result.allowed) {
    throw new S3Error('TooManyRequests', `Rate limit of ${rule.limit} ${rateClass} requests per ${rule.windowMs} ms exceeded.`, {
      headers: { 'Retry-After': String(result.retryAfterSeconds) },
    });
  }
}

/**
 * Unsigned requests have no account to count against: they are counted per client address (the
 * socket's, no proxy header trusted), all classes together. Over the limit: 503 SlowDown with
 * Retry-After, the answer S3 clients and CDNs back off on.
 */
export async function enforceAnonymousRateLimit(limiter: RateLimiter, rule: RateLimitRule | undefined, clientAddress: string | undefined): Promise<void> {
  if (!rule) return;
  const result = await limiter.check(`s3:anonymous:${clientAddress ?? 'unknown'}`, rule);
  if (!result.allowed) {
    throw new S3Error('SlowDown', `Rate limit of ${rule.limit} unsigned requests per ${rule.windowMs} ms from this address exceeded.`, {
      headers: { 'Retry-After': String(result.retryAfterSeconds) },
    });
  }
}
