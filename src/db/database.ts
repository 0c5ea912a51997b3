import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema>;

export interface DatabaseHandle {
  db: Db;
  sqlite: Database.Database;
  /** Increments when *another* connection (e.g. the CLI) committed a change: drives cache refresh. */
  dataVersion(): number;
  close(): void;
}

/** `drizzle/` at the project root, found from this module whether it runs from src/ or a dist/ bundle. */
function findMigrationsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'drizzle');
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('drizzle/ migrations folder not found');
}

const MIGRATIONS_FOLDER = findMigrationsFolder();

/** Opens (creating if needed) the SQLite database and applies the committed drizzle migrations. */
export function openDatabase(path: string): DatabaseHandle {
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // The CLI and the server share the file; wait instead of failing on a concurrent write.
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  const versionStatement = sqlite.prepare('PRAGMA data_version').pluck();
  return {
    db,
    sqlite,
    dataVersion: () => versionStatement.get() as number,
    close: () => sqlite.close(),
  };
}
