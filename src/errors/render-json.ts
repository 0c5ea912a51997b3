import { bucketNotFoundError } from '../buckets/buckets.errors.ts';
import { isBucketRefused } from '../objects/objects.errors.ts';
import { AppError } from './app-errors.ts';
import { KIND_STATUS, RETRYABLE_KINDS, type ErrorKind } from './error-kind.ts';
import { S3Error, type S3ErrorCode } from './s3-errors.ts';

/** An error as the REST APIs answer it: the body is `{error, detail, requestId}`, plus these headers. */
export interface JsonErrorAnswer {
  status: number;
  /** Namespaced, machine-readable (`files.not_found`, `storage.unavailable`). */
  error: string;
  /** A sentence for people; never a stack trace, a backend's name or an internal identifier. */
  detail: string;
  headers: Record<string, string>;
  /** False when the error was no domain error (a bug, an unexpected failure): the caller logs it. */
  expected: boolean;
}

/**
 * A door's names for the generic kinds of core errors (e.g. the file API's `files.not_found`):
 * they replace `storage.<kind>`, never an explicitly named code such as `buckets.not_found`.
 */
export type KindVocabulary = Partial<Record<ErrorKind, string>>;

/** S3 codes that have a name of their own on the JSON doors; every other is `storage.<kind>`. */
const S3_CODE_TO_JSON: Partial<Record<S3ErrorCode, string>> = {
  NoSuchBucket: 'buckets.not_found',
  InsufficientStorage: 'storage.insufficient',
};

/** Kinds whose S3 message may carry a backend's words (codes, hosts): a fixed sentence instead. */
const FIXED_DETAIL: Partial<Record<ErrorKind, string>> = {
  unavailable: 'The storage backend is unavailable. Retry later.',
  internal: 'An unexpected error occurred. Retry later; include the requestId when reporting it.',
};

const INTERNAL: JsonErrorAnswer = { status: 500, error: 'internal', detail: FIXED_DETAIL.internal!, headers: {}, expected: false };

const retryHeaders = (kind: ErrorKind, retryAfter: string | number | undefined): Record<string, string> =>
  RETRYABLE_KINDS.has(kind) ? { 'Retry-After': String(retryAfter ?? 1) } : {};

/**
 * Any error in the REST APIs' JSON vocabulary, by its domain kind: an `AppError` keeps its
 * namespaced code and status; an `S3Error` from the core (backends, objects service) is
 * `storage.<kind>` (or the door's name for that kind) with the kind's status; `unavailable`
 * is 503 with `Retry-After`; anything else is a 500 `internal` with a fixed sentence.
 */
export function renderJsonError(error: unknown, vocabulary: KindVocabulary = {}): JsonErrorAnswer {
  if (error instanceof AppError) {
    return { status: error.status, error: error.code, detail: error.detail, headers: retryHeaders(error.kind, error.retryAfter), expected: true };
  }
  if (!(error instanceof S3Error)) return { ...INTERNAL, headers: {} };
  // Another account's bucket of that name is, for this account, not there (S3 says 403 to keys).
  if (isBucketRefused(error)) return renderJsonError(bucketNotFoundError(error.bucket));
  const kind = error.kind;
  return {
    status: KIND_STATUS[kind],
    error: S3_CODE_TO_JSON[error.code] ?? vocabulary[kind] ?? `storage.${kind}`,
    detail: FIXED_DETAIL[kind] ?? error.message,
    headers: retryHeaders(kind, error.headers['Retry-After']),
    expected: kind !== 'internal',
  };
}
