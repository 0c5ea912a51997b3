/**
 * Small objects' bytes live in `inline_bodies`, referenced by `inline_id` from `objects` and
 * `versions` (index schema 3). These tests hold the bookkeeping to account: every body is
 * referenced by exactly one row, whatever writes, deletes and versioning states did, and an index
 * written by schema 2 (bytes inside the rows) is migrated with every byte readable afterwards.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fsStoresPerTest } from '../../../test/support/fs-stores.ts';
import { bodyOf, readAll } from '../storage-backend.contract.ts';
import type { FsBackend } from './fs-backend.ts';
import { SCHEMA_VERSION } from './fs-index.ts';

const meta = () => ({ userMetadata: {} });

/** Bodies stored, and bodies referenced by a row (each at most once). */
function bodyCounts(dataDir: string): { bodies: number; referenced: number; distinct: number } {
  const db = new Database(path.join(dataDir, 'index.sqlite'), { readonly: true });
  try {
    const bodies = db.prepare('SELECT COUNT(*) FROM inline_bodies').pluck().get() as number;
    const ids = db
      .prepare('SELECT inline_id FROM objects WHERE inline_id IS NOT NULL UNION ALL SELECT inline_id FROM versions WHERE inline_id IS NOT NULL')
      .pluck()
      .all() as number[];
    const present = db.prepare('SELECT COUNT(*) FROM inline_bodies WHERE id = ?').pluck();
    expect(ids.every((id) => present.get(id) === 1)).toBe(true);
    return { bodies, referenced: ids.length, distinct: new Set(ids).size };
  } finally {
    db.close();
  }
}

/** The index schema build 2 wrote (user_version 2): bytes of small objects inside their rows. */
const SCHEMA_V2_FIXTURE = `
CREATE TABLE buckets (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, bytes INTEGER NOT NULL DEFAULT 0, objects INTEGER NOT NULL DEFAULT 0, multipart_bytes INTEGER NOT NULL DEFAULT 0, versioning TEXT) WITHOUT ROWID;
CREATE TABLE objects (bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified INTEGER NOT NULL, tag_count INTEGER NOT NULL DEFAULT 0,
  parts_count INTEGER, metadata TEXT NOT NULL, tags TEXT, checksum TEXT, segments TEXT NOT NULL, inline_data BLOB, parts TEXT, version_id TEXT NOT NULL DEFAULT 'null', PRIMARY KEY (bucket, key)) WITHOUT ROWID;
CREATE TABLE completed_uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, completed_at INTEGER NOT NULL, completion TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed_at);
CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated INTEGER NOT NULL, metadata TEXT NOT NULL, tags TEXT, checksum_algorithm TEXT);
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL, last_modified INTEGER NOT NULL, checksum TEXT, file TEXT,
  PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
CREATE TABLE versions (bucket TEXT NOT NULL, key BLOB NOT NULL, seq INTEGER NOT NULL, version_id TEXT NOT NULL, is_delete_marker INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL,
  etag TEXT NOT NULL, last_modified INTEGER NOT NULL, tag_count INTEGER NOT NULL DEFAULT 0, parts_count INTEGER, metadata TEXT NOT NULL, tags TEXT, checksum TEXT, segments TEXT NOT NULL,
  inline_data BLOB, parts TEXT, PRIMARY KEY (bucket, key, seq DESC)) WITHOUT ROWID;
CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id);
`;

