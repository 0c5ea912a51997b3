/**
 * The behavioural contract of bucket versioning (S3 semantics, as AWS S3 answers), exercised
 * through the StorageBackend interface only, so the same suite runs against every backend: the
 * filesystem backend (src/storage/fs/fs-versioning.test.ts) and the S3 proxy on Ceph RGW.
 *
 * Usage (inside a *.test.ts file):
 *   runVersioningContract('fs', async () => ({ backend, cleanup }));
 *
 * `makeBackend` is called once for the suite; `cleanup` must close the backend. Each test works in
 * its own bucket (`versioning-<random>`) and deletes everything it created, every version and
 * delete marker included, then the bucket: the suite runs against shared real endpoints (the
 * RGW's memstore keeps everything in RAM).
 *
 * Where a store answers differently from AWS S3, the suite asserts AWS's answer: the backend
 * normalises (each case is listed in the README's compatibility notes).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CommitFacts, JournalHook } from '../events/events.ts';
import { bodyOf, contractBuckets, expectS3Error, md5Hex, readAll } from './storage-backend.contract.ts';
import { NULL_VERSION_ID, type ListObjectVersionsOutput, type ObjectMetadata, type ObjectVersionEntry, type StorageBackend } from './storage-backend.ts';

function meta(extra: Partial<ObjectMetadata> = {}): ObjectMetadata {
  return { userMetadata: {}, ...extra };
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * A version id of the same shape as `id` that names no version: its last character changed to
 * another letter, so it stays well-formed for every store (AWS, RGW and the fs backend all use
 * 32 URL-safe characters).
 */
export function otherVersionId(id: string): string {
  const last = id[id.length - 1];
  return id.slice(0, -1) + (last === 'A' ? 'B' : 'A');
}

/** Not a version id on any store (too short, and `!` is in no store's alphabet). */
export const MALFORMED_VERSION_ID = 'not-a-version-id!';

/** What the suite expects one entry of ListObjectVersions to be (lastModified not compared). */
interface ModelEntry {
  key: string;
  versionId: string;
  deleteMarker: boolean;
  size: number;
  etag: string;
}

/** The reference ListObjectVersions answer over a model (key → entries newest first), unpaged. */
function expectedVersions(model: Map<string, ModelEntry[]>, prefix: string, delimiter: string | undefined) {
  const entries: (ModelEntry & { isLatest: boolean })[] = [];
  const commonPrefixes: string[] = [];
  for (const key of [...model.keys()].sort(byteCompare)) {
    if (!key.startsWith(prefix)) continue;
    const versions = model.get(key)!;
    if (versions.length === 0) continue;
    const rest = key.slice(prefix.length);
    const index = delimiter ? rest.indexOf(delimiter) : -1;
    if (index >= 0) {
      const cp = prefix + rest.slice(0, index + delimiter!.length);
      if (commonPrefixes[commonPrefixes.length - 1] !== cp) commonPrefixes.push(cp);
      continue;
    }
    for (const [i, version] of versions.entries()) entries.push({ ...version, isLatest: i === 0 });
  }
  return { entries, commonPrefixes };
}

function comparable(entry: ObjectVersionEntry) {
  return { key: entry.key, versionId: entry.versionId, deleteMarker: entry.deleteMarker, size: entry.size, etag: entry.etag, isLatest: entry.isLatest };
}

/**
 * What a store cannot do, whatever the backend normalises. `keepsOneDeleteMarker`: a delete of a
 * key whose latest version is already a delete marker adds none (RGW Pacific); S3 stacks another.
 */
export interface VersioningStoreLimits {
  keepsOneDeleteMarker?: boolean;
}

