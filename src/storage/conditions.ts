import { S3Error } from '../errors/s3-errors.ts';
import type { ByteRangeSpec, Conditions } from './storage-backend.ts';

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
