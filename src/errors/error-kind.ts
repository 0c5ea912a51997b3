/**
 * What went wrong, in the domain's words rather than a protocol's: every error the core throws
 * (an `AppError`, an `S3Error` from the catalog) has one kind, and each door renders kinds in its
 * own vocabulary (src/errors/render-s3.ts for the gateway, render-json.ts for the REST APIs). A
 * new error needs only a kind to be answered sensibly everywhere.
 */
export const ERROR_KINDS = [
  'invalid_input',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'length_required',
  'precondition_failed',
  'not_modified',
  'too_large',
  'quota_exceeded',
  'range_not_satisfiable',
  'rate_limited',
  'internal',
  'not_implemented',
  'unavailable',
  'insufficient_storage',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * The HTTP status of a kind on the JSON doors. Quota is 413 there (the documented
 * `files.quota_exceeded`): the body is what does not fit; S3 keeps its own 403 QuotaExceeded.
 */
export const KIND_STATUS = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  length_required: 411,
  precondition_failed: 412,
  not_modified: 304,
  too_large: 413,
  quota_exceeded: 413,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
  insufficient_storage: 507,
} as const satisfies Record<ErrorKind, number>;

/** The kind an error with only a status means (AppErrors that name no kind). */
export function kindOfStatus(status: number): ErrorKind {
  const exact = (Object.keys(KIND_STATUS) as ErrorKind[]).find((kind) => KIND_STATUS[kind] === status && kind !== 'quota_exceeded');
  if (exact) return exact;
  if (status >= 500) return 'internal';
  return 'invalid_input';
}

/** Kinds a client should retry after a pause: they answer with `Retry-After`. */
export const RETRYABLE_KINDS: ReadonlySet<ErrorKind> = new Set(['unavailable', 'rate_limited']);
