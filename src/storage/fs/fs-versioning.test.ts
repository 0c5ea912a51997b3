import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { recountBucket } from '../../quotas/reconcile.ts';
import { bodyOf, expectS3Error, readAll } from '../storage-backend.contract.ts';
import type { UsageChange } from '../storage-backend.ts';
import { runVersioningContract } from '../versioning.contract.ts';
import { createFsBackend, type FsBackend } from './fs-backend.ts';
import { SCHEMA_VERSION } from './fs-index.ts';
import { ownerLiveness } from './file-owners.ts';
import { fsStoresPerTest } from '../../../test/support/fs-stores.ts';

runVersioningContract('fs', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudstorage-fs-versioning-'));
  const backend = await createFsBackend({ dataDir: path.join(root, 'store'), fsync: false });
  return {
    backend,
    async cleanup() {
      await backend.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
});

const meta = () => ({ userMetadata: {} });

/** The index schema build 1 wrote (user_version 1), verbatim: the migration's starting point. */
const SCHEMA_V1_FIXTURE = `
CREATE TABLE buckets (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, bytes INTEGER NOT NULL DEFAULT 0, objects INTEGER NOT NULL DEFAULT 0, multipart_bytes INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE objects (bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified INTEGER NOT NULL, tag_count INTEGER NOT NULL DEFAULT 0,
  parts_count INTEGER, metadata TEXT NOT NULL, tags TEXT, checksum TEXT, segments TEXT NOT NULL, inline_data BLOB, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
CREATE TABLE completed_uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, completed_at INTEGER NOT NULL, completion TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed_at);
CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated INTEGER NOT NULL, metadata TEXT NOT NULL, tags TEXT, checksum_algorithm TEXT);
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL, last_modified INTEGER NOT NULL, checksum TEXT, file TEXT,
  PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
`;

describe('fs backend: versioning specifics', () => {
  const newStore = fsStoresPerTest('cloudstorage-fs-versions-');

  async function store() {
    const { dataDir, start, close } = await newStore();
    const dataFiles = async () => (await fs.readdir(path.join(dataDir, 'data'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    return { dataDir, start, close, dataFiles };
  }

  const put = (backend: FsBackend, key: string, data: Buffer | string, admit?: (change: UsageChange) => Promise<void>) => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return backend.putObject({ bucket: 'bucket', key, body: bodyOf(bytes), size: bytes.length, metadata: meta(), admit });
  };
  const bytesOf = async (backend: FsBackend, key: string, versionId?: string) => readAll((await backend.getObject({ bucket: 'bucket', key, versionId })).body);

  it("keeps the data files of noncurrent versions referenced: a crashed writer's sweep collects only its uncommitted files", async () => {
    const { dataDir, start, close, dataFiles } = await store();
    const first = await start();
    await first.createBucket('bucket');
    await first.putBucketVersioning('bucket', 'Enabled');
    // Large enough for data files (small objects live in the index row).
    const v1 = randomBytes(100_000);
    const v2 = randomBytes(90_000);
    const w1 = await put(first, 'k', v1);
    const w2 = await put(first, 'k', v2);
    await first.deleteObject({ bucket: 'bucket', key: 'k' });
    const owner = first.owner;
    await close(first);
    // A crash leaves the lock file behind, unlocked; and a file renamed into data/ but never committed.
    await fs.writeFile(path.join(dataDir, 'owners', `${owner}.lock`), '');
    expect(ownerLiveness(path.join(dataDir, 'owners'), owner)).toBe('crashed');
    const leftover = `${randomUUID()}.${owner}`;
    await fs.writeFile(path.join(dataDir, 'data', leftover.slice(0, 2), leftover), randomBytes(1000));
    expect(await dataFiles()).toHaveLength(3);

    const again = await start();
    await again.sweepOrphans();
    expect((await dataFiles()).sort()).not.toContain(leftover);
    expect(await dataFiles()).toHaveLength(2);
    expect((await bytesOf(again, 'k', w1.versionId)).equals(v1)).toBe(true);
    expect((await bytesOf(again, 'k', w2.versionId)).equals(v2)).toBe(true);
  });

  it("unlinks a version's data file when that version is deleted for good, and only then", async () => {
    const { start, dataFiles } = await store();
    const backend = await start();
    await backend.createBucket('bucket');
    await backend.putBucketVersioning('bucket', 'Enabled');
    const w1 = await put(backend, 'k', randomBytes(50_000));
    const w2 = await put(backend, 'k', randomBytes(60_000));
    const copy = await backend.copyObject({ sourceBucket: 'bucket', sourceKey: 'k', sourceVersionId: w1.versionId, bucket: 'bucket', key: 'k', metadataDirective: 'COPY' });
    expect(await dataFiles()).toHaveLength(3);
    const marker = await backend.deleteObject({ bucket: 'bucket', key: 'k' });
    expect(await dataFiles()).toHaveLength(3);
    await backend.deleteObject({ bucket: 'bucket', key: 'k', versionId: w1.versionId });
    expect(await dataFiles()).toHaveLength(2);
    // The copy has its own file: it outlives its source version.
    expect((await bytesOf(backend, 'k', copy.versionId)).length).toBe(50_000);
    await backend.putBucketVersioning('bucket', 'Suspended');
    await put(backend, 'k', randomBytes(40_000));
    await put(backend, 'k', randomBytes(40_000)); // replaces the null version: its file goes
    expect(await dataFiles()).toHaveLength(3);
    await backend.deleteObject({ bucket: 'bucket', key: 'k' }); // null marker replaces the null version
    expect(await dataFiles()).toHaveLength(2);
    await backend.deleteObjects({
      bucket: 'bucket',
      objects: [w2.versionId, copy.versionId, marker.versionId, 'null'].map((versionId) => ({ key: 'k', versionId })),
    });
    expect(await dataFiles()).toEqual([]);
    expect(await backend.local.usage('bucket')).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });
    await backend.deleteBucket('bucket');
  });

  it('admits a write for what it adds: the full size in an Enabled bucket, minus the null version it replaces in a Suspended one', async () => {
    const { start } = await store();
    const backend = await start();
    await backend.createBucket('bucket');
    const changes: UsageChange[] = [];
    const admit = async (change: UsageChange) => {
      changes.push(change);
    };
    await put(backend, 'k', 'x'.repeat(100), admit);
    await put(backend, 'k', 'x'.repeat(150), admit);
    expect(await backend.local.storedSize('bucket', 'k')).toBe(150);
    await backend.putBucketVersioning('bucket', 'Enabled');
    expect(await backend.local.storedSize('bucket', 'k')).toBe(0);
    await put(backend, 'k', 'x'.repeat(120), admit);
    await backend.putBucketVersioning('bucket', 'Suspended');
    // The null version (150 bytes) is noncurrent now: a Suspended write replaces it all the same.
    expect(await backend.local.storedSize('bucket', 'k')).toBe(150);
    await put(backend, 'k', 'x'.repeat(200), admit);
    expect(changes).toEqual([
      { bytes: 100, objects: 1 },
      { bytes: 50, objects: 0 },
      { bytes: 120, objects: 1 },
      { bytes: 50, objects: 0 },
    ]);
    await backend.deleteObject({ bucket: 'bucket', key: 'k' });
    expect(await backend.local.storedSize('bucket', 'k')).toBe(0);
    expect(await backend.local.storedSize('missing', 'k')).toBeUndefined();
    expect(await backend.local.usage('bucket')).toEqual({ bytes: 120, objects: 1, multipartBytes: 0 });
    // `usage reconcile` recounts every stored version: no drift.
    const recount = await recountBucket(backend, 'bucket', 'bucket');
    expect(recount).toMatchObject({ drift: false, recounted: { bytes: 120, objects: 1, multipartBytes: 0 } });
  });

  it('lists versions at a cost of O(entries): a folder of many versions rolls up with one row read', async () => {
    const { start } = await store();
    const backend = await start();
    await backend.createBucket('bucket');
    await backend.putBucketVersioning('bucket', 'Enabled');
    for (const folder of ['a', 'b', 'c']) for (let i = 0; i < 100; i++) await put(backend, `${folder}/k`, String(i));
    for (let i = 0; i < 100; i++) await put(backend, 'top', String(i));
    const before = backend.listingWork();
    const rolled = await backend.listObjectVersions({ bucket: 'bucket', delimiter: '/', maxKeys: 1000 });
    expect(rolled.commonPrefixes).toEqual(['a/', 'b/', 'c/']);
    expect(rolled.entries).toHaveLength(100);
    const rolledRows = backend.listingWork().rows - before.rows;
    expect(rolledRows).toBeLessThanOrEqual(3 + 100 + 1);
    // Resuming in the middle of a key's versions seeks there: a page reads about its own entries.
    const first = await backend.listObjectVersions({ bucket: 'bucket', prefix: 'b/', maxKeys: 2 });
    const mid = backend.listingWork();
    const page = await backend.listObjectVersions({ bucket: 'bucket', maxKeys: 5, keyMarker: first.nextKeyMarker, versionIdMarker: first.nextVersionIdMarker });
    expect(page.entries.map((e) => [e.key, e.isLatest])).toEqual(Array.from({ length: 5 }, () => ['b/k', false]));
    expect(backend.listingWork().rows - mid.rows).toBeLessThanOrEqual(6);
  });

  it('answers a retried multipart completion with the version the first one created', async () => {
    const { start } = await store();
    const backend = await start();
    await backend.createBucket('bucket');
    await backend.putBucketVersioning('bucket', 'Enabled');
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'mpu', metadata: meta() });
    const part = await backend.uploadPart({ bucket: 'bucket', key: 'mpu', uploadId, partNumber: 1, body: bodyOf('data'), size: 4 });
    const request = { bucket: 'bucket', key: 'mpu', uploadId, parts: [{ partNumber: 1, etag: part.etag }] };
    const first = await backend.completeMultipartUpload(request);
    expect(first.versionId).toBeTruthy();
    expect((await backend.completeMultipartUpload(request)).versionId).toBe(first.versionId);
  });

  it('another process sharing the data directory sees versioning changes at once', async () => {
    const { start } = await store();
    const a = await start();
    const b = await start();
    await a.createBucket('bucket');
    await put(a, 'k', 'unversioned');
    // b caches the row (Unversioned: no version id shown).
    expect((await b.headObject({ bucket: 'bucket', key: 'k' })).versionId).toBeUndefined();
    await a.putBucketVersioning('bucket', 'Enabled');
    expect(await b.getBucketVersioning('bucket')).toBe('Enabled');
    expect((await b.headObject({ bucket: 'bucket', key: 'k' })).versionId).toBe('null');
    const written = await put(a, 'k', 'versioned');
    expect((await b.headObject({ bucket: 'bucket', key: 'k' })).versionId).toBe(written.versionId);
    await a.deleteObject({ bucket: 'bucket', key: 'k' });
    const error = await expectS3Error(b.getObject({ bucket: 'bucket', key: 'k' }), 'NoSuchKey');
    expect(error.headers['x-amz-delete-marker']).toBe('true');
  });

  it('migrates an index written by schema version 1: objects become null versions, nothing else changes', async () => {
    const { dataDir, start, close } = await store();
    await fs.mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, 'index.sqlite');
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(SCHEMA_V1_FIXTURE);
    old.prepare('INSERT INTO buckets (name, created_at, bytes, objects) VALUES (?, ?, ?, ?)').run('bucket', Date.now(), 11, 2);
    const insert = old.prepare(
      "INSERT INTO objects (bucket, key, size, etag, last_modified, metadata, segments, inline_data) VALUES ('bucket', ?, ?, ?, ?, '{\"userMetadata\":{}}', '[]', ?)",
    );
    insert.run(Buffer.from('a'), 5, '"594f803b380a41396ed63dca39503542"', Date.now(), Buffer.from('aaaaa'));
    insert.run(Buffer.from('b'), 6, '"4ba0ad2ab8a0b5b7b9f3a8bb9a0d3d7a"', Date.now(), Buffer.from('bbbbbb'));
    old.pragma('user_version = 1');
    old.close();

    const backend = await start();
    expect((await bytesOf(backend, 'a')).toString()).toBe('aaaaa');
    expect(await backend.getBucketVersioning('bucket')).toBe('Unversioned');
    expect(await backend.local.usage('bucket')).toEqual({ bytes: 11, objects: 2, multipartBytes: 0 });
    const listing = await backend.listObjectVersions({ bucket: 'bucket', maxKeys: 10 });
    expect(listing.entries.map((e) => [e.key, e.versionId, e.isLatest])).toEqual([
      ['a', 'null', true],
      ['b', 'null', true],
    ]);
    await backend.putBucketVersioning('bucket', 'Enabled');
    const written = await put(backend, 'a', 'new');
    expect((await bytesOf(backend, 'a', 'null')).toString()).toBe('aaaaa');
    expect((await bytesOf(backend, 'a', written.versionId)).toString()).toBe('new');
    await close(backend);

    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
    } finally {
      db.close();
    }
    // Reopening a migrated index migrates nothing again.
    const again = await start();
    expect((await bytesOf(again, 'a')).toString()).toBe('new');
  });

  it('refuses an index written by a newer build instead of guessing at its schema', async () => {
    const { dataDir, start } = await store();
    await fs.mkdir(dataDir, { recursive: true });
    const db = new Database(path.join(dataDir, 'index.sqlite'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await expect(start()).rejects.toThrow(/newer than this build supports/);
  });
});
