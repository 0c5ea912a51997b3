import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { checksumOf, compositeChecksum } from '../../checksums/checksums.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyOf, expectS3Error, failingBody, md5Base64, readAll, runStorageBackendContract } from '../storage-backend.contract.ts';
import type { ObjectMetadata } from '../storage-backend.ts';
import { createFsBackend, type FsBackend } from './fs-backend.ts';
import { SCHEMA_VERSION } from './fs-index.ts';

const MiB = 1024 * 1024;
const meta = (): ObjectMetadata => ({ userMetadata: {} });

runStorageBackendContract('fs', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudstorage-fs-contract-'));
  const backend = await createFsBackend({ dataDir: path.join(root, 'store') });
  return {
    backend,
    async cleanup() {
      await backend.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
});

/** Every file below `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 2000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('fs backend specifics', () => {
  const roots: string[] = [];
  const open: FsBackend[] = [];

  afterEach(async () => {
    for (const backend of open.splice(0)) await backend.close();
    for (const root of roots.splice(0)) await fs.rm(root, { recursive: true, force: true });
  });

  async function setup(options: { minPartSize?: number; fsync?: boolean } = {}) {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudstorage-fs-'));
    roots.push(root);
    const dataDir = path.join(root, 'store');
    const backend = await createFsBackend({ dataDir, fsync: false, ...options });
    open.push(backend);
    await backend.createBucket('bucket');
    const dataFiles = () => filesUnder(path.join(dataDir, 'data'));
    const tmpFiles = () => fs.readdir(path.join(dataDir, 'tmp'));
    const reopen = async () => {
      await backend.close();
      open.splice(open.indexOf(backend), 1);
      const again = await createFsBackend({ dataDir, fsync: false, ...options });
      open.push(again);
      return again;
    };
    return { root, dataDir, backend, dataFiles, tmpFiles, reopen };
  }

  async function put(backend: FsBackend, key: string, data: Buffer | string) {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return backend.putObject({ bucket: 'bucket', key, body: bodyOf(bytes), size: bytes.length, metadata: meta() });
  }

  async function get(backend: FsBackend, key: string) {
    return readAll((await backend.getObject({ bucket: 'bucket', key })).body);
  }

  it('a writer alone on its DATA_DIR serves cached rows without asking SQLite; another writer over it (as another process) is seen at once, each of its commits asked about once, until it leaves', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudstorage-fs-'));
    roots.push(root);
    const dataDir = path.join(root, 'store');
    const statements: string[] = [];
    const first = await createFsBackend({ dataDir, fsync: false, traceSql: (sql) => statements.push(String(sql)) });
    open.push(first);
    await first.createBucket('bucket');
    await put(first, 'k', 'one');
    const dataVersionReads = async (reads: number) => {
      statements.length = 0;
      for (let i = 0; i < reads; i++) await get(first, 'k');
      return statements.filter((sql) => sql.includes('data_version')).length;
    };
    // Alone: the cached row is served with no data_version read at all.
    expect((await get(first, 'k')).toString()).toBe('one');
    expect(await dataVersionReads(3)).toBe(0);

    // Another writer joins (its registration waits for this one's answer) and overwrites: the
    // next read here has the new bytes, not the cached row.
    const second = await createFsBackend({ dataDir, fsync: false });
    open.push(second);
    await put(second, 'k', 'two');
    expect((await get(first, 'k')).toString()).toBe('two');
    // Shared, but nobody committed since: the WAL-index header is unchanged and SQLite is not asked.
    expect(await dataVersionReads(3)).toBe(0);
    // Each commit of the other writer moves the header: the next read asks data_version once, and sees it.
    await put(second, 'k', 'three');
    statements.length = 0;
    expect((await get(first, 'k')).toString()).toBe('three');
    expect(statements.filter((sql) => sql.includes('data_version'))).toHaveLength(1);

    // Once it left, this one is alone again (within a regain round) and stops asking.
    await second.close();
    open.splice(open.indexOf(second), 1);
    await waitFor(async () => (await dataVersionReads(1)) === 0, 5000);
    expect((await get(first, 'k')).toString()).toBe('three');
  });

  it("admits from the caller's measurement (bytes and whether an object was there), and again from the commit's when it went stale", async () => {
    const { backend } = await setup();
    const admitted: { bytes: number; objects: number }[] = [];
    const write = (key: string, data: string, replacedBytes: number, replacedObjects: number) =>
      backend.putObject({
        bucket: 'bucket',
        key,
        body: bodyOf(Buffer.from(data)),
        size: data.length,
        metadata: meta(),
        replaced: { bytes: replacedBytes, objects: replacedObjects },
        admit: async (change) => {
          admitted.push(change);
        },
      });
    // A new key measured as such: admitted once, for one more object.
    expect(await backend.local.storedObject!('bucket', 'new')).toEqual({ bytes: 0, objects: 0 });
    await write('new', 'hello', 0, 0);
    expect(admitted).toEqual([{ bytes: 5, objects: 1 }]);
    // An empty object is there (1 object, 0 bytes): an overwrite adds no object.
    await put(backend, 'empty', '');
    admitted.length = 0;
    await write('empty', 'abc', 0, 1);
    expect(admitted).toEqual([{ bytes: 3, objects: 0 }]);
    // Measured as there, gone by the commit: the commit's measurement is admitted before it writes.
    await put(backend, 'gone', 'xyz');
    await backend.deleteObject({ bucket: 'bucket', key: 'gone' });
    admitted.length = 0;
    await write('gone', 'hello', 3, 1);
    expect(admitted).toEqual([
      { bytes: 2, objects: 0 },
      { bytes: 5, objects: 1 },
    ]);
    expect(await backend.local.usage('bucket')).toEqual({ bytes: 13, objects: 3, multipartBytes: 0 });
  });

  it('never turns object keys into filesystem paths', async () => {
    const { root, dataDir, backend, dataFiles, tmpFiles } = await setup();
    const keys = [
      '../../etc/passwd',
      '../../../../../../tmp/escape',
      '/abs',
      '/abs/../../x',
      'a\0b',
      '\0',
      '..',
      '.',
      'data/../../escape',
      '..\\..\\windows',
      'tmp/x',
      'index.sqlite',
      ' ',
      'k'.repeat(1024),
    ];
    // Larger than the inline threshold, so every object gets a data file whose name we can inspect.
    const contentOf = (key: string) => `content of ${key}\n`.padEnd(40_000, '.');
    for (const key of keys) await put(backend, key, contentOf(key));
    for (const key of keys) expect((await get(backend, key)).toString()).toBe(contentOf(key));
    const listing = await backend.listObjects({ bucket: 'bucket', maxKeys: 1000 });
    expect(listing.contents.map((o) => o.key).sort()).toEqual([...keys].sort());

    expect(await fs.readdir(root)).toEqual(['store']);
    const top = await fs.readdir(dataDir);
    for (const name of top) expect(['index.sqlite', 'index-writers', 'index.sqlite-wal', 'index.sqlite-shm', 'data', 'tmp', 'owners']).toContain(name);
    const shards = await fs.readdir(path.join(dataDir, 'data'));
    expect(shards.length).toBe(256);
    for (const shard of shards) expect(shard).toMatch(/^[0-9a-f]{2}$/);
    const files = await dataFiles();
    expect(files.length).toBe(keys.length);
    for (const file of files) {
      const [shard, name] = file.split(path.sep);
      // A random uuid, then the writing process's owner id (see file-owners.ts).
      expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[0-9a-f]{16}$/);
      expect(name.endsWith(`.${backend.owner}`)).toBe(true);
      expect(name.slice(0, 2)).toBe(shard);
    }
    expect(await tmpFiles()).toEqual([]);
  });

  it('leaves tmp/ empty and data/ unchanged after failed writes', async () => {
    const { backend, dataFiles, tmpFiles } = await setup();
    await put(backend, 'existing', 'v1'.padEnd(40_000, '-'));
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'mp', metadata: meta() });
    await backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 1, body: bodyOf('part'), size: 4 });
    const before = await dataFiles();
    expect(before.length).toBe(2);

    const attempts: (() => Promise<unknown>)[] = [
      () => backend.putObject({ bucket: 'bucket', key: 'existing', body: bodyOf('x'), size: 1, metadata: meta(), contentMd5: md5Base64('y') }),
      () => backend.putObject({ bucket: 'bucket', key: 'existing', body: failingBody(randomBytes(300_000)), metadata: meta() }),
      () => backend.putObject({ bucket: 'bucket', key: 'new', body: bodyOf('abc'), size: 5, metadata: meta() }),
      () => backend.putObject({ bucket: 'bucket', key: 'new', body: bodyOf(randomBytes(100_000)), size: 10, metadata: meta() }),
      () => backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 1, body: failingBody(randomBytes(1000)) }),
      () => backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 2, body: bodyOf('zz'), size: 2, contentMd5: md5Base64('q') }),
      () => backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 2, body: bodyOf('zz'), size: 3 }),
    ];
    for (const attempt of attempts) {
      await expect(attempt()).rejects.toThrow();
      expect(await tmpFiles()).toEqual([]);
      expect(await dataFiles()).toEqual(before);
    }
    expect((await get(backend, 'existing')).toString()).toBe('v1'.padEnd(40_000, '-'));
  });

  it('rejects malformed arguments', async () => {
    const { backend } = await setup();
    await put(backend, 'src', 'source bytes');
    await expectS3Error(backend.putObject({ bucket: 'bucket', key: 'k', body: bodyOf('x'), size: 1, metadata: meta(), contentMd5: 'bm90LWFuLW1kNQ' }), 'InvalidDigest');
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'mp', metadata: meta() });
    await expectS3Error(backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 0, body: bodyOf('x'), size: 1 }), 'InvalidArgument');
    await expectS3Error(backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 10_001, body: bodyOf('x'), size: 1 }), 'InvalidArgument');
    await expectS3Error(
      backend.uploadPartCopy({ bucket: 'bucket', key: 'mp', uploadId, partNumber: 1, sourceBucket: 'bucket', sourceKey: 'src', sourceRange: { start: 5, end: 12 } }),
      'InvalidRange',
    );
    await expectS3Error(backend.completeMultipartUpload({ bucket: 'bucket', key: 'mp', uploadId, parts: [] }), 'MalformedXML');
  });

  it('keeps small objects inside the index: no data file, same bytes, ranges and copies', async () => {
    const { backend, dataFiles, tmpFiles } = await setup();
    const small = randomBytes(4096);
    const put1 = await put(backend, 'small', small);
    expect(put1.etag).toBe(`"${createHash('md5').update(small).digest('hex')}"`);
    expect(await dataFiles()).toEqual([]);
    expect(await tmpFiles()).toEqual([]);
    expect((await get(backend, 'small')).equals(small)).toBe(true);
    const ranged = await backend.getObject({ bucket: 'bucket', key: 'small', range: { kind: 'from', start: 100, end: 199 } });
    expect((await readAll(ranged.body)).equals(small.subarray(100, 200))).toBe(true);
    await backend.copyObject({ sourceBucket: 'bucket', sourceKey: 'small', bucket: 'bucket', key: 'small-copy', metadataDirective: 'COPY' });
    await backend.deleteObject({ bucket: 'bucket', key: 'small' });
    expect((await get(backend, 'small-copy')).equals(small)).toBe(true);
    // Growing past the threshold moves the object into a data file; shrinking brings it back.
    await put(backend, 'small-copy', randomBytes(40_000));
    expect((await dataFiles()).length).toBe(1);
    await put(backend, 'small-copy', small);
    expect(await dataFiles()).toEqual([]);
    expect((await get(backend, 'small-copy')).equals(small)).toBe(true);
  });

  it('removes data files when objects are overwritten or deleted', async () => {
    const { backend, dataFiles } = await setup();
    await put(backend, 'a', randomBytes(100_000));
    const first = await dataFiles();
    expect(first.length).toBe(1);
    await put(backend, 'a', randomBytes(200_000));
    const second = await dataFiles();
    expect(second.length).toBe(1);
    expect(second).not.toEqual(first);
    await backend.deleteObject({ bucket: 'bucket', key: 'a' });
    expect(await dataFiles()).toEqual([]);

    for (const key of ['x', 'y', 'z']) await put(backend, key, key.repeat(40_000));
    await put(backend, 'empty', '');
    expect((await dataFiles()).length).toBe(3);
    await backend.deleteObjects({ bucket: 'bucket', objects: ['x', 'y', 'z', 'empty', 'missing'].map((key) => ({ key })) });
    expect(await dataFiles()).toEqual([]);
    expect((await backend.listObjects({ bucket: 'bucket', maxKeys: 10 })).contents).toEqual([]);
  });

  it('commits multipart uploads by reference and cleans up unused, replaced and aborted parts', async () => {
    const { backend, dataFiles } = await setup({ minPartSize: 1 });
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'mp', metadata: meta() });
    const upload = (n: number, data: string) => backend.uploadPart({ bucket: 'bucket', key: 'mp', uploadId, partNumber: n, body: bodyOf(data), size: data.length });
    const p1 = await upload(1, 'one-');
    await upload(2, 'two-');
    await upload(2, 'TWO-');
    const p3 = await upload(3, 'three');
    expect((await dataFiles()).length).toBe(3);
    const partFiles = await dataFiles();

    const done = await backend.completeMultipartUpload({
      bucket: 'bucket',
      key: 'mp',
      uploadId,
      parts: [
        { partNumber: 1, etag: p1.etag },
        { partNumber: 3, etag: p3.etag },
      ],
    });
    expect(done.etag).toMatch(/-2"$/);
    expect((await get(backend, 'mp')).toString()).toBe('one-three');
    expect((await backend.headObject({ bucket: 'bucket', key: 'mp' })).partsCount).toBe(2);
    expect((await backend.headObject({ bucket: 'bucket', key: 'mp' })).size).toBe(9);
    const objectFiles = await dataFiles();
    expect(objectFiles.length).toBe(2);
    // The object's files are the part files themselves: no bytes were copied.
    for (const file of objectFiles) expect(partFiles).toContain(file);

    const other = await backend.createMultipartUpload({ bucket: 'bucket', key: 'aborted', metadata: meta() });
    await backend.uploadPart({ bucket: 'bucket', key: 'aborted', uploadId: other.uploadId, partNumber: 1, body: bodyOf('x'), size: 1 });
    expect((await dataFiles()).length).toBe(3);
    await backend.abortMultipartUpload({ bucket: 'bucket', key: 'aborted', uploadId: other.uploadId });
    expect(await dataFiles()).toEqual(objectFiles);

    await backend.deleteObject({ bucket: 'bucket', key: 'mp' });
    const pending = await backend.createMultipartUpload({ bucket: 'bucket', key: 'pending', metadata: meta() });
    await backend.uploadPart({ bucket: 'bucket', key: 'pending', uploadId: pending.uploadId, partNumber: 1, body: bodyOf('x'), size: 1 });
    expect((await dataFiles()).length).toBe(1);
    await backend.deleteBucket('bucket');
    expect(await dataFiles()).toEqual([]);
  });

  it('computes part checksums when the upload declared an algorithm but parts came without one', async () => {
    const { backend } = await setup({ minPartSize: 1 });
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'k', metadata: meta(), checksumAlgorithm: 'CRC32C' });
    const data = [Buffer.from('first part'), Buffer.from('second')];
    const parts = [];
    for (const [i, bytes] of data.entries()) {
      parts.push(await backend.uploadPart({ bucket: 'bucket', key: 'k', uploadId, partNumber: i + 1, body: bodyOf(bytes), size: bytes.length }));
    }
    const values = data.map((bytes) => checksumOf('CRC32C', bytes).toString('base64'));
    expect(parts.map((p) => p.checksum?.value)).toEqual(values);
    const done = await backend.completeMultipartUpload({
      bucket: 'bucket',
      key: 'k',
      uploadId,
      parts: parts.map((p, i) => ({ partNumber: i + 1, etag: p.etag })),
    });
    expect(done.checksum).toEqual({ algorithm: 'CRC32C', value: compositeChecksum('CRC32C', values), type: 'COMPOSITE' });
    expect((await get(backend, 'k')).toString()).toBe('first partsecond');
  });

  it('hard-links copies, which survive deleting the source', async () => {
    const { dataDir, backend, dataFiles } = await setup();
    const data = randomBytes(150_000);
    await put(backend, 'src', data);
    await backend.copyObject({ sourceBucket: 'bucket', sourceKey: 'src', bucket: 'bucket', key: 'dst', metadataDirective: 'COPY' });
    const files = await dataFiles();
    expect(files.length).toBe(2);
    const stats = await Promise.all(files.map((f) => fs.stat(path.join(dataDir, 'data', f))));
    expect(stats[0].ino).toBe(stats[1].ino);
    expect(stats.map((s) => s.nlink)).toEqual([2, 2]);

    await backend.deleteObject({ bucket: 'bucket', key: 'src' });
    const remaining = await dataFiles();
    expect(remaining.length).toBe(1);
    expect((await fs.stat(path.join(dataDir, 'data', remaining[0]))).nlink).toBe(1);
    expect((await get(backend, 'dst')).equals(data)).toBe(true);

    // Copying an object onto itself (COPY directive) is allowed here and keeps the bytes.
    const before = await backend.headObject({ bucket: 'bucket', key: 'dst' });
    await backend.copyObject({ sourceBucket: 'bucket', sourceKey: 'dst', bucket: 'bucket', key: 'dst', metadataDirective: 'COPY' });
    expect((await get(backend, 'dst')).equals(data)).toBe(true);
    expect((await backend.headObject({ bucket: 'bucket', key: 'dst' })).etag).toBe(before.etag);
    expect((await dataFiles()).length).toBe(1);
  });

  it('empties tmp/ at startup and keeps committed state across restarts', async () => {
    const { dataDir, backend, tmpFiles, reopen } = await setup();
    const data = randomBytes(80_000);
    const written = await put(backend, 'persisted', data);
    await backend.putObjectTagging({ bucket: 'bucket', key: 'persisted', tags: { keep: 'me' } });
    const { uploadId } = await backend.createMultipartUpload({ bucket: 'bucket', key: 'in-progress', metadata: meta() });
    const part = await backend.uploadPart({ bucket: 'bucket', key: 'in-progress', uploadId, partNumber: 1, body: bodyOf('p'), size: 1 });
    await fs.writeFile(path.join(dataDir, 'tmp', 'crash-leftover'), randomBytes(1000));
    await fs.mkdir(path.join(dataDir, 'tmp', 'leftover-dir'));
    await fs.writeFile(path.join(dataDir, 'tmp', 'leftover-dir', 'x'), 'x');

    const again = await reopen();
    expect(await tmpFiles()).toEqual([]);
    const got = await again.getObject({ bucket: 'bucket', key: 'persisted' });
    expect(got.info.etag).toBe(written.etag);
    expect(got.info.tagCount).toBe(1);
    expect((await readAll(got.body)).equals(data)).toBe(true);
    const parts = await again.listParts({ bucket: 'bucket', key: 'in-progress', uploadId, maxParts: 10 });
    expect(parts.parts.map((p) => p.etag)).toEqual([part.etag]);
    await expectS3Error(again.createBucket('bucket'), 'BucketAlreadyOwnedByYou');

    const db = new Database(path.join(dataDir, 'index.sqlite'), { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('keeps bytes readable for a GET that races an overwrite or delete', async () => {
    const { backend, dataFiles } = await setup();
    const original = randomBytes(2 * MiB);
    await put(backend, 'k', original);
    const got = await backend.getObject({ bucket: 'bucket', key: 'k' });
    const iterator = got.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);

    await put(backend, 'k', 'replacement');
    await backend.deleteObject({ bucket: 'bucket', key: 'k' });
    const chunks: Buffer[] = [first.value as Buffer];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) chunks.push(next.value as Buffer);
    expect(Buffer.concat(chunks).equals(original)).toBe(true);
    await waitFor(async () => (await dataFiles()).length === 0);

    // A body that is destroyed unread releases its files too.
    await put(backend, 'k2', randomBytes(MiB));
    const unread = await backend.getObject({ bucket: 'bucket', key: 'k2' });
    await backend.deleteObject({ bucket: 'bucket', key: 'k2' });
    expect((await dataFiles()).length).toBe(1);
    unread.body.destroy();
    await waitFor(async () => (await dataFiles()).length === 0);
  });

  it('pages through a large folder', async () => {
    const { backend } = await setup();
    const keys: string[] = [];
    for (let i = 0; i < 2500; i++) keys.push(`big/${String(i).padStart(5, '0')}`);
    for (const key of keys) await backend.putObject({ bucket: 'bucket', key, body: bodyOf(''), size: 0, metadata: meta() });
    await put(backend, 'a', 'a');
    await put(backend, 'z', 'z');
    const root = await backend.listObjects({ bucket: 'bucket', delimiter: '/', maxKeys: 1000 });
    expect(root.contents.map((o) => o.key)).toEqual(['a', 'z']);
    expect(root.commonPrefixes).toEqual(['big/']);
    expect(root.isTruncated).toBe(false);

    const seen: string[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await backend.listObjects({ bucket: 'bucket', prefix: 'big/', maxKeys: 1000, startAfter });
      seen.push(...page.contents.map((o) => o.key));
      if (!page.isTruncated) break;
      startAfter = page.nextMarker;
    }
    expect(seen).toEqual(keys);
  });

  it('reports unhealthy once closed', async () => {
    const { backend } = await setup();
    expect(await backend.health()).toMatchObject({ ok: true });
    await backend.close();
    open.splice(open.indexOf(backend), 1);
    expect((await backend.health()).ok).toBe(false);
  });

  it('streams a 1 GiB object in and out with bounded memory', { timeout: 600_000 }, async () => {
    const { backend, tmpFiles } = await setup({ fsync: true });
    const chunk = randomBytes(MiB);
    const chunks = 1024;
    const expected = createHash('md5');
    for (let i = 0; i < chunks; i++) expected.update(chunk);
    const expectedMd5 = expected.digest('hex');

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent < chunks) {
            sent++;
            this.push(chunk);
          } else {
            this.push(null);
          }
        },
      });
      const written = await backend.putObject({ bucket: 'bucket', key: 'huge', body, size: chunks * MiB, metadata: meta() });
      expect(written.etag).toBe(`"${expectedMd5}"`);
      expect(await tmpFiles()).toEqual([]);

      const got = await backend.getObject({ bucket: 'bucket', key: 'huge' });
      expect(got.info.size).toBe(chunks * MiB);
      const hash = createHash('md5');
      let size = 0;
      for await (const piece of got.body) {
        hash.update(piece as Buffer);
        size += (piece as Buffer).length;
      }
      expect(size).toBe(chunks * MiB);
      expect(hash.digest('hex')).toBe(expectedMd5);

      const ranged = await backend.getObject({ bucket: 'bucket', key: 'huge', range: { kind: 'from', start: 512 * MiB - 3, end: 512 * MiB + 2 } });
      expect((await readAll(ranged.body)).equals(Buffer.concat([chunk.subarray(MiB - 3), chunk.subarray(0, 3)]))).toBe(true);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(peak - baseline).toBeLessThan(100 * MiB);
    await backend.deleteObject({ bucket: 'bucket', key: 'huge' });
  });
});
