import type Database from 'better-sqlite3';
import { COMPLETED_UPLOADS_SCHEMA } from '../completed-uploads.ts';
import { type MigrationStep, migrateUserVersion } from '../sqlite-migrations.ts';

/**
 * The catalog's schema history: step N brings a catalog from `PRAGMA user_version` N-1 to N.
 * Steps are append-only (a released step is never edited: catalogs in the field have run it),
 * each runs in its own IMMEDIATE transaction together with the version bump (migrateUserVersion,
 * shared with the fs index), so a crash leaves the catalog at the last completed step, and several
 * processes opening one catalog at once (WORKERS) migrate it once.
 */
const STEPS: readonly MigrationStep[] = [
  // 1: the catalog as it was before versioning. Catalogs written then have user_version 0 (they
  // predate this mechanism), so the step is idempotent: it creates what is missing and adds the
  // `parts` column to catalogs older than it.
  (db) => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS bucket_usage (
        bucket TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL DEFAULT 0,
        objects INTEGER NOT NULL DEFAULT 0,
        multipart_bytes INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS objects (
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value TEXT,
        checksum_type TEXT,
        PRIMARY KEY (bucket, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        checksum_algorithm TEXT,
        tags TEXT,
        initiated INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS uploads_bucket ON uploads (bucket);
      CREATE TABLE IF NOT EXISTS parts (
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum_value TEXT,
        PRIMARY KEY (upload_id, part_number)
      ) WITHOUT ROWID;
      ${COMPLETED_UPLOADS_SCHEMA}
      CREATE TABLE IF NOT EXISTS write_claims (
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        claim TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (bucket, key)
      ) WITHOUT ROWID;
    `);
    const objectColumns = db.prepare('PRAGMA table_info(objects)').all() as { name: string }[];
    if (!objectColumns.some((column) => column.name === 'parts')) db.exec('ALTER TABLE objects ADD COLUMN parts TEXT');
  },

  // 2: versioning. One row per stored version or delete marker (the store's own versioning keeps
  // the data; the catalog keeps what the store does not tell cheaply: sizes for exact usage,
  // additional checksums, part layouts). `seq` orders a key's rows as the catalog recorded them:
  // the highest is the latest. Objects of the old table are their key's `null` version (the
  // gateway offered no versioning before). The bucket's versioning state is cached here; a bucket
  // without a row has an unknown state, read from the store when needed.
  (db) => {
    db.exec(`
      CREATE TABLE object_versions (
        seq INTEGER PRIMARY KEY,
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        version_id TEXT NOT NULL,
        delete_marker INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value TEXT,
        checksum_type TEXT,
        parts TEXT
      );
      CREATE UNIQUE INDEX object_versions_id ON object_versions (bucket, key, version_id);
      CREATE INDEX object_versions_latest ON object_versions (bucket, key, seq);
      INSERT INTO object_versions (bucket, key, version_id, size, etag, checksum_algorithm, checksum_value, checksum_type, parts)
        SELECT bucket, key, 'null', size, etag, checksum_algorithm, checksum_value, checksum_type, parts FROM objects ORDER BY bucket, key;
      DROP TABLE objects;
      CREATE TABLE bucket_versioning (
        bucket TEXT PRIMARY KEY,
        status TEXT NOT NULL
      ) WITHOUT ROWID;
    `);
  },
];

/** The schema version this code writes. */
export const CATALOG_SCHEMA_VERSION = STEPS.length;

/** Brings the catalog to CATALOG_SCHEMA_VERSION; refuses a catalog written by a newer version of the gateway. */
export function migrateCatalog(db: Database.Database): void {
  migrateUserVersion(
    db,
    STEPS,
    (version) => new Error(`The s3 catalog has schema version ${version}, newer than this server knows (${STEPS.length}): run the newer server, or restore a catalog backup.`),
  );
}
