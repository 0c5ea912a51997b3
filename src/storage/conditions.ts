import { S3Error } from '../errors/s3-errors.ts';
import type { ByteRangeSpec, Conditions, WriteConditions } from './storage-backend.ts';

function etagMatches(header: string, etag: string): boolean {
  const bare = etag.replace(/^"|"$/g, '');
  return header
    .split(',')
    .map((candidate) => candidate.trim().replace(/^W\//, '').replace(/^"|"$/g, ''))
    .some((candidate) => candidate === '*' || candidate === bare);
}

/** HTTP dates have second precision; compare on whole seconds so a client echoing Last-Modified matches. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * RFC 7232 evaluation with S3's precedence: If-Match wins over If-Unmodified-Since, If-None-Match
 * over If-Modified-Since. For CopyObject sources every failure is a 412 (`forCopySource`).
 */
export function evaluateConditions(object: { etag: string; lastModified: Date }, conditions: Conditions | undefined, options: { forCopySource?: boolean } = {}): void {
  if (!conditions) return;
  const { ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince } = conditions;
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, object.etag)) throw new S3Error('PreconditionFailed', undefined, { details: { Condition: 'If-Match' } });
  } else if (ifUnmodifiedSince && seconds(object.lastModified) > seconds(ifUnmodifiedSince)) {
    throw new S3Error('PreconditionFailed', undefined, { details: { Condition: 'If-Unmodified-Since' } });
  }
  const notModified = options.forCopySource ? 'PreconditionFailed' : 'NotModified';
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, object.etag)) throw new S3Error(notModified, undefined, { details: { Condition: 'If-None-Match' } });
  } else if (ifModifiedSince && seconds(object.lastModified) <= seconds(ifModifiedSince)) {
    throw new S3Error(notModified, undefined, { details: { Condition: 'If-Modified-Since' } });
  }
}

/**
 * The conditions of a write (PutObject, CompleteMultipartUpload) from its `If-Match` and
 * `If-None-Match` headers; undefined when neither was sent. S3 accepts one of them, If-None-Match
 * only as `*` and If-Match only as an ETag: anything else is NotImplemented (501) naming the
 * header, as S3 answers it, never silently ignored (a client relying on it would lose updates).
 */
export function parseWriteConditions(ifMatch: string | undefined, ifNoneMatch: string | undefined): WriteConditions | undefined {
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw notImplemented('If-Match,If-None-Match', 'Multiple conditional request headers present in the request');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match', "We don't accept the provided value of If-None-Match header for this API");
    return { ifNoneMatch: '*' };
  }
  const etag = ifMatch!.trim();
  if (etag === '' || etag === '*') throw notImplemented('If-Match', "We don't accept the provided value of If-Match header for this API");
  return { ifMatch: etag };
}

function notImplemented(header: string, message: string): S3Error {
  return new S3Error('NotImplemented', message, { details: { Header: header } });
}

/** An ETag without its quotes: clients send If-Match quoted (as S3 returns ETags) or not, and RGW compares unquoted. */
export const bareEtag = (etag: string) => (etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag);

/**
 * Evaluates write conditions against what the key holds (`current`, undefined for nothing). Called
 * by the backends inside the step that makes the write visible, so it is exact under concurrency.
 */
export function checkWriteConditions(current: { etag: string } | undefined, conditions: WriteConditions | undefined, key: string): void {
  if (!conditions) return;
  if (conditions.ifNoneMatch !== undefined) {
    if (current) throw preconditionFailed('If-None-Match');
    return;
  }
  if (conditions.ifMatch === undefined) return;
  // S3: If-Match on a key that holds nothing is NoSuchKey, not a failed precondition.
  if (!current) throw new S3Error('NoSuchKey', undefined, { details: { Key: key } });
  if (bareEtag(current.etag) !== bareEtag(conditions.ifMatch)) throw preconditionFailed('If-Match');
}

function preconditionFailed(condition: 'If-Match' | 'If-None-Match'): S3Error {
  return new S3Error('PreconditionFailed', undefined, { details: { Condition: condition } });
}

/** Another conditional write of the key is being committed right now: S3's retryable 409. */
export function conditionalConflict(conditions: WriteConditions, key: string): S3Error {
  return new S3Error('ConditionalRequestConflict', undefined, {
    details: { Condition: conditions.ifNoneMatch !== undefined ? 'If-None-Match' : 'If-Match', Key: key },
  });
}

/**
 * Parses `Range: bytes=…` into one range. Anything else (other units, several ranges, garbage)
 * is undefined and the whole object is served, as S3 does and RFC 9110 allows.
 */
export function parseRange(value: string | undefined): ByteRangeSpec | undefined {
  if (!value) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') return { kind: 'suffix', length: Number(last) };
  const start = Number(first);
  if (last === '') return { kind: 'from', start };
  const end = Number(last);
  if (end < start) return undefined;
  return { kind: 'from', start, end };
}

/** Resolves a range against the object size (inclusive bounds) or throws InvalidRange (416). */
export function resolveRange(spec: ByteRangeSpec, size: number): { start: number; end: number } {
  if (spec.kind === 'suffix') {
    if (spec.length <= 0 || size === 0) throw invalidRange(size);
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.start >= size) throw invalidRange(size);
  const end = spec.end === undefined ? size - 1 : Math.min(spec.end, size - 1);
  return { start: spec.start, end };
}

function invalidRange(size: number): S3Error {
  return new S3Error('InvalidRange', undefined, {
    details: { ActualObjectSize: String(size) },
    headers: { 'Content-Range': `bytes */${size}` },
  });
}
