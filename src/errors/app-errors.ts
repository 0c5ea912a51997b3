import { kindOfStatus, type ErrorKind } from './error-kind.ts';

export interface AppErrorOptions {
  /** The domain kind; by default the one the status means (404 → not_found, 409 → conflict…). */
  kind?: ErrorKind;
  /** Seconds a client should wait before retrying (`Retry-After`), for `unavailable`/`rate_limited`. */
  retryAfter?: number;
}

/**
 * Domain errors shared by the dashboard API and the CLI: a namespaced code (`keys.limit_reached`),
 * an HTTP status, a human-readable detail and a domain kind. The REST APIs render them as
 * `{error, detail, requestId}` (src/errors/render-json.ts); the gateway as S3 XML by kind
 * (src/errors/render-s3.ts).
 */
export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly retryAfter: number | undefined;

  constructor(
    readonly code: string,
    readonly status: number,
    readonly detail: string,
    options: AppErrorOptions = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.kind = options.kind ?? kindOfStatus(status);
    this.retryAfter = options.retryAfter;
  }
}

export const createAppError = (code: string, status: number, detail: string, options?: AppErrorOptions) => new AppError(code, status, detail, options);

export function isAppError(error: unknown, code?: string): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
