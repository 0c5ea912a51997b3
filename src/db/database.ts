import { AsyncLocalStorage } from 'node:async_hooks';
import Database from 'better-sqlite3';
import { sql as sqlTag, type SQL } from 'drizzle-orm';
import { watchDataVersion } from './wal-header-watch.ts';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as activitySchema from './activity.schema.ts';
import * as schema from './schema.ts';
import * as sharesSchema from './shares.schema.ts';
import * as versionsSchema from './versions.schema.ts';

/** Every table of the metadata database, as the SQLite schema declares them. */
export const sqliteTables = { ...schema, ...activitySchema, ...sharesSchema, ...versionsSchema };
export type Tables = typeof sqliteTables;

/**
 * The drizzle database repositories build queries on. Typed with the SQLite schema: on
 * PostgreSQL the same query-builder calls run on the PostgreSQL tables of `DatabaseHandle.tables`
 * (src/db/pg/), which declare the same tables and columns with the same JavaScript values. So
 * repositories use only what both dialects share: awaited queries (never `.get()`/`.all()`/
 * `.run()`), `.returning()` to learn what a write touched, and the dialect-neutral SQL of
 * `DatabaseHandle.sql` instead of either dialect's own functions.
 */
export type Db = BetterSQLite3Database<typeof schema>;

export type Dialect = 'sqlite' | 'postgres';

/**
 * Called with the text of every statement a SQLite connection runs (better-sqlite3's `verbose`):
 * tests count what a request costs in statements and transactions, so a regression fails.
 */
export type SqlTrace = (sql: unknown) => void;

/** SQL that differs between the dialects, for the few queries that need a function. */
export interface DialectSql {
  /** The larger of two values (`max(a, b)` in SQLite, `greatest(a, b)` in PostgreSQL). */
  greatest(a: unknown, b: unknown): SQL;
  /** An exact, case-sensitive prefix test of a text column. */
  startsWith(column: unknown, prefix: string): SQL;
  /**
   * Breaks ties between rows created in the same millisecond in the order they were inserted
   * (ids are random): SQLite's rowid; PostgreSQL's physical row position (ctid), which follows
   * insertion for rows that were never updated.
   */
  insertionOrder(table: unknown): SQL;
}

/**
 * The metadata database (accounts, keys, buckets, sessions, events, …) behind one async
 * interface for both dialects: SQLite under DATA_DIR by default, PostgreSQL with DATABASE_URL
 * (src/db/postgres.ts). Repositories take a handle and never a driver.
 */
export interface DatabaseHandle {
  readonly dialect: Dialect;
  readonly tables: Tables;
  readonly sql: DialectSql;
  /**
   * Runs `fn` on the connection of the current transaction (inside `transaction`) or else on
   * the database. A failure to reach the database becomes `databaseUnavailableError` (503 with
   * Retry-After on every door), never an internal error.
   */
  query<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction: every `query` made from inside it (however deep the call)
   * joins it; a nested `transaction` joins the outer one. Commits when `fn` resolves, rolls back
   * when it throws. Keep `fn` to database work: SQLite holds its one connection for the span.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Inside a transaction: waits for, then holds until the transaction ends, an exclusive lock
   * named `name`, so transactions that check then write (at most N keys per account) cannot both
   * pass the check. SQLite needs none (one writer at a time: transactions begin IMMEDIATE);
   * PostgreSQL takes a transaction-scoped advisory lock.
   */
  lock(name: string): Promise<void>;
  /**
   * Tries to take an exclusive lock named `name` across every process sharing the database, held
   * until the returned release is called; undefined when another process holds it (the event
   * dispatcher: one gateway delivers a subscriber's events at a time). SQLite always grants it:
   * its processes share one host and each delivers on its own, as before.
   */
  tryHold(name: string): Promise<(() => Promise<void>) | undefined>;
  /** Runs `fn` once the current transaction has committed (at once outside a transaction; never after a rollback). */
  afterCommit(fn: () => void): void;
  /** Whether the database answers (health). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface SqliteDatabaseHandle extends DatabaseHandle {
  readonly dialect: 'sqlite';
  /** The raw connection, for tests and for `PRAGMA data_version` (change-watcher.ts). */
  readonly sqlite: Database.Database;
  /** Increments when *another* connection (e.g. the CLI) committed a change: drives cache refresh. */
  dataVersion(): number;
}

/**
 * A hot query as a drizzle prepared query (placeholders for its values), built on first use and
 * reused: drizzle otherwise rebuilds the SQL text from the query builder and better-sqlite3
 * prepares it again on every call, which was a third of a small PUT's CPU. SQLite only: there a
 * handle has one connection and its transactions run on the same drizzle database (see
 * `openDatabase`), so the statement is valid inside and outside them. On PostgreSQL a query in a
 * transaction must run on that transaction's client: undefined, and the caller builds the query
 * each time on the `db` it is given.
 */
export function preparedOnSqlite<Q>(database: DatabaseHandle, build: (db: Db) => Q): ((db: Db) => Q) | undefined {
  if (database.dialect !== 'sqlite') return undefined;
  let built: Q | undefined;
  return (db) => (built ??= build(db));
}

/**
 * The values of a prepared single-row insert naming every column in `fields` (`placeholders`), and
 * a row bound to them (`bind`: a column the row leaves out is NULL). The JSON column `json` takes
 * text serialised here through a raw placeholder: given to a placeholder, the column's JSON encoder
 * would store a null as the text 'null'.
 */
