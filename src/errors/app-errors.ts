/**
 * Domain errors shared by the dashboard API and the CLI: a namespaced code (`keys.limit_reached`),
 * an HTTP status and a human-readable detail. The dashboard renders them as
 * `{error, detail, requestId}`; the gateway maps the few it meets to S3 codes.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'AppError';
  }
}

export const createAppError = (code: string, status: number, detail: string) => new AppError(code, status, detail);

export function isAppError(error: unknown, code?: string): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
