import { describe, expect, it } from 'vitest';
import { BucketRefusedError, ScopeDeniedError } from '../objects/objects.errors.ts';
import { AppError, createAppError } from './app-errors.ts';
import { ERROR_KINDS, KIND_STATUS, kindOfStatus, RETRYABLE_KINDS } from './error-kind.ts';
import { renderJsonError } from './render-json.ts';
import { APP_ERROR_TO_S3, KIND_TO_S3, toS3Error } from './render-s3.ts';
import { S3_ERRORS, S3Error, type S3ErrorCode } from './s3-errors.ts';

const CODES = Object.keys(S3_ERRORS) as S3ErrorCode[];
const statusClass = (status: number) => Math.floor(status / 100);

describe('one error model: every core error has a domain kind', () => {
  it('gives every S3 catalog code a kind whose JSON status is in the same class as its S3 status', () => {
    for (const code of CODES) {
      const error = new S3Error(code);
      expect(ERROR_KINDS, code).toContain(error.kind);
      // QuotaExceeded is S3's 403 and the REST APIs' 413: both a client-side refusal.
      expect([code, statusClass(KIND_STATUS[error.kind])]).toEqual([code, statusClass(error.status)]);
    }
  });

  it('gives every kind a sensible HTTP status, and an AppError the kind its status means unless it names one', () => {
    for (const kind of ERROR_KINDS) {
      const status = KIND_STATUS[kind];
      expect(status === 304 || (status >= 400 && status <= 599), kind).toBe(true);
      if (kind !== 'quota_exceeded') expect(kindOfStatus(status)).toBe(kind);
    }
    expect(KIND_STATUS.unavailable).toBe(503);
    expect(KIND_STATUS.insufficient_storage).toBe(507);
    expect(createAppError('keys.not_found', 404, 'No such access key.').kind).toBe('not_found');
    expect(createAppError('files.quota_exceeded', 413, 'Too big.', { kind: 'quota_exceeded' }).kind).toBe('quota_exceeded');
    expect(kindOfStatus(418)).toBe('invalid_input');
    expect(kindOfStatus(502)).toBe('internal');
  });
});

describe('render-s3: any domain error in S3 vocabulary', () => {
  it('keeps an S3Error as it is', () => {
    const error = new S3Error('NoSuchKey');
    expect(toS3Error(error)).toBe(error);
  });

  it('renders an AppError of every kind as a catalog code of the same status class, with Retry-After when retryable', () => {
    for (const kind of ERROR_KINDS) {
      const rendered = toS3Error(new AppError(`test.${kind}`, KIND_STATUS[kind], `a ${kind} detail`, { kind }))!;
      expect(rendered.code, kind).toBe(KIND_TO_S3[kind]);
      expect(rendered.message).toBe(`a ${kind} detail`);
      expect([kind, statusClass(rendered.status)]).toEqual([kind, statusClass(KIND_STATUS[kind])]);
      expect([kind, rendered.headers['Retry-After']]).toEqual([kind, RETRYABLE_KINDS.has(kind) ? '1' : undefined]);
    }
    expect(toS3Error(createAppError('x.busy', 503, 'Busy.', { retryAfter: 7 }))!.headers['Retry-After']).toBe('7');
  });

  it('answers the bucket AppErrors with their specific S3 codes', () => {
    for (const [appCode, s3Code] of Object.entries(APP_ERROR_TO_S3)) {
      expect(toS3Error(createAppError(appCode, 400, 'detail'))!.code).toBe(s3Code);
    }
  });

  it('leaves anything that is no domain error to the caller (logged, InternalError)', () => {
    expect(toS3Error(new Error('ENOENT /var/lib/secret/path'))).toBeUndefined();
    expect(toS3Error('a string')).toBeUndefined();
  });
});

