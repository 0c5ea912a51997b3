import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATALOG_SCHEMA_VERSION } from './s3-catalog-migrations.ts';
import { openS3Catalog } from './s3-catalog.ts';

/**
 * The catalog as the gateway wrote it before versioning (no user_version; one row per key in
 * `objects`), verbatim from that release; `withParts: false` is the still older form without the
 * part layout column.
 */
function writeOldCatalog(path: string, withParts: boolean) {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE bucket_usage (bucket TEXT PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0, objects INTEGER NOT NULL DEFAULT 0, multipart_bytes INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE TABLE objects (
      bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
      checksum_algorithm TEXT, checksum_value TEXT, checksum_type TEXT,
      PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, checksum_algorithm TEXT, tags TEXT, initiated INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX uploads_bucket ON uploads (bucket);
    CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, checksum_value TEXT, PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
    CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
  `);
  if (withParts) db.exec('ALTER TABLE objects ADD COLUMN parts TEXT');
  db.prepare('INSERT INTO bucket_usage VALUES (?, ?, ?, ?)').run('b', 5 + 10, 2, 7);
  const insert = db.prepare('INSERT INTO objects (bucket, key, size, etag, checksum_algorithm, checksum_value, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?)');
  insert.run('b', Buffer.from('plain/é'), 5, '"e1"', 'CRC32', 'AAAAAA==', 'FULL_OBJECT');
  insert.run('b', Buffer.from('multi'), 10, '"e2-2"', null, null, null);
  if (withParts)
    db.prepare('UPDATE objects SET parts = ? WHERE key = ?').run(
      JSON.stringify([
        [1, 6],
        [2, 4],
      ]),
      Buffer.from('multi'),
    );
  db.prepare('INSERT INTO uploads VALUES (?, ?, ?, ?, ?)').run('up-1', 'b', null, null, 1_700_000_000_000);
  db.prepare('INSERT INTO parts VALUES (?, ?, ?, ?, ?)').run('up-1', 1, 7, '"p1"', null);
  db.prepare('INSERT INTO journal (event) VALUES (?)').run('{"id":"pending"}');
  db.close();
}

describe('s3 catalog migrations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-s3-catalog-migrations-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const withParts of [true, false]) {
    it(`opens a catalog written before versioning (${withParts ? 'with' : 'before'} part layouts): its objects become null versions, nothing else changes`, async () => {
      const path = join(dir, 'catalog.sqlite');
      writeOldCatalog(path, withParts);
      const catalog = openS3Catalog(path);
      try {
        expect(await catalog.usage('b')).toEqual({ bytes: 15, objects: 2, multipartBytes: 7 });
        expect(await catalog.object('b', 'plain/é')).toEqual({
          versionId: 'null',
          deleteMarker: false,
          size: 5,
          etag: '"e1"',
          checksum: { algorithm: 'CRC32', value: 'AAAAAA==', type: 'FULL_OBJECT' },
        });
        expect(await catalog.checksumFor('b', 'plain/é', '"e1"', undefined)).toEqual({ algorithm: 'CRC32', value: 'AAAAAA==', type: 'FULL_OBJECT' });
        expect((await catalog.version('b', 'multi', 'null'))?.parts).toEqual(
          withParts
            ? [
                { partNumber: 1, size: 6 },
                { partNumber: 2, size: 4 },
              ]
            : undefined,
        );
        // The state of buckets from before is unknown until the store is asked; a write replaces the null version.
        expect(await catalog.versioning('b')).toBeUndefined();
        expect(await catalog.replaceable('b', 'multi')).toEqual({ size: 10 });
        expect(await catalog.upload('up-1')).toMatchObject({ bucket: 'b' });
        expect(await catalog.partsTotal('up-1')).toBe(7);
        expect(await catalog.eventJournal.readJournal(10)).toHaveLength(1);
        // Versions from here on count on top of the migrated rows.
        await catalog.setVersioning('b', 'Enabled');
        expect(await catalog.recordObject('b', 'multi', 'v-1', 3, '"e3"', undefined)).toEqual({ bytes: 3, objects: 1 });
        expect(await catalog.usage('b')).toMatchObject({ bytes: 18, objects: 3 });
      } finally {
        await catalog.close();
      }
      const raw = new Database(path, { readonly: true });
      try {
        expect(raw.pragma('user_version', { simple: true })).toBe(CATALOG_SCHEMA_VERSION);
        expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'objects'").all()).toEqual([]);
      } finally {
        raw.close();
      }
      // Opening it again runs no step twice.
      const again = openS3Catalog(path);
      try {
        expect(await again.usage('b')).toMatchObject({ bytes: 18, objects: 3 });
        expect(await again.latest('b', 'multi')).toMatchObject({ versionId: 'v-1', size: 3 });
        expect(await again.version('b', 'multi', 'null')).toMatchObject({ size: 10 });
      } finally {
        await again.close();
      }
    });
  }

  it('creates a new catalog at the current schema version', async () => {
    const path = join(dir, 'fresh.sqlite');
    await openS3Catalog(path).close();
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(CATALOG_SCHEMA_VERSION);
    } finally {
      raw.close();
    }
  });

  it('refuses a catalog written by a newer server instead of guessing at its schema', async () => {
    const path = join(dir, 'newer.sqlite');
    await openS3Catalog(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${CATALOG_SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openS3Catalog(path)).toThrow(/newer than this server knows/);
  });
});
