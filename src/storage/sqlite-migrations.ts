import type Database from 'better-sqlite3';

/** One schema step: takes a database at `user_version` i (its index in the list) to i + 1. */
export type MigrationStep = (db: Database.Database) => void;

/**
 * Brings `db` to `steps.length` by `PRAGMA user_version`, one step per IMMEDIATE transaction that
 * also bumps the version. Shared by the fs index and the s3 catalog, whose step lists are
 * append-only. Each step re-reads the version under the write lock, so processes opening an old
 * database at the same moment apply every step exactly once; a step that fails rolls back whole
 * (its DDL and the bump together), leaving the database readable by the build that wrote it. A
 * database written by a newer build (a larger version) is refused with `tooNew(version)`.
 */
export function migrateUserVersion(db: Database.Database, steps: readonly MigrationStep[], tooNew: (version: number) => Error): void {
  const readVersion = () => db.pragma('user_version', { simple: true }) as number;
  for (;;) {
    const version = readVersion();
    if (version > steps.length) throw tooNew(version);
    if (version === steps.length) return;
    db.transaction(() => {
      const current = readVersion();
      if (current !== version) return; // another process migrated meanwhile
      steps[current]!(db);
      db.pragma(`user_version = ${current + 1}`);
    }).immediate();
  }
}