describe('fs index: small bodies in inline_bodies', () => {
  const newStore = fsStoresPerTest('cloudstorage-fs-inline-');
  const put = (backend: FsBackend, bucket: string, key: string, data: Buffer | string) => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return backend.putObject({ bucket, key, body: bodyOf(bytes), size: bytes.length, metadata: meta() });
  };
  const bytesOf = async (backend: FsBackend, bucket: string, key: string, versionId?: string) =>
    (await readAll((await backend.getObject({ bucket, key, versionId })).body)).toString();

  it('every body belongs to exactly one row through overwrites, deletes and all three versioning states', async () => {
    const { dataDir, start } = await newStore();
    const backend = await start();
    const large = Buffer.alloc(40 * 1024, 1); // above INLINE_MAX_BYTES: a data file, no body row
    for (const bucket of ['plain', 'versioned', 'suspended']) await backend.createBucket(bucket);
    await backend.putBucketVersioning('versioned', 'Enabled');

    // Unversioned: an overwrite reuses the body's row; a large overwrite and a delete free it.
    await put(backend, 'plain', 'a', 'one');
    await put(backend, 'plain', 'a', 'two');
    expect(await bytesOf(backend, 'plain', 'a')).toBe('two');
    expect(bodyCounts(dataDir)).toEqual({ bodies: 1, referenced: 1, distinct: 1 });
    await put(backend, 'plain', 'a', large);
    expect(bodyCounts(dataDir).bodies).toBe(0);
    await put(backend, 'plain', 'a', 'three');
    await put(backend, 'plain', 'b', 'bee');
    await backend.deleteObject({ bucket: 'plain', key: 'b' });
    expect(bodyCounts(dataDir)).toEqual({ bodies: 1, referenced: 1, distinct: 1 });

    // Enabled: every version keeps its own body; deleting versions by id frees theirs.
    const v1 = await put(backend, 'versioned', 'k', 'v1');
    const v2 = await put(backend, 'versioned', 'k', 'v2');
    const marker = await backend.deleteObject({ bucket: 'versioned', key: 'k' });
    expect(await bytesOf(backend, 'versioned', 'k', v1.versionId)).toBe('v1');
    expect(await bytesOf(backend, 'versioned', 'k', v2.versionId)).toBe('v2');
    expect(bodyCounts(dataDir)).toEqual({ bodies: 3, referenced: 3, distinct: 3 });
    // Removing the marker brings v2 back as current (its body moves with it).
    await backend.deleteObject({ bucket: 'versioned', key: 'k', versionId: marker.versionId });
    expect(await bytesOf(backend, 'versioned', 'k')).toBe('v2');
    await backend.deleteObject({ bucket: 'versioned', key: 'k', versionId: v2.versionId });
    expect(await bytesOf(backend, 'versioned', 'k')).toBe('v1');
    expect(bodyCounts(dataDir)).toEqual({ bodies: 2, referenced: 2, distinct: 2 });
    await backend.deleteObject({ bucket: 'versioned', key: 'k', versionId: v1.versionId });
    expect(bodyCounts(dataDir)).toEqual({ bodies: 1, referenced: 1, distinct: 1 });

    // Suspended: a write replaces the null version wherever it is; an id'd version stays.
    await put(backend, 'suspended', 's', 'null one');
    await backend.putBucketVersioning('suspended', 'Enabled');
    const kept = await put(backend, 'suspended', 's', 'with id');
    await backend.putBucketVersioning('suspended', 'Suspended');
    await put(backend, 'suspended', 's', 'null two');
    expect(await bytesOf(backend, 'suspended', 's', 'null')).toBe('null two');
    expect(await bytesOf(backend, 'suspended', 's', kept.versionId)).toBe('with id');
    await put(backend, 'suspended', 's', 'null three');
    await backend.deleteObject({ bucket: 'suspended', key: 's' });
    expect(bodyCounts(dataDir)).toEqual({ bodies: 2, referenced: 2, distinct: 2 });
    await backend.copyObject({ sourceBucket: 'plain', sourceKey: 'a', bucket: 'suspended', key: 'copy', metadataDirective: 'COPY' });
    expect(await bytesOf(backend, 'suspended', 'copy')).toBe('three');
    expect(bodyCounts(dataDir)).toEqual({ bodies: 3, referenced: 3, distinct: 3 });
  });

  it('migrates an index written by schema version 2: current and noncurrent bodies move out of their rows, readable as before', async () => {
    const { dataDir, start, close } = await newStore();
    await fs.mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, 'index.sqlite');
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(SCHEMA_V2_FIXTURE);
    const now = Date.now();
    old.prepare("INSERT INTO buckets (name, created_at, bytes, objects, versioning) VALUES ('bucket', ?, ?, ?, 'Enabled')").run(now, 4096 + 7 + 6, 3);
    const insertObject = old.prepare(
      "INSERT INTO objects (bucket, key, size, etag, last_modified, metadata, segments, inline_data, version_id) VALUES ('bucket', ?, ?, '\"e\"', ?, '{\"userMetadata\":{}}', '[]', ?, ?)",
    );
    const insertVersion = old.prepare(
      "INSERT INTO versions (bucket, key, seq, version_id, is_delete_marker, size, etag, last_modified, metadata, segments, inline_data) VALUES ('bucket', ?, ?, ?, ?, ?, '\"e\"', ?, '{\"userMetadata\":{}}', '[]', ?)",
    );
    const page = Buffer.alloc(4096, 9);
    insertObject.run(Buffer.from('big'), page.length, now, page, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    insertObject.run(Buffer.from('k'), 7, now, Buffer.from('current'), 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB');
    insertVersion.run(Buffer.from('k'), 1, 'null', 0, 6, now, Buffer.from('older!'));
    insertVersion.run(Buffer.from('gone'), 1, 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC', 1, 0, now, null);
    old.pragma('user_version = 2');
    old.close();

    const backend = await start();
    expect((await readAll((await backend.getObject({ bucket: 'bucket', key: 'big' })).body)).equals(page)).toBe(true);
    expect(await bytesOf(backend, 'bucket', 'k')).toBe('current');
    expect(await bytesOf(backend, 'bucket', 'k', 'null')).toBe('older!');
    expect(await backend.local.usage('bucket')).toEqual({ bytes: 4096 + 7 + 6, objects: 3, multipartBytes: 0 });
    const listing = await backend.listObjectVersions({ bucket: 'bucket', maxKeys: 10 });
    expect(listing.entries.map((e) => [e.key, e.versionId])).toEqual([
      ['big', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
      ['gone', 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'],
      ['k', 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'],
      ['k', 'null'],
    ]);
    expect(bodyCounts(dataDir)).toEqual({ bodies: 3, referenced: 3, distinct: 3 });
    // The migrated rows are ordinary ones: deleting a version frees its body.
    await backend.deleteObject({ bucket: 'bucket', key: 'k', versionId: 'null' });
    expect(bodyCounts(dataDir)).toEqual({ bodies: 2, referenced: 2, distinct: 2 });
    await close(backend);

    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const columns = (table: string) => (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
      expect(columns('objects')).not.toContain('inline_data');
      expect(columns('versions')).not.toContain('inline_data');
    } finally {
      db.close();
    }
    const again = await start();
    expect(await bytesOf(again, 'bucket', 'k')).toBe('current');
  });
});
