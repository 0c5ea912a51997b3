import { AppError } from './app-errors.ts';
import { RETRYABLE_KINDS, type ErrorKind } from './error-kind.ts';
import { S3_ERRORS, S3Error, type S3ErrorCode } from './s3-errors.ts';

/** The S3 code each domain kind is answered with when no explicit override names one. */
export const KIND_TO_S3 = {
  invalid_input: 'InvalidArgument',
  // S3 answers a missing or bad credential with 403 as well.
  unauthenticated: 'AccessDenied',
  forbidden: 'AccessDenied',
  not_found: 'NoSuchKey',
  method_not_allowed: 'MethodNotAllowed',
  // S3 has no generic 409: the specific ones (bucket exists, not empty) are overrides.
  conflict: 'InvalidRequest',
  length_required: 'MissingContentLength',
  precondition_failed: 'PreconditionFailed',
  not_modified: 'NotModified',
  too_large: 'EntityTooLarge',
  quota_exceeded: 'QuotaExceeded',
  range_not_satisfiable: 'InvalidRange',
  rate_limited: 'TooManyRequests',
  internal: 'InternalError',
  not_implemented: 'NotImplemented',
  unavailable: 'ServiceUnavailable',
  insufficient_storage: 'InsufficientStorage',
} as const satisfies Record<ErrorKind, S3ErrorCode>;

/** AppErrors whose S3 answer is more specific than their kind's. */
export const APP_ERROR_TO_S3: Readonly<Record<string, S3ErrorCode>> = {
  'buckets.invalid_name': 'InvalidBucketName',
  'buckets.limit_reached': 'TooManyBuckets',
  'buckets.already_exists': 'BucketAlreadyOwnedByYou',
  'buckets.not_found': 'NoSuchBucket',
  // Another account's public bucket holds the name: AWS's answer for a name taken in a shared namespace.
  'buckets.public_name_taken': 'BucketAlreadyExists',
};

/**
 * Any domain error in S3's vocabulary (the gateway renders it as S3 XML): an `S3Error` as it is,
 * an `AppError` by its explicit override or its kind, keeping its detail and its `Retry-After`.
 * Anything else is no domain error (undefined): the gateway logs it and answers InternalError.
 */
export function toS3Error(error: unknown): S3Error | undefined {
  if (error instanceof S3Error) return error;
  if (!(error instanceof AppError)) return undefined;
  const code = APP_ERROR_TO_S3[error.code] ?? KIND_TO_S3[error.kind];
  // SDKs back off on these; Retry-After tells them how long.
  const retryAfter = error.retryAfter ?? (RETRYABLE_KINDS.has(error.kind) || RETRYABLE_KINDS.has(S3_ERRORS[code][2]) ? 1 : undefined);
  return new S3Error(code, error.detail, { headers: retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) } });
}