export function runVersioningContract(name: string, makeBackend: () => Promise<{ backend: StorageBackend; cleanup(): Promise<void> }>, limits: VersioningStoreLimits = {}): void {
  describe(`Versioning contract: ${name}`, () => {
    let backend: StorageBackend;
    const created = contractBuckets(
      makeBackend,
      (made) => {
        backend = made;
      },
      { versions: true },
    );

    async function newBucket(versioning?: 'Enabled' | 'Suspended'): Promise<string> {
      const bucket = `versioning-${randomBytes(8).toString('hex')}`;
      await backend.createBucket(bucket);
      created.add(bucket);
      if (versioning) await backend.putBucketVersioning(bucket, versioning);
      return bucket;
    }

    async function put(bucket: string, key: string, data: string, extra: { tags?: Record<string, string>; journal?: JournalHook } = {}) {
      const bytes = Buffer.from(data);
      return backend.putObject({ bucket, key, body: bodyOf(bytes), size: bytes.length, metadata: meta(), tags: extra.tags, journal: extra.journal });
    }

    async function getBytes(bucket: string, key: string, versionId?: string): Promise<string> {
      const out = await backend.getObject({ bucket, key, versionId });
      return (await readAll(out.body)).toString();
    }

    /** Every entry and common prefix, walking pages of `maxKeys` with the markers each page returns. */
    async function walkVersions(bucket: string, options: { prefix?: string; delimiter?: string; maxKeys: number }) {
      const entries: ObjectVersionEntry[] = [];
      const commonPrefixes: string[] = [];
      let keyMarker: string | undefined;
      let versionIdMarker: string | undefined;
      for (let pages = 0; ; pages++) {
        expect(pages, 'pagination does not end').toBeLessThan(200);
        const page: ListObjectVersionsOutput = await backend.listObjectVersions({ bucket, ...options, keyMarker, versionIdMarker });
        expect(page.entries.length + page.commonPrefixes.length).toBeLessThanOrEqual(options.maxKeys);
        entries.push(...page.entries);
        commonPrefixes.push(...page.commonPrefixes);
        if (!page.isTruncated) break;
        expect(page.nextKeyMarker, 'a truncated page names where the next one starts').toBeDefined();
        keyMarker = page.nextKeyMarker;
        versionIdMarker = page.nextVersionIdMarker;
      }
      return { entries, commonPrefixes };
    }

    async function listAll(bucket: string, options: { prefix?: string; delimiter?: string } = {}) {
      const page = await backend.listObjectVersions({ bucket, maxKeys: 1000, ...options });
      expect(page.isTruncated).toBe(false);
      return page;
    }

    function entryOf(key: string, data: string, versionId: string): ModelEntry {
      return { key, versionId, deleteMarker: false, size: Buffer.byteLength(data), etag: `"${md5Hex(data)}"` };
    }

    function markerOf(key: string, versionId: string): ModelEntry {
      return { key, versionId, deleteMarker: true, size: 0, etag: '' };
    }

    // ------------------------------------------------------------------ state

    describe('bucket versioning state', () => {
      it('starts Unversioned, moves between Enabled and Suspended, and never back to Unversioned', async () => {
        const bucket = await newBucket();
        expect(await backend.getBucketVersioning(bucket)).toBe('Unversioned');
        await backend.putBucketVersioning(bucket, 'Enabled');
        expect(await backend.getBucketVersioning(bucket)).toBe('Enabled');
        await backend.putBucketVersioning(bucket, 'Suspended');
        expect(await backend.getBucketVersioning(bucket)).toBe('Suspended');
        await backend.putBucketVersioning(bucket, 'Enabled');
        expect(await backend.getBucketVersioning(bucket)).toBe('Enabled');
        // Setting the state it has is accepted and changes nothing.
        await backend.putBucketVersioning(bucket, 'Enabled');
        expect(await backend.getBucketVersioning(bucket)).toBe('Enabled');
      });

      it('suspends a bucket that was never versioned', async () => {
        const bucket = await newBucket();
        await backend.putBucketVersioning(bucket, 'Suspended');
        expect(await backend.getBucketVersioning(bucket)).toBe('Suspended');
      });

      it('answers NoSuchBucket for a missing bucket', async () => {
        const bucket = `versioning-missing-${randomBytes(8).toString('hex')}`;
        await expectS3Error(backend.getBucketVersioning(bucket), 'NoSuchBucket');
        await expectS3Error(backend.putBucketVersioning(bucket, 'Enabled'), 'NoSuchBucket');
        await expectS3Error(backend.listObjectVersions({ bucket, maxKeys: 10 }), 'NoSuchBucket');
      });
    });

    // ------------------------------------------------------------------ writes and reads

    describe('versions', () => {
      it('gives every write in an Enabled bucket a new version id; an overwrite keeps the old version', async () => {
        const bucket = await newBucket('Enabled');
        const first = await put(bucket, 'k', 'one');
        const second = await put(bucket, 'k', 'two!');
        expect(first.versionId).toBeTruthy();
        expect(second.versionId).toBeTruthy();
        expect(first.versionId).not.toBe(NULL_VERSION_ID);
        expect(second.versionId).not.toBe(first.versionId);
        expect(await getBytes(bucket, 'k')).toBe('two!');
        expect(await getBytes(bucket, 'k', first.versionId)).toBe('one');
        expect(await getBytes(bucket, 'k', second.versionId)).toBe('two!');
        const latest = await backend.getObject({ bucket, key: 'k' });
        await readAll(latest.body);
        expect(latest.info.versionId).toBe(second.versionId);
        const old = await backend.headObject({ bucket, key: 'k', versionId: first.versionId });
        expect(old).toMatchObject({ key: 'k', size: 3, etag: `"${md5Hex('one')}"`, versionId: first.versionId });
        // ListObjects shows the key once, as its latest version.
        const listed = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listed.contents.map((o) => [o.key, o.size])).toEqual([['k', 4]]);
      });

      it('gives CopyObject and CompleteMultipartUpload their own versions', async () => {
        const bucket = await newBucket('Enabled');
        const original = await put(bucket, 'k', 'original');
        const copied = await backend.copyObject({
          sourceBucket: bucket,
          sourceKey: 'k',
          bucket,
          key: 'k',
          metadataDirective: 'REPLACE',
          metadata: meta({ contentType: 'text/x-copy' }),
        });
        expect(copied.versionId).toBeTruthy();
        expect(copied.versionId).not.toBe(original.versionId);
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const part = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('multipart'), size: 9 });
        const completed = await backend.completeMultipartUpload({ bucket, key: 'k', uploadId, parts: [{ partNumber: 1, etag: part.etag }] });
        expect(completed.versionId).toBeTruthy();
        expect(new Set([original.versionId, copied.versionId, completed.versionId]).size).toBe(3);
        expect(await getBytes(bucket, 'k')).toBe('multipart');
        expect(await getBytes(bucket, 'k', copied.versionId)).toBe('original');
        expect((await backend.headObject({ bucket, key: 'k', versionId: copied.versionId })).contentType).toBe('text/x-copy');
        const listing = await listAll(bucket);
        expect(listing.entries.map((e) => [e.versionId, e.isLatest, e.size])).toEqual([
          [completed.versionId, true, 9],
          [copied.versionId, false, 8],
          [original.versionId, false, 8],
        ]);
      });

      it('keeps objects written before versioning as their null version', async () => {
        const bucket = await newBucket();
        const unversioned = await put(bucket, 'k', 'before');
        expect(unversioned.versionId).toBeUndefined();
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBeUndefined();
        await backend.putBucketVersioning(bucket, 'Enabled');
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBe(NULL_VERSION_ID);
        const after = await put(bucket, 'k', 'after');
        expect(await getBytes(bucket, 'k')).toBe('after');
        expect(await getBytes(bucket, 'k', NULL_VERSION_ID)).toBe('before');
        expect((await backend.headObject({ bucket, key: 'k', versionId: NULL_VERSION_ID })).versionId).toBe(NULL_VERSION_ID);
        const listing = await listAll(bucket);
        expect(listing.entries.map(comparable)).toEqual([
          { ...entryOf('k', 'after', after.versionId!), isLatest: true },
          { ...entryOf('k', 'before', NULL_VERSION_ID), isLatest: false },
        ]);
      });

      it('answers NoSuchVersion for an unknown version and InvalidArgument for a malformed id', async () => {
        const bucket = await newBucket('Enabled');
        const written = await put(bucket, 'k', 'data');
        const unknown = otherVersionId(written.versionId!);
        await expectS3Error(backend.getObject({ bucket, key: 'k', versionId: unknown }), 'NoSuchVersion');
        await expectS3Error(backend.headObject({ bucket, key: 'k', versionId: unknown }), 'NoSuchVersion');
        // The key has no null version.
        await expectS3Error(backend.getObject({ bucket, key: 'k', versionId: NULL_VERSION_ID }), 'NoSuchVersion');
        // A version of another key is not a version of this one.
        await expectS3Error(backend.getObject({ bucket, key: 'other', versionId: written.versionId }), 'NoSuchVersion');
        await expectS3Error(backend.getObject({ bucket, key: 'k', versionId: MALFORMED_VERSION_ID }), 'InvalidArgument');
        await expectS3Error(backend.headObject({ bucket, key: 'k', versionId: MALFORMED_VERSION_ID }), 'InvalidArgument');
        await expectS3Error(backend.deleteObject({ bucket, key: 'k', versionId: MALFORMED_VERSION_ID }), 'InvalidArgument');
        // Deleting a version that does not exist succeeds and changes nothing (S3 answers 204).
        await backend.deleteObject({ bucket, key: 'k', versionId: unknown });
        expect(await getBytes(bucket, 'k', written.versionId)).toBe('data');
        expect((await listAll(bucket)).entries).toHaveLength(1);
      });
    });

    // ------------------------------------------------------------------ delete markers

    describe('delete markers', () => {
      it('a delete without version id adds a delete marker; GET and HEAD answer NoSuchKey with the marker headers', async () => {
        const bucket = await newBucket('Enabled');
        const written = await put(bucket, 'k', 'kept');
        const deleted = await backend.deleteObject({ bucket, key: 'k' });
        expect(deleted.deleteMarker).toBe(true);
        expect(deleted.versionId).toBeTruthy();
        expect(deleted.versionId).not.toBe(NULL_VERSION_ID);
        expect(deleted.versionId).not.toBe(written.versionId);
        // Thunks: a second promise made up front would reject unobserved while the first is awaited.
        for (const read of [() => backend.getObject({ bucket, key: 'k' }), () => backend.headObject({ bucket, key: 'k' })]) {
          const error = await expectS3Error(read(), 'NoSuchKey');
          expect(error.headers['x-amz-delete-marker']).toBe('true');
          expect(error.headers['x-amz-version-id']).toBe(deleted.versionId);
        }
        // The data is still there, by its version id.
        expect(await getBytes(bucket, 'k', written.versionId)).toBe('kept');
        expect((await backend.listObjects({ bucket, maxKeys: 1000 })).contents).toEqual([]);
        const listing = await listAll(bucket);
        expect(listing.entries.map(comparable)).toEqual([
          { ...markerOf('k', deleted.versionId!), isLatest: true },
          { ...entryOf('k', 'kept', written.versionId!), isLatest: false },
        ]);
        // Another simple delete stacks another marker.
        const again = await backend.deleteObject({ bucket, key: 'k' });
        expect(again.deleteMarker).toBe(true);
        // A store that keeps one marker: the backend reports the marker that is the latest.
        if (limits.keepsOneDeleteMarker) {
          expect(again.versionId).toBe(deleted.versionId);
          return;
        }
        expect(again.versionId).not.toBe(deleted.versionId);
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.deleteMarker, e.isLatest])).toEqual([
          [again.versionId, true, true],
          [deleted.versionId, true, false],
          [written.versionId, false, false],
        ]);
      });

      it('a delete marker named by its version id answers MethodNotAllowed with the marker headers', async () => {
        const bucket = await newBucket('Enabled');
        await put(bucket, 'k', 'x');
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        for (const read of [
          () => backend.getObject({ bucket, key: 'k', versionId: marker.versionId }),
          () => backend.headObject({ bucket, key: 'k', versionId: marker.versionId }),
        ]) {
          const error = await expectS3Error(read(), 'MethodNotAllowed');
          expect(error.headers['x-amz-delete-marker']).toBe('true');
          expect(error.headers['x-amz-version-id']).toBe(marker.versionId);
          expect(Number.isNaN(Date.parse(error.headers['last-modified'] ?? error.headers['Last-Modified'] ?? ''))).toBe(false);
        }
      });

      it('deleting the delete marker by its id brings the object back', async () => {
        const bucket = await newBucket('Enabled');
        const written = await put(bucket, 'k', 'back');
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        const removed = await backend.deleteObject({ bucket, key: 'k', versionId: marker.versionId });
        expect(removed).toMatchObject({ versionId: marker.versionId, deleteMarker: true });
        expect(await getBytes(bucket, 'k')).toBe('back');
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBe(written.versionId);
        expect((await backend.listObjects({ bucket, maxKeys: 1000 })).contents.map((o) => o.key)).toEqual(['k']);
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.isLatest])).toEqual([[written.versionId, true]]);
      });

      it('deleting a version by id removes it for good; deleting the latest makes the previous one current', async () => {
        const bucket = await newBucket('Enabled');
        const v1 = await put(bucket, 'k', 'first');
        const v2 = await put(bucket, 'k', 'second');
        const removed = await backend.deleteObject({ bucket, key: 'k', versionId: v2.versionId });
        expect(removed.versionId).toBe(v2.versionId);
        expect(removed.deleteMarker).toBeFalsy();
        expect(await getBytes(bucket, 'k')).toBe('first');
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBe(v1.versionId);
        await expectS3Error(backend.getObject({ bucket, key: 'k', versionId: v2.versionId }), 'NoSuchVersion');
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.isLatest])).toEqual([[v1.versionId, true]]);
        // A noncurrent version below a marker: removing it leaves the marker current.
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        await backend.deleteObject({ bucket, key: 'k', versionId: v1.versionId });
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.deleteMarker, e.isLatest])).toEqual([[marker.versionId, true, true]]);
        await expectS3Error(backend.getObject({ bucket, key: 'k' }), 'NoSuchKey');
        // Removing the last marker leaves the key with nothing at all.
        await backend.deleteObject({ bucket, key: 'k', versionId: marker.versionId });
        expect((await listAll(bucket)).entries).toEqual([]);
        const error = await expectS3Error(backend.getObject({ bucket, key: 'k' }), 'NoSuchKey');
        expect(error.headers['x-amz-delete-marker']).toBeUndefined();
      });

      it('DeleteObjects deletes versions by id and reports markers created and removed', async () => {
        const bucket = await newBucket('Enabled');
        const a1 = await put(bucket, 'a', 'a1');
        const a2 = await put(bucket, 'a', 'a2');
        await put(bucket, 'b', 'b1');
        const first = await backend.deleteObjects({ bucket, objects: [{ key: 'a', versionId: a1.versionId }, { key: 'b' }] });
        expect(first.errors).toEqual([]);
        const byKey = new Map(first.deleted.map((d) => [d.key, d]));
        expect(byKey.get('a')!.versionId).toBe(a1.versionId);
        expect(byKey.get('a')!.deleteMarker).toBeFalsy();
        expect(byKey.get('a')!.deleteMarkerVersionId).toBeUndefined();
        const bMarker = byKey.get('b')!;
        expect(bMarker.deleteMarker).toBe(true);
        expect(bMarker.deleteMarkerVersionId).toBeTruthy();
        expect(bMarker.versionId).toBeUndefined();
        expect(await getBytes(bucket, 'a')).toBe('a2');
        await expectS3Error(backend.getObject({ bucket, key: 'a', versionId: a1.versionId }), 'NoSuchVersion');
        await expectS3Error(backend.getObject({ bucket, key: 'b' }), 'NoSuchKey');
        // Removing the marker by id: S3 reports it as a marker, DeleteMarkerVersionId naming it.
        const second = await backend.deleteObjects({
          bucket,
          objects: [
            { key: 'b', versionId: bMarker.deleteMarkerVersionId },
            { key: 'a', versionId: a2.versionId },
          ],
        });
        expect(second.errors).toEqual([]);
        const again = new Map(second.deleted.map((d) => [d.key, d]));
        expect(again.get('b')).toMatchObject({ key: 'b', versionId: bMarker.deleteMarkerVersionId, deleteMarker: true, deleteMarkerVersionId: bMarker.deleteMarkerVersionId });
        expect(again.get('a')).toMatchObject({ key: 'a', versionId: a2.versionId });
        expect(await getBytes(bucket, 'b')).toBe('b1');
        expect((await listAll(bucket)).entries.map((e) => e.key)).toEqual(['b']);
      });
    });

    // ------------------------------------------------------------------ suspended

    describe('Suspended', () => {
      it('writes replace the null version and keep versions with ids', async () => {
        const bucket = await newBucket('Enabled');
        const kept = await put(bucket, 'k', 'versioned');
        await backend.putBucketVersioning(bucket, 'Suspended');
        const n1 = await put(bucket, 'k', 'null-1');
        expect(n1.versionId).toBe(NULL_VERSION_ID);
        const n2 = await put(bucket, 'k', 'null-two');
        expect(n2.versionId).toBe(NULL_VERSION_ID);
        expect(await getBytes(bucket, 'k')).toBe('null-two');
        expect(await getBytes(bucket, 'k', NULL_VERSION_ID)).toBe('null-two');
        expect(await getBytes(bucket, 'k', kept.versionId)).toBe('versioned');
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBe(NULL_VERSION_ID);
        expect((await listAll(bucket)).entries.map(comparable)).toEqual([
          { ...entryOf('k', 'null-two', NULL_VERSION_ID), isLatest: true },
          { ...entryOf('k', 'versioned', kept.versionId!), isLatest: false },
        ]);
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 'null-two'.length + 'versioned'.length, objects: 2 });
      });

      it('a write replaces a noncurrent null version too, and becomes the latest', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'old-null');
        await backend.putBucketVersioning(bucket, 'Enabled');
        const withId = await put(bucket, 'k', 'with-id');
        await backend.putBucketVersioning(bucket, 'Suspended');
        await put(bucket, 'k', 'new-null');
        expect((await listAll(bucket)).entries.map(comparable)).toEqual([
          { ...entryOf('k', 'new-null', NULL_VERSION_ID), isLatest: true },
          { ...entryOf('k', 'with-id', withId.versionId!), isLatest: false },
        ]);
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 'new-null'.length + 'with-id'.length, objects: 2 });
      });

      it('a delete replaces the null version with a null delete marker', async () => {
        const bucket = await newBucket('Enabled');
        const kept = await put(bucket, 'k', 'versioned');
        await backend.putBucketVersioning(bucket, 'Suspended');
        await put(bucket, 'k', 'nullv');
        const deleted = await backend.deleteObject({ bucket, key: 'k' });
        expect(deleted).toMatchObject({ deleteMarker: true, versionId: NULL_VERSION_ID });
        const error = await expectS3Error(backend.getObject({ bucket, key: 'k' }), 'NoSuchKey');
        expect(error.headers['x-amz-delete-marker']).toBe('true');
        expect(error.headers['x-amz-version-id']).toBe(NULL_VERSION_ID);
        expect((await listAll(bucket)).entries.map(comparable)).toEqual([
          { ...markerOf('k', NULL_VERSION_ID), isLatest: true },
          { ...entryOf('k', 'versioned', kept.versionId!), isLatest: false },
        ]);
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 'versioned'.length, objects: 1 });
        // A write replaces the null marker.
        await put(bucket, 'k', 'again');
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.deleteMarker, e.isLatest])).toEqual([
          [NULL_VERSION_ID, false, true],
          [kept.versionId, false, false],
        ]);
        // A delete where the latest version has an id keeps it, below a null marker.
        await backend.putBucketVersioning(bucket, 'Enabled');
        const latest = await put(bucket, 'k', 'latest');
        await backend.putBucketVersioning(bucket, 'Suspended');
        await backend.deleteObject({ bucket, key: 'k' });
        expect((await listAll(bucket)).entries.map((e) => [e.versionId, e.deleteMarker, e.isLatest])).toEqual([
          [NULL_VERSION_ID, true, true],
          [latest.versionId, false, false],
          [kept.versionId, false, false],
        ]);
      });
    });

    // ------------------------------------------------------------------ listing

    describe('ListObjectVersions', () => {
      /** Several keys (non-ASCII among them), overwrites, markers and a null version; returns the model. */
      async function populate(bucket: string): Promise<Map<string, ModelEntry[]>> {
        const model = new Map<string, ModelEntry[]>();
        const add = (entry: ModelEntry) => model.set(entry.key, [entry, ...(model.get(entry.key) ?? [])]);
        const write = async (key: string, data: string) => add(entryOf(key, data, (await put(bucket, key, data)).versionId ?? NULL_VERSION_ID));
        const remove = async (key: string) => add(markerOf(key, (await backend.deleteObject({ bucket, key })).versionId!));
        await write('dir/a', 'unversioned');
        await backend.putBucketVersioning(bucket, 'Enabled');
        for (const [key, data] of [
          ['dir/a', 'a-2'],
          ['dir/a', 'a-3'],
          ['dir/sub/b', 'b-1'],
          ['top', 't-1'],
          ['top', 't-2'],
          ['zed/é', 'e-1'],
          ['zed/z', 'z-1'],
          ['Z', 'cap'],
        ]) {
          await write(key, data);
        }
        await remove('top');
        await remove('dir/sub/b');
        await write('dir/sub/b', 'b-2');
        await remove('gone');
        return model;
      }

      it('lists every version and marker: keys in UTF-8 binary order, newest first, one latest per key', async () => {
        const bucket = await newBucket();
        const model = await populate(bucket);
        const listing = await listAll(bucket);
        expect(listing.entries.map(comparable)).toEqual(expectedVersions(model, '', undefined).entries);
        expect(listing.commonPrefixes).toEqual([]);
        for (const entry of listing.entries) expect(entry.lastModified).toBeInstanceOf(Date);
        // ListObjects: only keys whose latest version is not a delete marker.
        const objects = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(objects.contents.map((o) => [o.key, o.size])).toEqual([
          ['Z', 3],
          ['dir/a', 3],
          ['dir/sub/b', 3],
          ['zed/z', 3],
          ['zed/é', 3],
        ]);
      });

      it('filters by prefix and rolls versions up into common prefixes', async () => {
        const bucket = await newBucket();
        const model = await populate(bucket);
        for (const [prefix, delimiter] of [
          ['dir/', undefined],
          ['', '/'],
          ['dir/', '/'],
          ['zed/', '/'],
          ['to', '/'],
          ['nothing', undefined],
        ] as [string, string | undefined][]) {
          const listing = await listAll(bucket, { prefix, delimiter });
          const expected = expectedVersions(model, prefix, delimiter);
          expect(listing.entries.map(comparable), `prefix ${prefix} delimiter ${delimiter}`).toEqual(expected.entries);
          expect(listing.commonPrefixes, `prefix ${prefix} delimiter ${delimiter}`).toEqual(expected.commonPrefixes);
        }
      });

      it('pages through key-marker and version-id-marker to exactly the unpaged answer', async () => {
        const bucket = await newBucket();
        const model = await populate(bucket);
        for (const options of [{}, { delimiter: '/' }, { prefix: 'dir/' }]) {
          const unpaged = await listAll(bucket, options);
          for (const maxKeys of [1, 2, 3]) {
            const walked = await walkVersions(bucket, { ...options, maxKeys });
            expect(walked.entries.map(comparable), `${JSON.stringify(options)} maxKeys ${maxKeys}`).toEqual(unpaged.entries.map(comparable));
            expect(walked.commonPrefixes).toEqual(unpaged.commonPrefixes);
          }
        }
        expect(model.size).toBeGreaterThan(0);
      });

      it('a key-marker alone skips every version of that key; with a version-id-marker it resumes after that version', async () => {
        const bucket = await newBucket('Enabled');
        const a1 = await put(bucket, 'a', '1');
        const a2 = await put(bucket, 'a', '2');
        const a3 = await put(bucket, 'a', '3');
        const b1 = await put(bucket, 'b', '1');
        const afterKey = await backend.listObjectVersions({ bucket, maxKeys: 1000, keyMarker: 'a' });
        expect(afterKey.entries.map((e) => [e.key, e.versionId])).toEqual([['b', b1.versionId]]);
        const afterVersion = await backend.listObjectVersions({ bucket, maxKeys: 1000, keyMarker: 'a', versionIdMarker: a3.versionId });
        expect(afterVersion.entries.map((e) => [e.key, e.versionId, e.isLatest])).toEqual([
          ['a', a2.versionId, false],
          ['a', a1.versionId, false],
          ['b', b1.versionId, true],
        ]);
        const truncated = await backend.listObjectVersions({ bucket, maxKeys: 2 });
        expect(truncated.isTruncated).toBe(true);
        expect(truncated.nextKeyMarker).toBe('a');
        expect(truncated.nextVersionIdMarker).toBe(a2.versionId);
      });

      it('on an Unversioned bucket lists every object as its null version', async () => {
        const bucket = await newBucket();
        await put(bucket, 'x', 'xx');
        await put(bucket, 'y', 'yyy');
        await put(bucket, 'y', 'y');
        const listing = await listAll(bucket);
        expect(listing.entries.map(comparable)).toEqual([
          { ...entryOf('x', 'xx', NULL_VERSION_ID), isLatest: true },
          { ...entryOf('y', 'y', NULL_VERSION_ID), isLatest: true },
        ]);
        // The null version can be read and deleted by its id on an Unversioned bucket too.
        expect(await getBytes(bucket, 'x', NULL_VERSION_ID)).toBe('xx');
        await backend.deleteObject({ bucket, key: 'x', versionId: NULL_VERSION_ID });
        expect((await listAll(bucket)).entries.map((e) => e.key)).toEqual(['y']);
      });
    });

    // ------------------------------------------------------------------ tagging and copy

    describe('tagging and copy', () => {
      it('reads and writes the tags of one version by its id', async () => {
        const bucket = await newBucket('Enabled');
        const v1 = await put(bucket, 'k', 'one', { tags: { first: '1' } });
        const v2 = await put(bucket, 'k', 'two', { tags: { second: '2' } });
        expect(await backend.getObjectTagging({ bucket, key: 'k', versionId: v1.versionId })).toEqual({ first: '1' });
        expect(await backend.getObjectTagging({ bucket, key: 'k' })).toEqual({ second: '2' });
        await backend.putObjectTagging({ bucket, key: 'k', versionId: v1.versionId, tags: { changed: 'yes' } });
        expect(await backend.getObjectTagging({ bucket, key: 'k', versionId: v1.versionId })).toEqual({ changed: 'yes' });
        expect(await backend.getObjectTagging({ bucket, key: 'k', versionId: v2.versionId })).toEqual({ second: '2' });
        expect((await backend.headObject({ bucket, key: 'k', versionId: v1.versionId })).tagCount).toBe(1);
        await backend.deleteObjectTagging({ bucket, key: 'k', versionId: v1.versionId });
        expect(await backend.getObjectTagging({ bucket, key: 'k', versionId: v1.versionId })).toEqual({});
        expect(await backend.getObjectTagging({ bucket, key: 'k' })).toEqual({ second: '2' });
        await expectS3Error(backend.getObjectTagging({ bucket, key: 'k', versionId: otherVersionId(v1.versionId!) }), 'NoSuchVersion');
        await expectS3Error(backend.putObjectTagging({ bucket, key: 'k', versionId: otherVersionId(v1.versionId!), tags: { a: 'b' } }), 'NoSuchVersion');
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        await expectS3Error(backend.getObjectTagging({ bucket, key: 'k', versionId: marker.versionId }), 'MethodNotAllowed');
        await expectS3Error(backend.putObjectTagging({ bucket, key: 'k', versionId: marker.versionId, tags: { a: 'b' } }), 'MethodNotAllowed');
      });

      it('copies a source version named by its id', async () => {
        const bucket = await newBucket('Enabled');
        const v1 = await put(bucket, 'src', 'version one', { tags: { v: '1' } });
        await put(bucket, 'src', 'version two');
        const copied = await backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', sourceVersionId: v1.versionId, bucket, key: 'dst', metadataDirective: 'COPY' });
        expect(copied.etag).toBe(`"${md5Hex('version one')}"`);
        expect(copied.versionId).toBeTruthy();
        expect(await getBytes(bucket, 'dst')).toBe('version one');
        expect(await backend.getObjectTagging({ bucket, key: 'dst' })).toEqual({ v: '1' });
        // Restoring an old version = copying it over its own key: a new latest version.
        const restored = await backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', sourceVersionId: v1.versionId, bucket, key: 'src', metadataDirective: 'COPY' });
        expect(await getBytes(bucket, 'src')).toBe('version one');
        expect((await listAll(bucket, { prefix: 'src' })).entries.map((e) => e.versionId)[0]).toBe(restored.versionId);
        await expectS3Error(
          backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', sourceVersionId: otherVersionId(v1.versionId!), bucket, key: 'x', metadataDirective: 'COPY' }),
          'NoSuchVersion',
        );
        const marker = await backend.deleteObject({ bucket, key: 'src' });
        // S3: a delete marker may not be a copy source by version id (400), and a key whose latest is a marker is missing.
        await expectS3Error(
          backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', sourceVersionId: marker.versionId, bucket, key: 'x', metadataDirective: 'COPY' }),
          'InvalidRequest',
        );
        await expectS3Error(backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket, key: 'x', metadataDirective: 'COPY' }), 'NoSuchKey');
      });
    });

    // ------------------------------------------------------------------ usage, buckets, journal

    describe('usage, bucket deletion and journal', () => {
      it('usage counts every stored version exactly and frees a version deleted by id', async () => {
        const bucket = await newBucket('Enabled');
        const v1 = await put(bucket, 'k', 'aaaa');
        await put(bucket, 'k', 'bbbbbb');
        await put(bucket, 'other', 'cc');
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 12, objects: 3 });
        // A marker stores nothing and frees nothing.
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 12, objects: 3 });
        await backend.deleteObject({ bucket, key: 'k', versionId: v1.versionId });
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 8, objects: 2 });
        await backend.deleteObject({ bucket, key: 'k', versionId: marker.versionId });
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 8, objects: 2 });
        // What a write would replace: nothing in an Enabled bucket, the null version in a Suspended one.
        const enabledSize = await backend.local.storedSize(bucket, 'k');
        if (enabledSize !== undefined) expect(enabledSize).toBe(0);
        await backend.putBucketVersioning(bucket, 'Suspended');
        await put(bucket, 'k', 'nul');
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 11, objects: 3 });
        const suspendedSize = await backend.local.storedSize(bucket, 'k');
        if (suspendedSize !== undefined) expect(suspendedSize).toBe(3);
        await put(bucket, 'k', 'n');
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 9, objects: 3 });
      });

      it('refuses to delete a bucket while versions or delete markers remain', async () => {
        const bucket = await newBucket('Enabled');
        const written = await put(bucket, 'k', 'x');
        const marker = await backend.deleteObject({ bucket, key: 'k' });
        expect((await backend.listObjects({ bucket, maxKeys: 10 })).contents).toEqual([]);
        await expectS3Error(backend.deleteBucket(bucket), 'BucketNotEmpty');
        await backend.deleteObject({ bucket, key: 'k', versionId: written.versionId });
        await expectS3Error(backend.deleteBucket(bucket), 'BucketNotEmpty');
        await backend.deleteObject({ bucket, key: 'k', versionId: marker.versionId });
        await backend.deleteBucket(bucket);
        created.delete(bucket);
        await expectS3Error(backend.getBucketVersioning(bucket), 'NoSuchBucket');
      });

      it('journals the version written or removed and the delete markers', async () => {
        const bucket = await newBucket('Enabled');
        const facts: CommitFacts[] = [];
        const journal: JournalHook = (f) => {
          facts.push(f);
          return [];
        };
        const written = await put(bucket, 'k', 'hello', { journal });
        expect(facts.pop()).toMatchObject({ key: 'k', versionId: written.versionId, size: 5 });
        const overwrite = await put(bucket, 'k', 'hello!', { journal });
        expect(facts.pop()).toMatchObject({ key: 'k', versionId: overwrite.versionId, replaced: true, size: 6 });
        const marker = await backend.deleteObject({ bucket, key: 'k', journal });
        expect(facts.pop()).toMatchObject({ key: 'k', versionId: marker.versionId, deleteMarker: true });
        await backend.deleteObject({ bucket, key: 'k', versionId: written.versionId, journal });
        const removed = facts.pop()!;
        expect(removed).toMatchObject({ key: 'k', versionId: written.versionId, replaced: true, size: 5 });
        expect(removed.deleteMarker).toBeFalsy();
        await backend.deleteObjects({ bucket, objects: [{ key: 'k', versionId: marker.versionId }], journal });
        expect(facts.pop()).toMatchObject({ key: 'k', versionId: marker.versionId, deleteMarker: true });
        expect(facts).toEqual([]);
      });
    });
  });
}