describe('render-json: any error in the REST APIs vocabulary', () => {
  it('renders every S3 catalog code by kind: storage.<kind> (or its own name), the kind status, Retry-After when retryable', () => {
    for (const code of CODES) {
      const error = new S3Error(code, undefined, { headers: code === 'ServiceUnavailable' ? { 'Retry-After': '4' } : {} });
      const answer = renderJsonError(error);
      expect([code, answer.status]).toEqual([code, KIND_STATUS[error.kind]]);
      const named = { NoSuchBucket: 'buckets.not_found', InsufficientStorage: 'storage.insufficient' } as Record<string, string>;
      expect([code, answer.error]).toEqual([code, named[code] ?? `storage.${error.kind}`]);
      expect(answer.detail).not.toMatch(/\bat .*\.ts:\d+|S3Error/);
      expect([code, answer.expected]).toEqual([code, error.kind !== 'internal']);
      if (RETRYABLE_KINDS.has(error.kind)) expect(answer.headers['Retry-After']).toBe(code === 'ServiceUnavailable' ? '4' : '1');
      else expect(answer.headers).toEqual({});
    }
  });

  it("answers an outage with 503 storage.unavailable and a fixed sentence, never the backend's words", () => {
    const backendSaid = new S3Error('ServiceUnavailable', 'The storage backend failed (InternalError: rgw-host-7 ECONNRESET). Retry later.', { headers: { 'Retry-After': '2' } });
    expect(renderJsonError(backendSaid)).toEqual({
      status: 503,
      error: 'storage.unavailable',
      detail: 'The storage backend is unavailable. Retry later.',
      headers: { 'Retry-After': '2' },
      expected: true,
    });
    expect(renderJsonError(new S3Error('InsufficientStorage'))).toMatchObject({ status: 507, error: 'storage.insufficient' });
  });

  it('keeps an AppError code, status and detail; Retry-After for retryable kinds', () => {
    expect(renderJsonError(createAppError('keys.not_found', 404, 'No such access key.'))).toEqual({
      status: 404,
      error: 'keys.not_found',
      detail: 'No such access key.',
      headers: {},
      expected: true,
    });
    expect(renderJsonError(createAppError('files.too_many_uploads', 429, 'Wait.')).headers).toEqual({ 'Retry-After': '1' });
  });

  it("names generic kinds in a door's vocabulary, never an explicitly named code", () => {
    const files = { not_found: 'files.not_found', forbidden: 'files.access_denied', quota_exceeded: 'files.quota_exceeded' };
    expect(renderJsonError(new S3Error('NoSuchKey'), files)).toMatchObject({ status: 404, error: 'files.not_found' });
    expect(renderJsonError(new S3Error('QuotaExceeded', 'Upload would exceed your storage quota.'), files)).toMatchObject({
      status: 413,
      error: 'files.quota_exceeded',
      detail: 'Upload would exceed your storage quota.',
    });
    expect(renderJsonError(new ScopeDeniedError(), files)).toMatchObject({ status: 403, error: 'files.access_denied' });
    expect(renderJsonError(new S3Error('NoSuchBucket'), files)).toMatchObject({ status: 404, error: 'buckets.not_found' });
    expect(renderJsonError(new S3Error('ServiceUnavailable'), files)).toMatchObject({ status: 503, error: 'storage.unavailable' });
  });

  it("answers another account's bucket as a missing one (404 buckets.not_found), not S3's 403", () => {
    for (const reason of ['foreign', 'missing'] as const) {
      expect(renderJsonError(new BucketRefusedError('photos', reason))).toEqual({
        status: 404,
        error: 'buckets.not_found',
        detail: 'No bucket named photos.',
        headers: {},
        expected: true,
      });
    }
  });

  it('answers anything else with 500 internal and a fixed sentence, flagged for the log', () => {
    const answer = renderJsonError(new TypeError("Cannot read properties of undefined (reading 'backendName')"));
    expect(answer).toEqual({
      status: 500,
      error: 'internal',
      detail: 'An unexpected error occurred. Retry later; include the requestId when reporting it.',
      headers: {},
      expected: false,
    });
  });
});
