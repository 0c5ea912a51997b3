import { sql as sqlTag } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { databaseUnavailableError } from './database-errors.ts';
import { createTransactionScopes, findMigrationsFolder, type DatabaseHandle, type Db, type Tables } from './database.ts';
import { escapeText } from './pg/columns.ts';
import { pgTables } from './pg/tables.ts';

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database` (DATABASE_URL). */
  url: string;
  /** Connections this process may hold at most (each gateway has its own pool). */
  poolMax: number;
  /** How long to wait for a connection (new or from a busy pool) before answering unavailable; default 5 s. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

export interface PostgresDatabaseHandle extends DatabaseHandle {
  readonly dialect: 'postgres';
  /** The pool itself, for what needs a raw client: LISTEN/NOTIFY, the proxy backend's catalog. */
  readonly pool: pg.Pool;
}

/**
 * Key of the session advisory lock held while migrations run: every gateway that starts against
 * the database takes it, so exactly one applies a pending migration and the others then find it
 * applied. A fixed, arbitrary bigint (no other user of the lock space is expected in this database).
 */
export const MIGRATION_LOCK_KEY = '4813130013';

/** First half of `lock(name)`'s advisory key (the second is the name's hash), apart from other users of advisory locks. */
const LOCK_NAMESPACE = 48131300;

const PING_TIMEOUT_MS = 2_000;

/** Socket-level failures: the server is down, restarting, unreachable, or dropped the connection. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** SQLSTATEs outside class 08 that mean "not now": admin/crash shutdown, cannot connect now (starting, recovering), too many connections. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** node-postgres and pg-pool report these without a code. */
const UNAVAILABLE_MESSAGES = ['Connection terminated', 'timeout exceeded when trying to connect', 'connection error and is not queryable', 'Connection ended unexpectedly'];

/**
 * Whether `error` (or its cause: drizzle wraps driver errors in DrizzleQueryError) means the
 * database could not be reached, as opposed to a query it refused (constraint, syntax, …).
 */
export function isConnectionFailure(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code)) return true;
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((text) => message.includes(text))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** `databaseUnavailableError()` for a connection failure (keeping the original as `cause`, for logs); anything else unchanged. */
function mapFailure(error: unknown): unknown {
  if (!isConnectionFailure(error)) return error;
  const unavailable = databaseUnavailableError();
  unavailable.cause = error;
  return unavailable;
}

/**
 * Opens a bounded connection pool to PostgreSQL and applies the committed migrations
 * (`drizzle-pg/`) under an advisory lock, so gateways starting together migrate once. The pool
 * reconnects by itself: after an outage, the next query works again on the same handle.
 */
export async function openPostgresDatabase(options: PostgresDatabaseOptions): Promise<PostgresDatabaseHandle> {
  const { logger } = options;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    // Notices a half-open connection (server host gone) instead of waiting on it forever.
    keepAlive: true,
    application_name: 'cloudstorage',
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash
  // the process. The pool has already dropped that client; the next checkout opens a new one.
  pool.on('error', (error) => {
    logger?.warn('postgres: idle connection lost', { error: error.message, code: (error as { code?: string }).code });
  });
  // A client checked out of the pool (a transaction between statements, a query in flight) also
  // emits 'error' when its server goes away, and the pool listens only while it is idle: without
  // this listener that would be an uncaught exception. The statement in flight, or the next one on
  // that client, fails (and becomes database.unavailable); the pool then discards the client.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      logger?.debug('postgres: connection lost', { error: error.message, code: (error as { code?: string }).code });
    });
  });

  try {
    await migrateUnderLock(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }

  const pgDb: NodePgDatabase<typeof pgTables> = drizzle(pool, { schema: pgTables });
  // Repositories are typed with the SQLite schema and build the same calls on these tables (database.ts, `Db`).
  const rootDb = pgDb as unknown as Db;
  const scopes = createTransactionScopes(rootDb, (error) => logger?.error('after-commit hook failed', { error: String(error) }));

  // tryHold's session locks live on one connection of their own, outside the pool: a claim is held
  // for the whole delivery it guards, whose queries need pooled connections (with a pool no larger
  // than the number of subscribers, pooled claims would take every connection and deadlock). The
  // server frees the locks if this connection or the process dies.
  const held = new Set<string>();
  let session: Promise<pg.Client> | undefined;
  const lockSession = (): Promise<pg.Client> => {
    if (session !== undefined) return session;
    const opened: Promise<pg.Client> = (async () => {
      const client = new pg.Client({
        connectionString: options.url,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
        keepAlive: true,
        application_name: 'cloudstorage',
      });
      const forget = () => {
        if (session === opened) session = undefined;
      };
      client.on('error', (error) => {
        logger?.debug('postgres: lock session lost', { error: error.message });
        forget();
      });
      client.on('end', forget);
      try {
        await client.connect();
      } catch (error) {
        forget();
        throw error;
      }
      return client;
    })();
    session = opened;
    return opened;
  };

  return {
    dialect: 'postgres',
    tables: pgTables as unknown as Tables,
    pool,
    sql: {
      greatest: (a, b) => sqlTag`greatest(${a}, ${b})`,
      // Case-sensitive and exact (LIKE would need its wildcards escaped). Text columns store
      // U+0000 escaped (pg/columns.ts), a prefix-preserving code: the prefix is escaped alike.
      startsWith: (column, prefix) => sqlTag`starts_with(${column}, ${escapeText(prefix)})`,
      // The row's physical position: follows insertion only for rows never updated (an UPDATE writes a new version elsewhere).
      insertionOrder: (table) => sqlTag`${table}.ctid`,
    },
    async query(fn) {
      try {
        return await fn(scopes.db());
      } catch (error) {
        throw mapFailure(error);
      }
    },
    async transaction<T>(fn: () => Promise<T>): Promise<T> {
      if (scopes.current() !== undefined) return fn();
      let outcome: { result: T; hooks: (() => void)[] };
      try {
        // drizzle checks a client out of the pool for the span: BEGIN, fn, COMMIT (ROLLBACK when fn throws).
        outcome = await pgDb.transaction((tx) => scopes.run(tx as unknown as Db, fn));
      } catch (error) {
        // A lost connection at COMMIT leaves the outcome unknown to us: the caller gets 503 and
        // acknowledged nothing, so a retry is the client's to make.
        throw mapFailure(error);
      }
      scopes.fire(outcome.hooks);
      return outcome.result;
    },
    async lock(name) {
      const scope = scopes.current();
      // Outside a transaction the lock would be released at once and guard nothing: a bug, not a no-op.
      if (scope === undefined) throw new Error('DatabaseHandle.lock() called outside a transaction');
      try {
        // Transaction-scoped: released by COMMIT or ROLLBACK, and by the server if the connection drops.
        // Names may carry object keys, and a bound text parameter cannot hold U+0000: escaped like stored text.
        await (scope.db as unknown as NodePgDatabase).execute(sqlTag`select pg_advisory_xact_lock(${LOCK_NAMESPACE}::int4, hashtext(${escapeText(name)}))`);
      } catch (error) {
        throw mapFailure(error);
      }
    },
    async tryHold(name) {
      // One process delivers a name at a time; the session lock below keeps out the others.
      if (held.has(name)) return undefined;
      held.add(name);
      let client: pg.Client;
      try {
        client = await lockSession();
        const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1::int4, hashtext($2)) AS held', [LOCK_NAMESPACE, escapeText(name)]);
        if (rows[0]?.held !== true) {
          held.delete(name);
          return undefined;
        }
      } catch (error) {
        held.delete(name);
        throw mapFailure(error);
      }
      return async () => {
        held.delete(name);
        // A lost session has released the lock already (the next hold opens a new one).
        await client.query('SELECT pg_advisory_unlock($1::int4, hashtext($2))', [LOCK_NAMESPACE, escapeText(name)]).catch(() => undefined);
      };
    },
    afterCommit: scopes.afterCommit,
    async ping() {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          pool.query('SELECT 1').then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
          }),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      const lockClient = await session?.catch(() => undefined);
      session = undefined;
      await lockClient?.end().catch(() => undefined);
      await pool.end();
    },
  };
}

/**
 * Runs drizzle's migrator on one dedicated connection holding `pg_advisory_lock`: a second
 * process blocks on the lock, then finds every migration recorded and applies nothing. A session
 * lock is released by the server if this process dies mid-way.
 */
async function migrateUnderLock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migrate(drizzle(client), { migrationsFolder: findMigrationsFolder('drizzle-pg') });
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // After a failure the connection is closed rather than pooled: that also frees the lock.
    client.release(failure);
  }
}