export function preparedInsertValues<Field extends string>(fields: readonly Field[], json: Field) {
  const placeholders: Record<string, unknown> = Object.fromEntries(fields.map((field) => [field, sqlTag.placeholder(field)]));
  placeholders[json] = sqlTag`${sqlTag.placeholder(json)}`;
  return {
    placeholders,
    bind(row: Partial<Record<Field, unknown>>): Record<string, unknown> {
      const values: Record<string, unknown> = {};
      for (const field of fields) values[field] = row[field] ?? null;
      values[json] = row[json] == null ? null : JSON.stringify(row[json]);
      return values;
    },
  };
}

/** `drizzle/` (SQLite) or `drizzle-pg/` at the project root, found from this module whether it runs from src/ or a dist/ bundle. */
export function findMigrationsFolder(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`${name}/ migrations folder not found`);
}

/** A transaction's state, carried through its async calls. */
interface TransactionScope {
  db: Db;
  afterCommit: (() => void)[];
}

/**
 * The transaction scopes of a handle and the after-commit hooks, shared by both dialects:
 * `begin` opens the dialect's transaction and runs the body inside a scope.
 */
export function createTransactionScopes(
  rootDb: Db,
  onHookError: (error: unknown) => void = () => {},
  options: { exclusive?: boolean } = {},
): {
  current(): TransactionScope | undefined;
  db(): Db;
  run<T>(txDb: Db, fn: () => Promise<T>): Promise<{ result: T; hooks: (() => void)[] }>;
  afterCommit(fn: () => void): void;
  fire(hooks: (() => void)[]): void;
} {
  const storage = new AsyncLocalStorage<TransactionScope>();
  const fire = (hooks: (() => void)[]) => {
    for (const hook of hooks) {
      try {
        hook();
      } catch (error) {
        onHookError(error);
      }
    }
  };
  return {
    current: () => storage.getStore(),
    db: () => storage.getStore()?.db ?? rootDb,
    async run(txDb, fn) {
      const scope: TransactionScope = { db: txDb, afterCommit: [] };
      try {
        const result = await storage.run(scope, fn);
        return { result, hooks: scope.afterCommit };
      } finally {
        // Exclusive (SQLite: one transaction at a time in the process): no scope is needed until
        // the next one, so the storage is switched off. On Node 20 an enabled AsyncLocalStorage
        // keeps a promise hook on every promise and async resource of the process, which cost
        // several µs of every GET that never opens a transaction.
        if (options.exclusive) storage.disable();
      }
    },
    afterCommit(fn) {
      const scope = storage.getStore();
      if (scope) scope.afterCommit.push(fn);
      else fire([fn]);
    },
    fire,
  };
}

/** Opens (creating if needed) the SQLite database and applies the committed drizzle migrations. */
export function openDatabase(path: string, options: { traceSql?: SqlTrace } = {}): SqliteDatabaseHandle {
  const sqlite = new Database(path, { verbose: options.traceSql });
  const wal = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // The CLI and the server share the file; wait instead of failing on a concurrent write.
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: findMigrationsFolder('drizzle') });
  // data_version is a read transaction (two fcntl calls on the -shm file, contended between
  // processes); the WAL-index header tells for one pread whether anyone committed since the last
  // time it was asked (wal-header-watch.ts). Asked by the object ACL store before and after each
  // write (under a stream of PUTs the first still goes to SQLite: the previous PUT's event relay
  // committed here) and by the change watcher's polls.
  const dataVersion = watchDataVersion(sqlite, wal);
  const scopes = createTransactionScopes(db, undefined, { exclusive: true });

  // One connection serves the process, and better-sqlite3 is synchronous: a transaction whose
  // body awaits would let another request's statements run inside it (and vanish with its
  // rollback). So while a transaction is open, statements from outside it wait for its end,
  // and transactions run one at a time. Bodies are database work only, so the wait is short.
  let open: Promise<void> | undefined;

  return {
    dialect: 'sqlite',
    tables: sqliteTables,
    sql: {
      greatest: (a, b) => sqlTag`max(${a}, ${b})`,
      // instr() = 1 is an exact, case-sensitive prefix test (LIKE folds ASCII case).
      startsWith: (column, prefix) => sqlTag`instr(${column}, ${prefix}) = 1`,
      insertionOrder: (table) => sqlTag`${table}.rowid`,
    },
    sqlite,
    dataVersion: dataVersion.get,
    async query(fn) {
      // Checked right before the statement runs (better-sqlite3 runs it synchronously in fn).
      while (open !== undefined && scopes.current() === undefined) await open;
      return fn(scopes.db());
    },
    async transaction<T>(fn: () => Promise<T>): Promise<T> {
      if (scopes.current() !== undefined) return fn();
      // Checked and claimed with no await in between: two waiters woken by one commit cannot both begin.
      while (open !== undefined) await open;
      let release!: () => void;
      open = new Promise((resolve) => {
        release = resolve;
      });
      try {
        // IMMEDIATE: another process's write makes this wait (busy_timeout) instead of failing
        // with SQLITE_BUSY when a read would upgrade to a write.
        sqlite.exec('BEGIN IMMEDIATE');
        let outcome: { result: T; hooks: (() => void)[] };
        try {
          outcome = await scopes.run(db, fn);
          sqlite.exec('COMMIT');
        } catch (error) {
          if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
          throw error;
        }
        open = undefined;
        release();
        scopes.fire(outcome.hooks);
        return outcome.result;
      } finally {
        if (open !== undefined) {
          open = undefined;
          release();
        }
      }
    },
    afterCommit: scopes.afterCommit,
    async lock() {},
    async tryHold() {
      return async () => {};
    },
    async ping() {
      return true;
    },
    async close() {
      sqlite.close();
      // After the connection: closing the -shm descriptor drops this process's locks on the file.
      dataVersion.close();
    },
  };
}
