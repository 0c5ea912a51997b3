import { AppError } from '../errors/app-errors.ts';

/**
 * The metadata database could not be reached (PostgreSQL down, restarting, out of connections).
 * Every door answers 503 with Retry-After (S3: ServiceUnavailable); nothing about the database
 * reaches the client. The request changed nothing it acknowledged: it is safe to retry.
 */
export const databaseUnavailableError = () =>
  new AppError('database.unavailable', 503, 'The metadata database is unavailable. Retry later.', { kind: 'unavailable', retryAfter: 1 });

/** A unique (or primary key) constraint refused a write: SQLite's SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY, PostgreSQL's 23505. */
export function isUniqueViolation(error: unknown): boolean {
  // drizzle's node-postgres session wraps the driver's error in a DrizzleQueryError (`cause`).
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') return true;
  }
  return false;
}
