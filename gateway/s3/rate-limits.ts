import type { ServerResponse } from 'node:http';
import type { Config } from '../../src/config/config.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { RateCharge, RateLimiter, RateLimitResult, RateLimitRule } from '../../src/limits/rate-limiter.ts';
import type { S3Operation } from './operations.ts';
import { addS3HeadFields } from './responses.ts';

export type S3RateLimitClass = 'read' | 'write' | 'list';

const LIST_OPERATIONS = new Set<S3Operation['op']>(['ListBuckets', 'ListObjects', 'ListObjectsV2', 'ListMultipartUploads', 'ListParts', 'ListObjectVersions']);
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
  applyRateLimitResult(await limiter.check(rateLimitKey(rateClass, userId), rule), rule, rateClass, outgoing, nowMs);
}

/**
 * The account's key for a class. The account id is a Redis hash tag, as in the quota store's keys,
 * so an upload's rate state and its reservation sit in one cluster slot (one script touches both).
 */
const rateLimitKey = (rateClass: S3RateLimitClass, userId: string): string => `s3:${rateClass}:{${userId}}`;

/** Uploads whose rate check the quota reservation runs (with Redis: in its one round trip). */
const CHARGED_AT_RESERVATION: ReadonlySet<S3Operation['op']> = new Set(['PutObject', 'UploadPart']);

export interface S3RateCharge extends RateCharge {
  /** Whether `settle` ran (the request reached its quota reservation). */
  readonly settled: boolean;
  /** Runs the check on its own (a request that failed before its reservation); throws TooManyRequests over the limit. */
  runAlone(): Promise<void>;
}

/**
 * For an upload: its rate check as a charge the objects service hands to the quota reservation,
 * instead of a separate round trip before it. Undefined for other operations (checked at once by
 * `enforceRateLimit`) and without a rule. A request that fails before its reservation has its
 * charge run by the gateway before the error is answered (`enforceRateLimit`), so every request
 * is counted once.
 */
export function uploadRateCharge(
  limiter: RateLimiter,
  rules: Record<S3RateLimitClass, RateLimitRule | undefined>,
  userId: string,
  operation: S3Operation,
  outgoing: ServerResponse,
  nowMs: number,
): S3RateCharge | undefined {
  if (!CHARGED_AT_RESERVATION.has(operation.op)) return undefined;
  const rateClass = rateLimitClassOf(operation);
  const rule = rules[rateClass];
  if (!rule) return undefined;
  let settled = false;
  const key = rateLimitKey(rateClass, userId);
  const charge: S3RateCharge = {
    key,
    rule,
    get settled() {
      return settled;
    },
    settle(result: RateLimitResult) {
      settled = true;
      // Decided by the quota store, not by the limiter: the limiter's wrappers (metrics) hear of it.
      limiter.observe?.(key, result);
      applyRateLimitResult(result, rule, rateClass, outgoing, nowMs);
    },
    async runAlone() {
      const result = await limiter.check(key, rule);
      settled = true;
      applyRateLimitResult(result, rule, rateClass, outgoing, nowMs);
    },
  };
  return charge;
}

/** The X-RateLimit-* headers of every response; over the limit, TooManyRequests (429) with Retry-After. */
function applyRateLimitResult(result: RateLimitResult, rule: RateLimitRule, rateClass: S3RateLimitClass, outgoing: ServerResponse, nowMs: number): void {
  addS3HeadFields(outgoing, {
    'X-RateLimit-Limit': String(result.limit),
    'X-RateLimit-Remaining': String(result.remaining),
    'X-RateLimit-Reset': String(Math.ceil((nowMs + result.resetMs) / 1000)),
  });
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
