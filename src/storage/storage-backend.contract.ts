/**
 * The behavioural contract of StorageBackend, exercised through the public interface only, so
 * the same suite runs against every implementation (filesystem now, S3 proxy later).
 *
 * Usage (inside a *.test.ts file):
 *   runStorageBackendContract('fs', async () => ({ backend, cleanup }));
 *
 * `makeBackend` is called once for the suite; `cleanup` must close the backend and release what
 * it holds. Each test works in its own bucket (`contract-<random>`) and deletes everything it
 * created, so the suite can run against a shared real endpoint. Multipart tests assume S3's
 * 5 MiB minimum part size.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf, compositeChecksum } from '../checksums/checksums.ts';
import { S3Error, type S3ErrorCode } from '../errors/s3-errors.ts';
import { knownChecksum, type ByteRangeSpec, type ObjectMetadata, type StorageBackend, type WriteConditions } from './storage-backend.ts';
import type { CommitFacts, DomainEvent, JournalHook } from '../events/events.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

export function bodyOf(data: Buffer | string, chunkSize = 64 * 1024): Readable {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) chunks.push(bytes.subarray(offset, offset + chunkSize));
  return Readable.from(chunks, { objectMode: false });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

export function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

export function md5Base64(data: Buffer | string): string {
  return createHash('md5').update(data).digest('base64');
}

/** Rejects with an S3Error of exactly `code` (fails the test otherwise). */
export async function expectS3Error(promise: Promise<unknown>, code: S3ErrorCode): Promise<S3Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected an S3Error ${code}, got ${caught === undefined ? 'success' : String(caught)}`).toBeInstanceOf(S3Error);
  expect((caught as S3Error).code).toBe(code);
  return caught as S3Error;
}

/** A body that delivers `prefix` and then fails, like a client disconnecting mid-upload. */
export function failingBody(prefix: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(prefix);
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
}

function meta(extra: Partial<ObjectMetadata> = {}): ObjectMetadata {
  return { userMetadata: {}, ...extra };
}

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Reference listing computed from the full key set (S3 semantics, UTF-8 binary order). */
function expectedListing(keys: string[], prefix: string, delimiter: string | undefined, startAfter?: string) {
  const contents: string[] = [];
  const commonPrefixes: string[] = [];
  for (const key of [...keys].sort(byteCompare)) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const index = delimiter ? rest.indexOf(delimiter) : -1;
    if (index >= 0) {
      const cp = prefix + rest.slice(0, index + delimiter!.length);
      if (startAfter !== undefined && (byteCompare(cp, startAfter) <= 0 || startAfter.startsWith(cp))) continue;
      if (commonPrefixes[commonPrefixes.length - 1] !== cp) commonPrefixes.push(cp);
    } else {
      if (startAfter !== undefined && byteCompare(key, startAfter) <= 0) continue;
      contents.push(key);
    }
  }
  return { contents, commonPrefixes };
}

/** What a backend cannot do because the store behind it cannot; each is documented in the README. */
export interface BackendLimitations {
  /**
   * Completing a multipart upload with only some of its uploaded parts. S3 drops the unlisted
   * parts; Ceph RGW Pacific refuses with InvalidPart.
   */
  cannotLeaveOutUploadedParts?: boolean;
}

/**
 * The suite lifecycle both contracts (this one and versioning.contract.ts) share: one backend for
 * the whole suite, handed to `use` once made; after each test every bucket added to the returned
 * set is emptied (every version and delete marker too when `versions`) and deleted; the backend is
 * closed at the end.
 */
export function contractBuckets(
  makeBackend: () => Promise<{ backend: StorageBackend; cleanup(): Promise<void> }>,
  use: (backend: StorageBackend) => void,
  options: { versions?: boolean } = {},
): Set<string> {
  let backend: StorageBackend;
  let cleanup: (() => Promise<void>) | undefined;
  const created = new Set<string>();

  beforeAll(async () => {
    ({ backend, cleanup } = await makeBackend());
    use(backend);
  });

  afterEach(async () => {
    for (const bucket of created) await emptyAndDelete(bucket);
    created.clear();
  });

  afterAll(async () => {
    await cleanup?.();
  });

  /** Removes every upload and object (or version and delete marker), then the bucket. */
  async function emptyAndDelete(bucket: string) {
    try {
      for (;;) {
        const page = await backend.listMultipartUploads({ bucket, maxUploads: 1000 });
        for (const upload of page.uploads) {
          await backend.abortMultipartUpload({ bucket, key: upload.key, uploadId: upload.uploadId });
        }
        if (!page.isTruncated) break;
      }
      if (options.versions) {
        for (;;) {
          // Always from the start: the previous page's entries are gone.
          const page = await backend.listObjectVersions({ bucket, maxKeys: 1000 });
          if (page.entries.length > 0) {
            await backend.deleteObjects({ bucket, objects: page.entries.map((entry) => ({ key: entry.key, versionId: entry.versionId })) });
          }
          if (!page.isTruncated) break;
        }
      } else {
        for (;;) {
          const page = await backend.listObjects({ bucket, maxKeys: 1000 });
          if (page.contents.length > 0) await backend.deleteObjects({ bucket, objects: page.contents.map((o) => ({ key: o.key })) });
          if (!page.isTruncated) break;
        }
      }
      await backend.deleteBucket(bucket);
    } catch (error) {
      if (!(error instanceof S3Error && error.code === 'NoSuchBucket')) throw error;
    }
  }

  return created;
}

export function runStorageBackendContract(
  name: string,
  makeBackend: () => Promise<{ backend: StorageBackend; cleanup(): Promise<void> }>,
  limitations: BackendLimitations = {},
): void {
  describe(`StorageBackend contract: ${name}`, () => {
    let backend: StorageBackend;
    const created = contractBuckets(makeBackend, (made) => {
      backend = made;
    });

    async function newBucket(): Promise<string> {
      const bucket = `contract-${randomBytes(8).toString('hex')}`;
      await backend.createBucket(bucket);
      created.add(bucket);
      return bucket;
    }

    async function put(bucket: string, key: string, data: Buffer | string, extra: { metadata?: ObjectMetadata; tags?: Record<string, string> } = {}) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      return backend.putObject({ bucket, key, body: bodyOf(bytes), size: bytes.length, metadata: extra.metadata ?? meta(), tags: extra.tags });
    }

    async function getBytes(bucket: string, key: string, range?: ByteRangeSpec): Promise<Buffer> {
      const out = await backend.getObject({ bucket, key, range });
      return readAll(out.body);
    }

    // ------------------------------------------------------------------ buckets

    describe('buckets', () => {
      it('creates a bucket, rejects a duplicate, deletes it', async () => {
        const bucket = await newBucket();
        const listing = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listing).toMatchObject({ contents: [], commonPrefixes: [], isTruncated: false });
        await expectS3Error(backend.createBucket(bucket), 'BucketAlreadyOwnedByYou');
        await backend.deleteBucket(bucket);
        await expectS3Error(backend.listObjects({ bucket, maxKeys: 10 }), 'NoSuchBucket');
        await expectS3Error(backend.deleteBucket(bucket), 'NoSuchBucket');
      });

      it('refuses to delete a bucket with objects, and drops in-progress uploads on delete', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'x');
        await expectS3Error(backend.deleteBucket(bucket), 'BucketNotEmpty');
        expect((await getBytes(bucket, 'k')).toString()).toBe('x');
        await backend.deleteObject({ bucket, key: 'k' });
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'pending', metadata: meta() });
        await backend.uploadPart({ bucket, key: 'pending', uploadId, partNumber: 1, body: bodyOf('part'), size: 4 });
        await backend.deleteBucket(bucket);
        await expectS3Error(backend.listMultipartUploads({ bucket, maxUploads: 10 }), 'NoSuchBucket');
      });

      it('fails every operation on a missing bucket with NoSuchBucket', async () => {
        const bucket = `contract-missing-${randomBytes(8).toString('hex')}`;
        const existing = await newBucket();
        await put(existing, 'src', 'data');
        await expectS3Error(put(bucket, 'k', 'v'), 'NoSuchBucket');
        await expectS3Error(backend.getObject({ bucket, key: 'k' }), 'NoSuchBucket');
        await expectS3Error(backend.headObject({ bucket, key: 'k' }), 'NoSuchBucket');
        await expectS3Error(backend.deleteObject({ bucket, key: 'k' }), 'NoSuchBucket');
        await expectS3Error(backend.deleteObjects({ bucket, objects: ['k'].map((key) => ({ key })) }), 'NoSuchBucket');
        await expectS3Error(backend.listObjects({ bucket, maxKeys: 10 }), 'NoSuchBucket');
        await expectS3Error(backend.getObjectTagging({ bucket, key: 'k' }), 'NoSuchBucket');
        await expectS3Error(backend.putObjectTagging({ bucket, key: 'k', tags: { a: 'b' } }), 'NoSuchBucket');
        await expectS3Error(backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() }), 'NoSuchBucket');
        await expectS3Error(backend.listMultipartUploads({ bucket, maxUploads: 10 }), 'NoSuchBucket');
        await expectS3Error(backend.copyObject({ sourceBucket: existing, sourceKey: 'src', bucket, key: 'k', metadataDirective: 'COPY' }), 'NoSuchBucket');
        await expectS3Error(backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket: existing, key: 'k', metadataDirective: 'COPY' }), 'NoSuchBucket');
        await expectS3Error(backend.headObject({ bucket: existing, key: 'k' }), 'NoSuchKey');
      });
    });

    // ------------------------------------------------------------------ objects

    describe('objects', () => {
      it('keeps keys with dot segments and doubled slashes distinct', async () => {
        const bucket = await newBucket();
        const keys = ['x/y', 'x/./y', 'x/../y', 'x//y', './y', '../y', 'x/.', 'x/..'];
        for (const key of keys) await put(bucket, key, `body of ${key}`);
        for (const key of keys) expect((await getBytes(bucket, key)).toString(), key).toBe(`body of ${key}`);
        const listed = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listed.contents.map((o) => o.key).sort(byteCompare)).toEqual([...keys].sort(byteCompare));
      });

      it('round-trips bytes, quoted MD5 ETag, metadata and content headers', async () => {
        const bucket = await newBucket();
        const data = randomBytes(300 * 1024 + 17);
        const metadata: ObjectMetadata = {
          contentType: 'application/x-test',
          cacheControl: 'max-age=60',
          contentDisposition: 'attachment; filename="a b.bin"',
          contentEncoding: 'identity',
          contentLanguage: 'de-CH',
          expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
          userMetadata: { color: 'blue', 'multi-word': 'x y z' },
        };
        const before = Date.now();
        const written = await backend.putObject({ bucket, key: 'dir/file.bin', body: bodyOf(data, 7001), size: data.length, metadata });
        expect(written.etag).toBe(`"${md5Hex(data)}"`);
        expect(written.size).toBe(data.length);
        expect(written.lastModified).toBeInstanceOf(Date);
        expect(Math.abs(written.lastModified.getTime() - before)).toBeLessThan(5 * 60_000);

        const got = await backend.getObject({ bucket, key: 'dir/file.bin' });
        expect((await readAll(got.body)).equals(data)).toBe(true);
        expect(got.range).toBeUndefined();
        expect(got.info).toMatchObject({ ...metadata, key: 'dir/file.bin', size: data.length, etag: `"${md5Hex(data)}"`, tagCount: 0 });

        const head = await backend.headObject({ bucket, key: 'dir/file.bin' });
        expect(head).toMatchObject({ ...metadata, key: 'dir/file.bin', size: data.length, etag: written.etag });
        expect(head.lastModified.getTime()).toBe(got.info.lastModified.getTime());
      });

      it('round-trips a small object without a size hint and a body of string chunks', async () => {
        const bucket = await newBucket();
        const written = await backend.putObject({
          bucket,
          key: 'small',
          body: Readable.from(['hello ', 'wörld']),
          metadata: meta({ contentType: 'text/plain; charset=utf-8' }),
        });
        expect(written.etag).toBe(`"${md5Hex('hello wörld')}"`);
        expect(written.size).toBe(Buffer.byteLength('hello wörld'));
        expect((await getBytes(bucket, 'small')).toString('utf8')).toBe('hello wörld');
      });

      it('overwrites an object: new bytes, ETag and metadata replace the old', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'first version', { metadata: meta({ contentType: 'text/a', userMetadata: { v: '1' } }) });
        const second = await put(bucket, 'k', 'second', { metadata: meta({ userMetadata: { other: '2' } }) });
        expect(second.etag).toBe(`"${md5Hex('second')}"`);
        const got = await backend.getObject({ bucket, key: 'k' });
        expect((await readAll(got.body)).toString()).toBe('second');
        expect(got.info.etag).toBe(second.etag);
        expect(got.info.size).toBe(6);
        expect(got.info.userMetadata).toEqual({ other: '2' });
        expect(got.info.contentType === undefined || got.info.contentType === 'binary/octet-stream').toBe(true);
        const listing = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listing.contents.map((o) => o.key)).toEqual(['k']);
      });

      it('stores an empty object', async () => {
        const bucket = await newBucket();
        const written = await backend.putObject({ bucket, key: 'empty', body: bodyOf(Buffer.alloc(0)), size: 0, metadata: meta() });
        expect(written.etag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
        expect(written.size).toBe(0);
        const got = await backend.getObject({ bucket, key: 'empty' });
        expect(got.info.size).toBe(0);
        expect((await readAll(got.body)).length).toBe(0);
        await expectS3Error(backend.getObject({ bucket, key: 'empty', range: { kind: 'from', start: 0 } }), 'InvalidRange');
        await expectS3Error(backend.getObject({ bucket, key: 'empty', range: { kind: 'suffix', length: 5 } }), 'InvalidRange');
      });

      it('serves byte ranges with the full size in info', async () => {
        const bucket = await newBucket();
        const small = randomBytes(1000);
        await put(bucket, 'small', small);
        const cases: [ByteRangeSpec, number, number][] = [
          [{ kind: 'from', start: 10, end: 19 }, 10, 19],
          [{ kind: 'from', start: 0, end: 0 }, 0, 0],
          [{ kind: 'from', start: 990 }, 990, 999],
          [{ kind: 'from', start: 900, end: 5000 }, 900, 999],
          [{ kind: 'suffix', length: 50 }, 950, 999],
          [{ kind: 'suffix', length: 5000 }, 0, 999],
        ];
        for (const [spec, start, end] of cases) {
          const got = await backend.getObject({ bucket, key: 'small', range: spec });
          expect(got.range, JSON.stringify(spec)).toEqual({ start, end });
          expect(got.info.size).toBe(1000);
          expect((await readAll(got.body)).equals(small.subarray(start, end + 1)), JSON.stringify(spec)).toBe(true);
        }
        const invalid = await expectS3Error(backend.getObject({ bucket, key: 'small', range: { kind: 'from', start: 1000 } }), 'InvalidRange');
        expect(invalid.status).toBe(416);
        await expectS3Error(backend.getObject({ bucket, key: 'small', range: { kind: 'from', start: 5000, end: 6000 } }), 'InvalidRange');

        // A larger object, ranges that cross internal chunk boundaries.
        const large = randomBytes(3 * MiB + 123);
        await put(bucket, 'large', large);
        for (const [start, end] of [
          [0, 3 * MiB + 122],
          [262_100, 262_200],
          [1, 2 * MiB + 5],
          [3 * MiB, 3 * MiB + 122],
        ]) {
          const bytes = await getBytes(bucket, 'large', { kind: 'from', start, end });
          expect(bytes.equals(large.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
        }
        expect((await getBytes(bucket, 'large', { kind: 'suffix', length: 100_000 })).equals(large.subarray(large.length - 100_000))).toBe(true);
      });

      it('evaluates conditional GET and HEAD', async () => {
        const bucket = await newBucket();
        const written = await put(bucket, 'k', 'conditional');
        const { lastModified, etag } = await backend.headObject({ bucket, key: 'k' });
        expect(etag).toBe(written.etag);
        const hourBefore = new Date(lastModified.getTime() - 3600_000);
        const hourAfter = new Date(lastModified.getTime() + 3600_000);
        const ok = async (conditions: object) => {
          const got = await backend.getObject({ bucket, key: 'k', conditions });
          expect((await readAll(got.body)).toString()).toBe('conditional');
          await backend.headObject({ bucket, key: 'k', conditions });
        };
        const fails = async (conditions: object, code: S3ErrorCode) => {
          await expectS3Error(backend.getObject({ bucket, key: 'k', conditions }), code);
          await expectS3Error(backend.headObject({ bucket, key: 'k', conditions }), code);
        };
        await ok({ ifMatch: etag });
        await ok({ ifMatch: etag.replace(/"/g, '') });
        await ok({ ifMatch: '*' });
        await fails({ ifMatch: '"00000000000000000000000000000000"' }, 'PreconditionFailed');
        await fails({ ifNoneMatch: etag }, 'NotModified');
        await ok({ ifNoneMatch: '"00000000000000000000000000000000"' });
        await fails({ ifModifiedSince: hourAfter }, 'NotModified');
        await ok({ ifModifiedSince: hourBefore });
        await fails({ ifUnmodifiedSince: hourBefore }, 'PreconditionFailed');
        await ok({ ifUnmodifiedSince: hourAfter });
        // If-Match wins over If-Unmodified-Since; If-None-Match over If-Modified-Since.
        await ok({ ifMatch: etag, ifUnmodifiedSince: hourBefore });
        await fails({ ifNoneMatch: etag, ifModifiedSince: hourBefore }, 'NotModified');
      });

      it('rejects a Content-MD5 mismatch with BadDigest and keeps the previous version', async () => {
        const bucket = await newBucket();
        const original = await put(bucket, 'k', 'original');
        const error = await expectS3Error(
          backend.putObject({ bucket, key: 'k', body: bodyOf('replacement'), size: 11, metadata: meta(), contentMd5: md5Base64('something else') }),
          'BadDigest',
        );
        expect(error.status).toBe(400);
        const got = await backend.getObject({ bucket, key: 'k' });
        expect((await readAll(got.body)).toString()).toBe('original');
        expect(got.info.etag).toBe(original.etag);
        await expectS3Error(backend.putObject({ bucket, key: 'new', body: bodyOf('data'), size: 4, metadata: meta(), contentMd5: md5Base64('datx') }), 'BadDigest');
        await expectS3Error(backend.headObject({ bucket, key: 'new' }), 'NoSuchKey');
        // A matching Content-MD5 is accepted.
        const good = await backend.putObject({ bucket, key: 'k', body: bodyOf('replacement'), size: 11, metadata: meta(), contentMd5: md5Base64('replacement') });
        expect(good.etag).toBe(`"${md5Hex('replacement')}"`);
      });

      it('stores nothing when the body stream fails mid-way', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'intact');
        await expect(backend.putObject({ bucket, key: 'k', body: failingBody(randomBytes(100_000)), size: 200_000, metadata: meta() })).rejects.toThrow();
        expect((await getBytes(bucket, 'k')).toString()).toBe('intact');
        await expect(backend.putObject({ bucket, key: 'fresh', body: failingBody(randomBytes(1000)), metadata: meta() })).rejects.toThrow();
        await expectS3Error(backend.headObject({ bucket, key: 'fresh' }), 'NoSuchKey');
        const listing = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listing.contents.map((o) => o.key)).toEqual(['k']);
      });

      it('rejects a body whose length differs from size with IncompleteBody', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'intact');
        await expectS3Error(backend.putObject({ bucket, key: 'k', body: bodyOf('short'), size: 10, metadata: meta() }), 'IncompleteBody');
        await expectS3Error(backend.putObject({ bucket, key: 'k', body: bodyOf('much too long'), size: 4, metadata: meta() }), 'IncompleteBody');
        await expectS3Error(backend.putObject({ bucket, key: 'other', body: bodyOf('short'), size: 10, metadata: meta() }), 'IncompleteBody');
        expect((await getBytes(bucket, 'k')).toString()).toBe('intact');
        await expectS3Error(backend.headObject({ bucket, key: 'other' }), 'NoSuchKey');
      });

      it('stores and returns a full-object checksum', async () => {
        const bucket = await newBucket();
        const data = Buffer.from('checksummed content');
        const checksum = { algorithm: 'CRC32' as const, value: checksumOf('CRC32', data).toString('base64'), type: 'FULL_OBJECT' as const };
        const written = await backend.putObject({ bucket, key: 'c', body: bodyOf(data), size: data.length, metadata: meta(), checksum: knownChecksum('CRC32', checksum.value) });
        expect(written.checksum).toEqual(checksum);
        expect((await backend.headObject({ bucket, key: 'c' })).checksum).toEqual(checksum);
      });

      it('keeps the last of concurrent writes to one key complete', async () => {
        const bucket = await newBucket();
        const versions = Array.from({ length: 6 }, () => randomBytes(200_000));
        await Promise.all(versions.map((data) => put(bucket, 'race', data)));
        const got = await backend.getObject({ bucket, key: 'race' });
        const bytes = await readAll(got.body);
        const match = versions.find((v) => v.equals(bytes));
        expect(match).toBeDefined();
        expect(got.info.etag).toBe(`"${md5Hex(match!)}"`);
      });

      it('deletes objects; deleting a missing key succeeds', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'v');
        await backend.deleteObject({ bucket, key: 'k' });
        await expectS3Error(backend.getObject({ bucket, key: 'k' }), 'NoSuchKey');
        await expectS3Error(backend.headObject({ bucket, key: 'k' }), 'NoSuchKey');
        await backend.deleteObject({ bucket, key: 'k' });
        await backend.deleteObject({ bucket, key: 'never-existed' });
      });

      it('deleteObjects reports every requested key as deleted', async () => {
        const bucket = await newBucket();
        for (const key of ['a', 'b', 'c', 'd/e']) await put(bucket, key, key);
        const out = await backend.deleteObjects({ bucket, objects: ['a', 'd/e', 'missing'].map((key) => ({ key })) });
        expect(out.deleted.map((entry) => entry.key).sort()).toEqual(['a', 'd/e', 'missing']);
        expect(out.errors).toEqual([]);
        const listing = await backend.listObjects({ bucket, maxKeys: 1000 });
        expect(listing.contents.map((o) => o.key)).toEqual(['b', 'c']);
      });
    });

    // ------------------------------------------------------------------ copy

    describe('copy', () => {
      it('copies with metadata directive COPY: bytes, metadata and tags are kept', async () => {
        const bucket = await newBucket();
        const other = await newBucket();
        const data = randomBytes(100_000);
        const metadata = meta({ contentType: 'image/png', userMetadata: { origin: 'src' } });
        const source = await put(bucket, 'src', data, { metadata, tags: { team: 'a' } });
        const copied = await backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket: other, key: 'dst', metadataDirective: 'COPY' });
        expect(copied.etag).toBe(source.etag);
        expect(copied.size).toBe(data.length);
        const got = await backend.getObject({ bucket: other, key: 'dst' });
        expect((await readAll(got.body)).equals(data)).toBe(true);
        expect(got.info).toMatchObject({ contentType: 'image/png', userMetadata: { origin: 'src' }, etag: source.etag, tagCount: 1 });
        expect(await backend.getObjectTagging({ bucket: other, key: 'dst' })).toEqual({ team: 'a' });
        // The copy is independent of its source.
        await backend.deleteObject({ bucket, key: 'src' });
        expect((await getBytes(other, 'dst')).equals(data)).toBe(true);
      });

      it('copies with REPLACE: new metadata, tags kept unless given', async () => {
        const bucket = await newBucket();
        await put(bucket, 'src', 'payload', { metadata: meta({ contentType: 'text/a', userMetadata: { old: '1' } }), tags: { t: '1' } });
        await backend.copyObject({
          sourceBucket: bucket,
          sourceKey: 'src',
          bucket,
          key: 'replaced',
          metadataDirective: 'REPLACE',
          metadata: meta({ contentType: 'text/b', userMetadata: { new: '2' } }),
        });
        const replaced = await backend.headObject({ bucket, key: 'replaced' });
        expect(replaced.contentType).toBe('text/b');
        expect(replaced.userMetadata).toEqual({ new: '2' });
        expect(await backend.getObjectTagging({ bucket, key: 'replaced' })).toEqual({ t: '1' });

        await backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket, key: 'retagged', metadataDirective: 'COPY', tags: { x: 'y', z: '' } });
        expect(await backend.getObjectTagging({ bucket, key: 'retagged' })).toEqual({ x: 'y', z: '' });
        expect((await backend.headObject({ bucket, key: 'retagged' })).userMetadata).toEqual({ old: '1' });

        // Replacing an object's own metadata in place (the S3-valid self copy).
        await backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket, key: 'src', metadataDirective: 'REPLACE', metadata: meta({ userMetadata: { self: 'yes' } }) });
        const self = await backend.getObject({ bucket, key: 'src' });
        expect((await readAll(self.body)).toString()).toBe('payload');
        expect(self.info.userMetadata).toEqual({ self: 'yes' });
      });

      it('copies from and to keys with reserved and non-ASCII characters', async () => {
        const bucket = await newBucket();
        const source = "src dir/a+b%20c!*'()&=ü.txt";
        await put(bucket, source, 'awkward');
        await backend.copyObject({ sourceBucket: bucket, sourceKey: source, bucket, key: 'dst/ü ?#.txt', metadataDirective: 'COPY' });
        expect((await getBytes(bucket, 'dst/ü ?#.txt')).toString()).toBe('awkward');
      });

      it('fails a copy from a missing key or with failed source conditions', async () => {
        const bucket = await newBucket();
        const source = await put(bucket, 'src', 'payload');
        await expectS3Error(backend.copyObject({ sourceBucket: bucket, sourceKey: 'nope', bucket, key: 'dst', metadataDirective: 'COPY' }), 'NoSuchKey');
        const copy = (sourceConditions: object) => backend.copyObject({ sourceBucket: bucket, sourceKey: 'src', bucket, key: 'dst', metadataDirective: 'COPY', sourceConditions });
        await expectS3Error(copy({ ifMatch: '"00000000000000000000000000000000"' }), 'PreconditionFailed');
        await expectS3Error(copy({ ifNoneMatch: source.etag }), 'PreconditionFailed');
        await expectS3Error(copy({ ifModifiedSince: new Date(Date.now() + 3600_000) }), 'PreconditionFailed');
        await expectS3Error(backend.headObject({ bucket, key: 'dst' }), 'NoSuchKey');
        const ok = await copy({ ifMatch: source.etag });
        expect(ok.etag).toBe(source.etag);
      });
    });

    // ------------------------------------------------------------------ tagging

    describe('cancellation (AbortSignal)', () => {
      const isAbortError = (error: unknown) => (error as { name?: unknown } | undefined)?.name === 'AbortError';

      /** Delivers `prefix`, tells the test, then waits (a client that stopped sending): the test aborts. */
      function stallingBody(prefix: Buffer, onSent: () => void): Readable {
        let sent = false;
        return new Readable({
          read() {
            if (sent) return;
            sent = true;
            this.push(prefix);
            setImmediate(onSent);
          },
        });
      }

      it('an already-aborted signal makes a put store nothing and reject with an AbortError', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'old version');
        const signal = AbortSignal.abort();
        const overwrite = backend.putObject({ bucket, key: 'k', body: bodyOf('new version'), size: 11, metadata: meta(), signal });
        await expect(overwrite).rejects.toSatisfy(isAbortError);
        const fresh = backend.putObject({ bucket, key: 'fresh', body: bodyOf('never stored'), size: 12, metadata: meta(), signal });
        await expect(fresh).rejects.toSatisfy(isAbortError);
        expect((await getBytes(bucket, 'k')).toString()).toBe('old version');
        await expectS3Error(backend.headObject({ bucket, key: 'fresh' }), 'NoSuchKey');
      });

      it('aborting mid-body stores nothing and the old version stays', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'old version');
        const controller = new AbortController();
        const body = stallingBody(randomBytes(100_000), () => controller.abort());
        const write = backend.putObject({ bucket, key: 'k', body, size: 300_000, metadata: meta(), signal: controller.signal });
        await expect(write).rejects.toSatisfy(isAbortError);
        expect((await getBytes(bucket, 'k')).toString()).toBe('old version');
        const listed = await backend.listObjects({ bucket, maxKeys: 10 });
        expect(listed.contents.map((entry) => [entry.key, entry.size])).toEqual([['k', 11]]);
      });

      it('aborting mid-body stores no part either', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const controller = new AbortController();
        const body = stallingBody(randomBytes(100_000), () => controller.abort());
        const write = backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body, size: 300_000, signal: controller.signal });
        await expect(write).rejects.toSatisfy(isAbortError);
        expect((await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 10 })).parts).toEqual([]);
        await backend.abortMultipartUpload({ bucket, key: 'k', uploadId });
      });

      it('aborting a GET mid-stream destroys the body stream', async () => {
        const bucket = await newBucket();
        await put(bucket, 'big', randomBytes(2 * MiB));
        const controller = new AbortController();
        const got = await backend.getObject({ bucket, key: 'big', signal: controller.signal });
        const body = got.body;
        const first = await new Promise<Buffer>((resolve, reject) => {
          body.once('error', reject);
          body.once('data', (chunk: Buffer) => {
            body.pause();
            resolve(chunk);
          });
        });
        expect(first.length).toBeGreaterThan(0);
        body.removeAllListeners('error');
        const ended = new Promise<unknown>((resolve) => {
          body.once('error', resolve);
          body.once('close', () => resolve(undefined));
        });
        controller.abort();
        const error = await ended;
        expect(body.destroyed).toBe(true);
        expect(body.readableEnded).toBe(false);
        expect(isAbortError(error)).toBe(true);
      });

      it('leaves versionId undefined until versioning exists', async () => {
        const bucket = await newBucket();
        const written = await put(bucket, 'k', 'v');
        expect(written.versionId).toBeUndefined();
        expect((await backend.headObject({ bucket, key: 'k' })).versionId).toBeUndefined();
        expect((await backend.listObjects({ bucket, maxKeys: 1 })).contents[0]!.versionId).toBeUndefined();
      });
    });

    describe('tagging', () => {
      it('stores, replaces and deletes tags; tagCount follows', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'v', { tags: { a: '1', b: '2' } });
        expect(await backend.getObjectTagging({ bucket, key: 'k' })).toEqual({ a: '1', b: '2' });
        expect((await backend.headObject({ bucket, key: 'k' })).tagCount).toBe(2);
        await backend.putObjectTagging({ bucket, key: 'k', tags: { c: 'three' } });
        expect(await backend.getObjectTagging({ bucket, key: 'k' })).toEqual({ c: 'three' });
        expect((await backend.headObject({ bucket, key: 'k' })).tagCount).toBe(1);
        await backend.deleteObjectTagging({ bucket, key: 'k' });
        expect(await backend.getObjectTagging({ bucket, key: 'k' })).toEqual({});
        expect((await backend.headObject({ bucket, key: 'k' })).tagCount).toBe(0);
        expect((await getBytes(bucket, 'k')).toString()).toBe('v');
      });

      it('fails tagging calls on a missing key with NoSuchKey', async () => {
        const bucket = await newBucket();
        await expectS3Error(backend.getObjectTagging({ bucket, key: 'missing' }), 'NoSuchKey');
        await expectS3Error(backend.putObjectTagging({ bucket, key: 'missing', tags: { a: 'b' } }), 'NoSuchKey');
        await expectS3Error(backend.deleteObjectTagging({ bucket, key: 'missing' }), 'NoSuchKey');
      });
    });

    // ------------------------------------------------------------------ listing

    describe('listing', () => {
      const KEYS = [
        'a',
        'a/',
        'a//x',
        'a/b',
        'a/b/c',
        'a/c',
        'a-b',
        'a.b',
        'a0',
        'b/x y',
        'b/x+y',
        'b/x%2By',
        'b/ü',
        'b/日本/語',
        'c',
        'é/x',
        '😀/1',
        '\uE000',
        'z z/ ',
        'photos/2024/jan/1.jpg',
        'photos/2024/feb/2.jpg',
        'photos/2025/x.jpg',
        'photos/readme',
      ];

      async function bucketWith(keys: string[]) {
        const bucket = await newBucket();
        for (const key of keys) await put(bucket, key, key);
        return bucket;
      }

      async function walk(bucket: string, prefix: string | undefined, delimiter: string | undefined, maxKeys: number, startAfter?: string) {
        const contents: string[] = [];
        const commonPrefixes: string[] = [];
        let marker = startAfter;
        for (let page = 0; ; page++) {
          expect(page, 'too many pages').toBeLessThan(100);
          const out = await backend.listObjects({ bucket, prefix, delimiter, maxKeys, startAfter: marker });
          const entries = out.contents.length + out.commonPrefixes.length;
          expect(entries).toBeLessThanOrEqual(maxKeys);
          contents.push(...out.contents.map((o) => o.key));
          commonPrefixes.push(...out.commonPrefixes);
          if (!out.isTruncated) break;
          expect(entries).toBe(maxKeys);
          const last = [...out.contents.map((o) => o.key), ...out.commonPrefixes].sort(byteCompare).pop();
          expect(out.nextMarker).toBe(last);
          marker = out.nextMarker;
        }
        return { contents, commonPrefixes };
      }

      it('lists keys around the delimiter in UTF-8 byte order, paging exactly', async () => {
        const bucket = await bucketWith(['a-b', 'a.b', 'a/b', 'a/c/d', 'a0', 'b']);
        const all = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 1000 });
        expect(all.contents.map((o) => o.key)).toEqual(['a-b', 'a.b', 'a0', 'b']);
        expect(all.commonPrefixes).toEqual(['a/']);
        expect(all.isTruncated).toBe(false);

        const page1 = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 2 });
        expect(page1.contents.map((o) => o.key)).toEqual(['a-b', 'a.b']);
        expect(page1.commonPrefixes).toEqual([]);
        expect(page1).toMatchObject({ isTruncated: true, nextMarker: 'a.b' });
        const page2 = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 2, startAfter: page1.nextMarker });
        expect(page2.commonPrefixes).toEqual(['a/']);
        expect(page2.contents.map((o) => o.key)).toEqual(['a0']);
        expect(page2).toMatchObject({ isTruncated: true, nextMarker: 'a0' });
        const page3 = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 2, startAfter: page2.nextMarker });
        expect(page3.contents.map((o) => o.key)).toEqual(['b']);
        expect(page3.isTruncated).toBe(false);

        // Exactly maxKeys entries left: not truncated.
        const exact = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 5 });
        expect(exact.isTruncated).toBe(false);
        expect(exact.contents.length + exact.commonPrefixes.length).toBe(5);

        // A page ending on a common prefix resumes after it.
        const cpPage = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 3 });
        expect(cpPage.commonPrefixes).toEqual(['a/']);
        expect(cpPage.nextMarker).toBe('a/');
        const afterCp = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 3, startAfter: 'a/' });
        expect(afterCp.contents.map((o) => o.key)).toEqual(['a0', 'b']);
        expect(afterCp.commonPrefixes).toEqual([]);

        // startAfter inside a common prefix does not repeat that prefix.
        const inside = await backend.listObjects({ bucket, delimiter: '/', maxKeys: 1000, startAfter: 'a/b' });
        expect(inside.commonPrefixes).toEqual([]);
        expect(inside.contents.map((o) => o.key)).toEqual(['a0', 'b']);
        const insideNoDelimiter = await backend.listObjects({ bucket, maxKeys: 1000, startAfter: 'a/b' });
        expect(insideNoDelimiter.contents.map((o) => o.key)).toEqual(['a/c/d', 'a0', 'b']);

        const zero = await backend.listObjects({ bucket, maxKeys: 0 });
        expect(zero.contents).toEqual([]);
        expect(zero.commonPrefixes).toEqual([]);
        expect(zero.isTruncated).toBe(false);
      });

      it('orders by UTF-8 bytes, not UTF-16 code units', async () => {
        const bucket = await bucketWith(['😀', '\uE000', 'z', 'é', 'Z', '~']);
        const out = await backend.listObjects({ bucket, maxKeys: 1000 });
        // U+E000 is EE 80 80 and sorts before 😀 (F0 9F 98 80), unlike JavaScript's default sort.
        expect(out.contents.map((o) => o.key)).toEqual(['Z', 'z', '~', 'é', '\uE000', '😀']);
        expect(out.contents.every((o) => o.etag === `"${md5Hex(o.key)}"` && o.size === Buffer.byteLength(o.key))).toBe(true);
        expect(out.contents.every((o) => o.lastModified instanceof Date && !Number.isNaN(o.lastModified.getTime()))).toBe(true);
      });

      it('walks every page of every prefix/delimiter combination exactly once', async () => {
        const bucket = await bucketWith(KEYS);
        for (const prefix of [undefined, 'a', 'a/', 'b/', 'photos/', 'photos/2024/', 'é', 'nope']) {
          for (const delimiter of [undefined, '/', '-', '/2']) {
            const expected = expectedListing(KEYS, prefix ?? '', delimiter);
            for (const maxKeys of [1, 2, 3, 1000]) {
              const got = await walk(bucket, prefix, delimiter, maxKeys);
              const label = `prefix=${prefix} delimiter=${delimiter} maxKeys=${maxKeys}`;
              expect(got.contents, label).toEqual(expected.contents);
              expect(got.commonPrefixes, label).toEqual(expected.commonPrefixes);
            }
          }
        }
      });

      it('honours startAfter for keys and common prefixes', async () => {
        const bucket = await bucketWith(KEYS);
        for (const startAfter of ['a', 'a/', 'a/b', 'a.b', 'b/x+y', 'photos/2024/jan/1.jpg', 'zzz', '']) {
          for (const delimiter of [undefined, '/']) {
            for (const prefix of [undefined, 'photos/', 'b/']) {
              const expected = expectedListing(KEYS, prefix ?? '', delimiter, startAfter === '' ? undefined : startAfter);
              const got = await walk(bucket, prefix, delimiter, 2, startAfter);
              const label = `startAfter=${startAfter} prefix=${prefix} delimiter=${delimiter}`;
              expect(got.contents, label).toEqual(expected.contents);
              expect(got.commonPrefixes, label).toEqual(expected.commonPrefixes);
            }
          }
        }
      });

      it('lists with multi-byte and multi-character delimiters and prefixes at the top of the UTF-8 range', async () => {
        // U+10FFFD is F4 8F BF BD, near the top of the byte range a key can use: skipping past a common
        // prefix ending in it must increment the right byte; `a:::f` overlaps its `::` delimiter.
        const top = '\u{10FFFD}';
        const keys = [top, `${top}/a`, `${top}${top}x`, `a${top}b`, `a${top}c${top}d`, 'a::b::c', 'a::d', 'a:e', 'a:::f', 'ü→1', 'ü→2→3', '→'];
        const bucket = await bucketWith(keys);
        for (const prefix of [undefined, top, 'a', 'a::', 'ü', `a${top}`]) {
          for (const delimiter of [top, '::', '→', '/']) {
            const expected = expectedListing(keys, prefix ?? '', delimiter);
            for (const maxKeys of [1, 2, 1000]) {
              const got = await walk(bucket, prefix, delimiter, maxKeys);
              const label = `prefix=${prefix} delimiter=${delimiter} maxKeys=${maxKeys}`;
              expect(got.contents, label).toEqual(expected.contents);
              expect(got.commonPrefixes, label).toEqual(expected.commonPrefixes);
            }
          }
        }
        for (const startAfter of [top, 'a::', `a${top}c`, 'a:']) {
          for (const delimiter of [top, '::']) {
            const expected = expectedListing(keys, '', delimiter, startAfter);
            const got = await walk(bucket, undefined, delimiter, 2, startAfter);
            const label = `startAfter=${startAfter} delimiter=${delimiter}`;
            expect(got.contents, label).toEqual(expected.contents);
            expect(got.commonPrefixes, label).toEqual(expected.commonPrefixes);
          }
        }
      });
    });

    // ------------------------------------------------------------------ multipart

    describe('multipart', () => {
      it('completes a 3-part upload: bytes, ETag, ranges across part boundaries', async () => {
        const bucket = await newBucket();
        const parts = [randomBytes(PART), randomBytes(PART), randomBytes(1234)];
        const whole = Buffer.concat(parts);
        const metadata = meta({ contentType: 'video/mp4', userMetadata: { kind: 'multi' } });
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'big/file', metadata, tags: { mp: 'yes' } });
        expect(uploadId).toMatch(/^[A-Za-z0-9._~-]+$/);

        const etags: string[] = [];
        for (const [i, data] of parts.entries()) {
          const out = await backend.uploadPart({ bucket, key: 'big/file', uploadId, partNumber: i + 1, body: bodyOf(data, 100_003), size: data.length });
          expect(out.etag).toBe(`"${md5Hex(data)}"`);
          expect(out.size).toBe(data.length);
          etags.push(out.etag);
        }
        const listed = await backend.listParts({ bucket, key: 'big/file', uploadId, maxParts: 1000 });
        expect(listed.parts.map((p) => [p.partNumber, p.etag, p.size])).toEqual(parts.map((d, i) => [i + 1, etags[i], d.length]));
        expect(listed.isTruncated).toBe(false);
        expect(listed.initiated).toBeInstanceOf(Date);

        const uploads = await backend.listMultipartUploads({ bucket, maxUploads: 1000 });
        expect(uploads.uploads.map((u) => [u.key, u.uploadId])).toEqual([['big/file', uploadId]]);

        const result = await backend.completeMultipartUpload({
          bucket,
          key: 'big/file',
          uploadId,
          // Unquoted ETags are accepted too.
          parts: etags.map((etag, i) => ({ partNumber: i + 1, etag: i === 1 ? etag.replace(/"/g, '') : etag })),
        });
        const expectedEtag = `"${createHash('md5')
          .update(Buffer.concat(parts.map((d) => createHash('md5').update(d).digest())))
          .digest('hex')}-3"`;
        expect(result.etag).toBe(expectedEtag);
        expect(result.etag).toMatch(/^"[0-9a-f]{32}-3"$/);
        expect(result.size).toBe(whole.length);

        const got = await backend.getObject({ bucket, key: 'big/file' });
        expect(got.info).toMatchObject({ size: whole.length, etag: expectedEtag, contentType: 'video/mp4', userMetadata: { kind: 'multi' }, tagCount: 1 });
        const bytes = await readAll(got.body);
        expect(bytes.length).toBe(whole.length);
        expect(md5Hex(bytes)).toBe(md5Hex(whole));
        expect(await backend.getObjectTagging({ bucket, key: 'big/file' })).toEqual({ mp: 'yes' });

        for (const [start, end] of [
          [PART - 10, PART + 10],
          [PART - 1, PART],
          [PART - 5, 2 * PART + 5],
          [2 * PART, 2 * PART + 1233],
          [0, 2 * PART + 1233],
          [123, 124],
        ]) {
          const out = await backend.getObject({ bucket, key: 'big/file', range: { kind: 'from', start, end } });
          expect(out.range).toEqual({ start, end });
          expect((await readAll(out.body)).equals(whole.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
        }
        const tail = await getBytes(bucket, 'big/file', { kind: 'suffix', length: 2000 });
        expect(tail.equals(whole.subarray(whole.length - 2000))).toBe(true);

        expect((await backend.listMultipartUploads({ bucket, maxUploads: 1000 })).uploads).toEqual([]);
        await expectS3Error(backend.listParts({ bucket, key: 'big/file', uploadId, maxParts: 10 }), 'NoSuchUpload');

        // A copy of a multipart object reads back identically.
        await backend.copyObject({ sourceBucket: bucket, sourceKey: 'big/file', bucket, key: 'big/copy', metadataDirective: 'COPY' });
        const copyBytes = await getBytes(bucket, 'big/copy', { kind: 'from', start: PART - 100, end: PART + 99 });
        expect(copyBytes.equals(whole.subarray(PART - 100, PART + 100))).toBe(true);
        expect(md5Hex(await getBytes(bucket, 'big/copy'))).toBe(md5Hex(whole));
      });

      it('replaces a re-uploaded part and drops parts left out of the completion', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const first = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('old part'), size: 8 });
        const second = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('new part!'), size: 9 });
        const leaveOut = !limitations.cannotLeaveOutUploadedParts;
        if (leaveOut) await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 2, body: bodyOf('unused'), size: 6 });
        const listed = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 1000 });
        expect(listed.parts.map((p) => [p.partNumber, p.etag, p.size])).toEqual([[1, second.etag, 9], ...(leaveOut ? [[2, `"${md5Hex('unused')}"`, 6]] : [])]);
        await expectS3Error(backend.completeMultipartUpload({ bucket, key: 'k', uploadId, parts: [{ partNumber: 1, etag: first.etag }] }), 'InvalidPart');
        const done = await backend.completeMultipartUpload({ bucket, key: 'k', uploadId, parts: [{ partNumber: 1, etag: second.etag }] });
        expect(done.size).toBe(9);
        expect(done.etag).toMatch(/-1"$/);
        expect((await getBytes(bucket, 'k')).toString()).toBe('new part!');
      });

      it('validates the completion: InvalidPart, InvalidPartOrder, EntityTooSmall, NoSuchUpload', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const p1 = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('one'), size: 3 });
        const p2 = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 2, body: bodyOf('two'), size: 3 });
        const complete = (parts: { partNumber: number; etag: string }[], id = uploadId, key = 'k') => backend.completeMultipartUpload({ bucket, key, uploadId: id, parts });

        await expectS3Error(
          complete([
            { partNumber: 1, etag: p1.etag },
            { partNumber: 3, etag: p2.etag },
          ]),
          'InvalidPart',
        );
        await expectS3Error(complete([{ partNumber: 1, etag: p2.etag }]), 'InvalidPart');
        await expectS3Error(
          complete([
            { partNumber: 2, etag: p2.etag },
            { partNumber: 1, etag: p1.etag },
          ]),
          'InvalidPartOrder',
        );
        await expectS3Error(
          complete([
            { partNumber: 1, etag: p1.etag },
            { partNumber: 2, etag: p2.etag },
          ]),
          'EntityTooSmall',
        );
        await expectS3Error(complete([{ partNumber: 1, etag: p1.etag }], 'no-such-upload-id'), 'NoSuchUpload');
        await expectS3Error(complete([{ partNumber: 1, etag: p1.etag }], uploadId, 'other-key'), 'NoSuchUpload');
        await expectS3Error(backend.uploadPart({ bucket, key: 'k', uploadId: 'no-such-upload-id', partNumber: 1, body: bodyOf('x'), size: 1 }), 'NoSuchUpload');
        await expectS3Error(backend.uploadPart({ bucket, key: 'other-key', uploadId, partNumber: 1, body: bodyOf('x'), size: 1 }), 'NoSuchUpload');
        await expectS3Error(backend.listParts({ bucket, key: 'k', uploadId: 'no-such-upload-id', maxParts: 10 }), 'NoSuchUpload');
        await expectS3Error(backend.abortMultipartUpload({ bucket, key: 'k', uploadId: 'no-such-upload-id' }), 'NoSuchUpload');

        // Failed completions change nothing: the upload and its parts are still there.
        await expectS3Error(backend.headObject({ bucket, key: 'k' }), 'NoSuchKey');
        const listed = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 10 });
        expect(listed.parts.map((p) => p.etag)).toEqual([p1.etag, p2.etag]);

        await backend.abortMultipartUpload({ bucket, key: 'k', uploadId });
        await expectS3Error(backend.listParts({ bucket, key: 'k', uploadId, maxParts: 10 }), 'NoSuchUpload');
        await expectS3Error(complete([{ partNumber: 1, etag: p1.etag }]), 'NoSuchUpload');
        expect((await backend.listMultipartUploads({ bucket, maxUploads: 100 })).uploads).toEqual([]);
        await expectS3Error(backend.headObject({ bucket, key: 'k' }), 'NoSuchKey');
      });

      it('rejects a part with a bad Content-MD5 or short body and keeps the previous part', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const good = await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('good'), size: 4, contentMd5: md5Base64('good') });
        await expectS3Error(backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('evil'), size: 4, contentMd5: md5Base64('good') }), 'BadDigest');
        await expectS3Error(backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 1, body: bodyOf('ev'), size: 4 }), 'IncompleteBody');
        await expect(backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: 2, body: failingBody(Buffer.from('partial')), size: 100 })).rejects.toThrow();
        const listed = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 10 });
        expect(listed.parts.map((p) => [p.partNumber, p.etag])).toEqual([[1, good.etag]]);
      });

      it('paginates listParts', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta() });
        const etags: string[] = [];
        for (const n of [1, 2, 3, 5, 8]) {
          etags.push((await backend.uploadPart({ bucket, key: 'k', uploadId, partNumber: n, body: bodyOf(`part-${n}`), size: 6 })).etag);
        }
        const page1 = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 2 });
        expect(page1.parts.map((p) => p.partNumber)).toEqual([1, 2]);
        expect(page1).toMatchObject({ isTruncated: true, nextPartNumberMarker: 2 });
        const page2 = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 2, partNumberMarker: page1.nextPartNumberMarker });
        expect(page2.parts.map((p) => p.partNumber)).toEqual([3, 5]);
        expect(page2).toMatchObject({ isTruncated: true, nextPartNumberMarker: 5 });
        const page3 = await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 2, partNumberMarker: page2.nextPartNumberMarker });
        expect(page3.parts.map((p) => [p.partNumber, p.etag, p.size])).toEqual([[8, etags[4], 6]]);
        expect(page3.isTruncated).toBe(false);
        expect(page3.parts[0].lastModified).toBeInstanceOf(Date);
      });

      it('lists multipart uploads with prefix, delimiter and markers', async () => {
        const bucket = await newBucket();
        const keys = ['mp/a', 'mp/b/1', 'mp/b/2', 'mp/c', 'mp/c', 'other'];
        const ids: [string, string][] = [];
        for (const key of keys) ids.push([key, (await backend.createMultipartUpload({ bucket, key, metadata: meta() })).uploadId]);

        const all = await backend.listMultipartUploads({ bucket, maxUploads: 1000 });
        expect(all.isTruncated).toBe(false);
        expect(all.uploads.map((u) => u.key)).toEqual(keys);
        expect(new Set(all.uploads.map((u) => u.uploadId))).toEqual(new Set(ids.map(([, id]) => id)));
        expect(all.uploads.every((u) => u.initiated instanceof Date)).toBe(true);

        const grouped = await backend.listMultipartUploads({ bucket, prefix: 'mp/', delimiter: '/', maxUploads: 1000 });
        expect(grouped.uploads.map((u) => u.key)).toEqual(['mp/a', 'mp/c', 'mp/c']);
        expect(grouped.commonPrefixes).toEqual(['mp/b/']);

        for (const delimiter of [undefined, '/']) {
          const seen: string[] = [];
          const prefixes: string[] = [];
          let keyMarker: string | undefined;
          let uploadIdMarker: string | undefined;
          for (let page = 0; ; page++) {
            expect(page).toBeLessThan(20);
            const out = await backend.listMultipartUploads({ bucket, delimiter, maxUploads: 1, keyMarker, uploadIdMarker });
            expect(out.uploads.length + out.commonPrefixes.length).toBeLessThanOrEqual(1);
            seen.push(...out.uploads.map((u) => `${u.key} ${u.uploadId}`));
            prefixes.push(...out.commonPrefixes);
            if (!out.isTruncated) break;
            keyMarker = out.nextKeyMarker;
            uploadIdMarker = out.nextUploadIdMarker;
          }
          const expected = all.uploads.filter((u) => !(delimiter && u.key.includes('/'))).map((u) => `${u.key} ${u.uploadId}`);
          expect(seen, `delimiter=${delimiter}`).toEqual(expected);
          expect(prefixes).toEqual(delimiter ? ['mp/'] : []);
        }

        const afterKey = await backend.listMultipartUploads({ bucket, keyMarker: 'mp/c', maxUploads: 1000 });
        expect(afterKey.uploads.map((u) => u.key)).toEqual(['other']);
        const afterFirstC = await backend.listMultipartUploads({
          bucket,
          keyMarker: 'mp/c',
          uploadIdMarker: all.uploads[3].uploadId,
          maxUploads: 1000,
        });
        expect(afterFirstC.uploads.map((u) => u.uploadId)).toEqual([all.uploads[4].uploadId, all.uploads[5].uploadId]);
      });

      it('copies source ranges into parts with uploadPartCopy', async () => {
        const bucket = await newBucket();
        const source = randomBytes(6 * MiB);
        await put(bucket, 'source', source);
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'assembled', metadata: meta() });
        const start = MiB / 2;
        const end = start + PART - 1;
        const p1 = await backend.uploadPartCopy({ bucket, key: 'assembled', uploadId, partNumber: 1, sourceBucket: bucket, sourceKey: 'source', sourceRange: { start, end } });
        expect(p1.etag).toBe(`"${md5Hex(source.subarray(start, end + 1))}"`);
        expect(p1.size).toBe(PART);
        expect(p1.lastModified).toBeInstanceOf(Date);
        const p2 = await backend.uploadPartCopy({ bucket, key: 'assembled', uploadId, partNumber: 2, sourceBucket: bucket, sourceKey: 'source' });
        expect(p2.etag).toBe(`"${md5Hex(source)}"`);
        const p3 = await backend.uploadPart({ bucket, key: 'assembled', uploadId, partNumber: 3, body: bodyOf('tail'), size: 4 });
        await expectS3Error(backend.uploadPartCopy({ bucket, key: 'assembled', uploadId, partNumber: 4, sourceBucket: bucket, sourceKey: 'missing' }), 'NoSuchKey');
        await expectS3Error(
          backend.uploadPartCopy({
            bucket,
            key: 'assembled',
            uploadId,
            partNumber: 4,
            sourceBucket: bucket,
            sourceKey: 'source',
            sourceConditions: { ifMatch: '"00000000000000000000000000000000"' },
          }),
          'PreconditionFailed',
        );
        await backend.completeMultipartUpload({
          bucket,
          key: 'assembled',
          uploadId,
          parts: [p1, p2, p3].map((p, i) => ({ partNumber: i + 1, etag: p.etag })),
        });
        const expected = Buffer.concat([source.subarray(start, end + 1), source, Buffer.from('tail')]);
        const got = await backend.getObject({ bucket, key: 'assembled' });
        expect(got.info.size).toBe(expected.length);
        expect(md5Hex(await readAll(got.body))).toBe(md5Hex(expected));
      });

      it('computes a composite checksum when every part has one', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'k', metadata: meta(), checksumAlgorithm: 'CRC32' });
        const data = Buffer.from('single small part');
        const partChecksum = checksumOf('CRC32', data).toString('base64');
        const part = await backend.uploadPart({
          bucket,
          key: 'k',
          uploadId,
          partNumber: 1,
          body: bodyOf(data),
          size: data.length,
          checksum: knownChecksum('CRC32', partChecksum),
        });
        expect((await backend.listParts({ bucket, key: 'k', uploadId, maxParts: 10 })).checksumAlgorithm).toBe('CRC32');
        const done = await backend.completeMultipartUpload({
          bucket,
          key: 'k',
          uploadId,
          parts: [{ partNumber: 1, etag: part.etag, checksum: partChecksum }],
        });
        const expected = { algorithm: 'CRC32', value: compositeChecksum('CRC32', [partChecksum]), type: 'COMPOSITE' };
        expect(done.checksum).toEqual(expected);
        expect((await backend.headObject({ bucket, key: 'k' })).checksum).toEqual(expected);
      });
    });

    describe('usage', () => {
      it('stays exact through puts, overwrites, copies, failed writes, deletes and multipart uploads', async () => {
        const bucket = await newBucket();
        const usage = () => backend.local.usage(bucket);
        expect(await usage()).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });

        await put(bucket, 'a', 'x'.repeat(1000));
        await put(bucket, 'b', randomBytes(100_000));
        expect(await usage()).toEqual({ bytes: 101_000, objects: 2, multipartBytes: 0 });
        await put(bucket, 'a', 'y'.repeat(10)); // overwrite: only the difference counts
        expect(await usage()).toEqual({ bytes: 100_010, objects: 2, multipartBytes: 0 });
        await backend.copyObject({ sourceBucket: bucket, sourceKey: 'b', bucket, key: 'c', metadataDirective: 'COPY' });
        expect(await usage()).toEqual({ bytes: 200_010, objects: 3, multipartBytes: 0 });

        // Failed writes change nothing.
        await expect(backend.putObject({ bucket, key: 'a', body: failingBody(randomBytes(5000)), metadata: meta() })).rejects.toThrow();
        await expectS3Error(backend.putObject({ bucket, key: 'd', body: bodyOf('abc'), size: 4, metadata: meta() }), 'IncompleteBody');
        expect(await usage()).toEqual({ bytes: 200_010, objects: 3, multipartBytes: 0 });

        await backend.deleteObject({ bucket, key: 'c' });
        await backend.deleteObject({ bucket, key: 'missing' });
        await backend.deleteObjects({ bucket, objects: ['a', 'missing-too'].map((key) => ({ key })) });
        expect(await usage()).toEqual({ bytes: 100_000, objects: 1, multipartBytes: 0 });

        const partSize = 5 * 1024 * 1024;
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'b', metadata: meta() });
        const p1 = await backend.uploadPart({ bucket, key: 'b', uploadId, partNumber: 1, body: bodyOf(randomBytes(partSize)), size: partSize });
        await backend.uploadPart({ bucket, key: 'b', uploadId, partNumber: 2, body: bodyOf(randomBytes(300)), size: 300 });
        // Re-uploading a part replaces it.
        const p2 = await backend.uploadPart({ bucket, key: 'b', uploadId, partNumber: 2, body: bodyOf(randomBytes(200)), size: 200 });
        const leaveOut = !limitations.cannotLeaveOutUploadedParts;
        if (leaveOut) await backend.uploadPart({ bucket, key: 'b', uploadId, partNumber: 3, body: bodyOf(randomBytes(700)), size: 700 });
        expect(await usage()).toEqual({ bytes: 100_000, objects: 1, multipartBytes: partSize + (leaveOut ? 900 : 200) });
        // Completing with parts 1 and 2 overwrites "b"; the unlisted part 3 is dropped.
        await backend.completeMultipartUpload({
          bucket,
          key: 'b',
          uploadId,
          parts: [
            { partNumber: 1, etag: p1.etag },
            { partNumber: 2, etag: p2.etag },
          ],
        });
        expect(await usage()).toEqual({ bytes: partSize + 200, objects: 1, multipartBytes: 0 });

        const aborted = await backend.createMultipartUpload({ bucket, key: 'e', metadata: meta() });
        await backend.uploadPart({ bucket, key: 'e', uploadId: aborted.uploadId, partNumber: 1, body: bodyOf('12345'), size: 5 });
        expect((await usage()).multipartBytes).toBe(5);
        await backend.abortMultipartUpload({ bucket, key: 'e', uploadId: aborted.uploadId });
        expect(await usage()).toEqual({ bytes: partSize + 200, objects: 1, multipartBytes: 0 });
      });

      it('reports NoSuchBucket for a missing bucket', async () => {
        await expectS3Error(backend.local.usage('contract-missing-usage'), 'NoSuchBucket');
      });

      it('answers stored sizes and uploads in progress from local state, with no store round trip', async () => {
        const bucket = await newBucket();
        expect(await backend.local.storedSize(bucket, 'sized')).toBe(0);
        await put(bucket, 'sized', 'x'.repeat(1234));
        expect(await backend.local.storedSize(bucket, 'sized')).toBe(1234);
        await put(bucket, 'sized', 'y'.repeat(7));
        expect(await backend.local.storedSize(bucket, 'sized')).toBe(7);
        await backend.deleteObject({ bucket, key: 'sized' });
        expect(await backend.local.storedSize(bucket, 'sized')).toBe(0);
        // A bucket the local state does not track: unknown, so callers ask the store (headObject).
        expect(await backend.local.storedSize('contract-missing-sized', 'k')).toBeUndefined();

        // storedObject (when the backend has it) also tells an empty object from none.
        if (backend.local.storedObject) {
          expect(await backend.local.storedObject(bucket, 'empty')).toEqual({ bytes: 0, objects: 0 });
          await put(bucket, 'empty', '');
          expect(await backend.local.storedObject(bucket, 'empty')).toEqual({ bytes: 0, objects: 1 });
          expect(await backend.local.storedObject('contract-missing-sized', 'k')).toBeUndefined();
        }

        expect(await backend.local.countUploads(bucket)).toBe(0);
        const first = await backend.createMultipartUpload({ bucket, key: 'u1', metadata: meta() });
        await backend.createMultipartUpload({ bucket, key: 'u2', metadata: meta() });
        expect(await backend.local.countUploads(bucket)).toBe(2);
        await backend.abortMultipartUpload({ bucket, key: 'u1', uploadId: first.uploadId });
        expect(await backend.local.countUploads(bucket)).toBe(1);
      });

      it('correctUsage with the exact usage leaves it unchanged', async () => {
        const bucket = await newBucket();
        await put(bucket, 'k', 'hello');
        const exact = await backend.local.usage(bucket);
        await backend.local.correctUsage(bucket, exact);
        expect(await backend.local.usage(bucket)).toEqual({ bytes: 5, objects: 1, multipartBytes: 0 });
      });
    });

    // ------------------------------------------------------------------ journal

    describe('journal', () => {
      /** A hook that records the facts it was given and journals one marker event per call. */
      function recordingHook(label: string, options: { skipMissing?: boolean } = {}) {
        const calls: CommitFacts[] = [];
        const returned: DomainEvent[] = [];
        const hook: JournalHook = (facts) => {
          calls.push(facts);
          if (options.skipMissing && !facts.replaced) return [];
          const event: DomainEvent = {
            id: `${label}-${calls.length}-${randomBytes(6).toString('hex')}`,
            type: 'object.created',
            time: '2026-01-01T00:00:00.000Z',
            accountId: 'contract-account',
            actor: { kind: 'system', id: 'contract' },
            key: facts.key,
            detail: { replaced: facts.replaced },
          };
          returned.push(event);
          return [event];
        };
        return { hook, calls, returned };
      }

      /** Acks everything journaled so far (earlier tests), so each test sees only its own entries. */
      async function drainJournal(): Promise<void> {
        const journal = backend.local.journal;
        for (;;) {
          const entries = await journal.readJournal(1000);
          if (entries.length === 0) return;
          await journal.ackJournal(entries.map((entry) => entry.seq));
        }
      }

      const journaled = async () => (await backend.local.journal.readJournal(1000)).map((entry) => entry.event);

      it('journals exactly the events the hook returned, with the facts of the commit', async () => {
        expect(backend.local.journal).toBeDefined();
        await drainJournal();
        const bucket = await newBucket();
        const first = recordingHook('put');
        const written = await backend.putObject({ bucket, key: 'j/k', body: bodyOf('hello'), size: 5, metadata: meta({ contentType: 'text/plain' }), journal: first.hook });
        expect(first.calls).toEqual([{ key: 'j/k', replaced: false, size: 5, etag: written.etag, contentType: 'text/plain' }]);
        const second = recordingHook('overwrite');
        await backend.putObject({ bucket, key: 'j/k', body: bodyOf('hello!'), size: 6, metadata: meta(), journal: second.hook });
        expect(second.calls).toMatchObject([{ key: 'j/k', replaced: true, size: 6, etag: `"${md5Hex('hello!')}"` }]);
        const copy = recordingHook('copy');
        await backend.copyObject({ sourceBucket: bucket, sourceKey: 'j/k', bucket, key: 'j/copy', metadataDirective: 'COPY', journal: copy.hook });
        expect(copy.calls).toMatchObject([{ key: 'j/copy', replaced: false, size: 6, etag: `"${md5Hex('hello!')}"` }]);
        const tagging = recordingHook('tagging');
        await backend.putObjectTagging({ bucket, key: 'j/k', tags: { a: '1' }, journal: tagging.hook });
        await backend.deleteObjectTagging({ bucket, key: 'j/k', journal: tagging.hook });
        expect(tagging.calls).toMatchObject([
          { key: 'j/k', replaced: true },
          { key: 'j/k', replaced: true },
        ]);
        // A hook that returns nothing journals nothing.
        await backend.putObject({ bucket, key: 'j/quiet', body: bodyOf('q'), size: 1, metadata: meta(), journal: () => [] });
        expect(await journaled()).toEqual([...first.returned, ...second.returned, ...copy.returned, ...tagging.returned]);
        await drainJournal();
        expect(await journaled()).toEqual([]);
      });

      it('journals a completed multipart upload once, at completion', async () => {
        await drainJournal();
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'mp', metadata: meta() });
        const part = await backend.uploadPart({ bucket, key: 'mp', uploadId, partNumber: 1, body: bodyOf('only part'), size: 9 });
        expect(await journaled()).toEqual([]);
        const hook = recordingHook('complete');
        const done = await backend.completeMultipartUpload({ bucket, key: 'mp', uploadId, parts: [{ partNumber: 1, etag: part.etag }], journal: hook.hook });
        expect(hook.calls).toMatchObject([{ key: 'mp', replaced: false, size: 9, etag: done.etag }]);
        expect(await journaled()).toEqual(hook.returned);
      });

      it('journals nothing for a write that failed or was refused', async () => {
        await drainJournal();
        const bucket = await newBucket();
        const hook = recordingHook('failed');
        const data = Buffer.from('the real body');
        await expectS3Error(
          backend.putObject({ bucket, key: 'bad-digest', body: bodyOf(data), size: data.length, contentMd5: md5Base64('something else'), metadata: meta(), journal: hook.hook }),
          'BadDigest',
        );
        await expectS3Error(backend.putObject({ bucket, key: 'short', body: bodyOf(data), size: data.length + 10, metadata: meta(), journal: hook.hook }), 'IncompleteBody');
        await expectS3Error(
          backend.putObject({
            bucket,
            key: 'refused',
            body: bodyOf(data),
            size: data.length,
            metadata: meta(),
            admit: async () => {
              throw new S3Error('QuotaExceeded');
            },
            journal: hook.hook,
          }),
          'QuotaExceeded',
        );
        expect(hook.returned).toEqual([]);
        expect(await journaled()).toEqual([]);
      });

      it('asks the hook about a delete of a missing key (replaced: false) and journals what it returns', async () => {
        await drainJournal();
        const bucket = await newBucket();
        await put(bucket, 'present', 'data');
        const missing = recordingHook('missing');
        await backend.deleteObject({ bucket, key: 'absent', journal: missing.hook });
        expect(missing.calls).toEqual([{ key: 'absent', replaced: false }]);
        const quiet = recordingHook('quiet', { skipMissing: true });
        await backend.deleteObject({ bucket, key: 'absent', journal: quiet.hook });
        const deleted = recordingHook('deleted');
        await backend.deleteObject({ bucket, key: 'present', journal: deleted.hook });
        expect(deleted.calls).toMatchObject([{ key: 'present', replaced: true, size: 4, etag: `"${md5Hex('data')}"` }]);
        expect(await journaled()).toEqual([...missing.returned, ...deleted.returned]);
      });

      it('calls the hook of DeleteObjects once per key it deleted', async () => {
        await drainJournal();
        const bucket = await newBucket();
        await put(bucket, 'a', '1');
        await put(bucket, 'b', '22');
        const hook = recordingHook('many');
        await backend.deleteObjects({ bucket, objects: ['a', 'nothing-here', 'b'].map((key) => ({ key })), journal: hook.hook });
        expect(hook.calls.map((facts) => [facts.key, facts.replaced, facts.size]).sort()).toEqual([
          ['a', true, 1],
          ['b', true, 2],
        ]);
        expect(await journaled()).toEqual(hook.returned);
      });
    });

    describe('conditional writes (If-None-Match / If-Match)', () => {
      const putIf = (bucket: string, key: string, data: string, conditions: WriteConditions, journal?: JournalHook) =>
        backend.putObject({ bucket, key, body: bodyOf(data), size: Buffer.byteLength(data), metadata: meta(), conditions, journal });

      /** Fails the test unless the hook is never called (a failed condition commits, so journals, nothing). */
      const refusingHook: JournalHook = (facts) => {
        throw new Error(`a failed conditional write reached its commit for ${facts.key}`);
      };

      it('If-None-Match: * creates a missing key and refuses an existing one with 412, keeping it and its usage', async () => {
        const bucket = await newBucket();
        const created = await putIf(bucket, 'k', 'first', { ifNoneMatch: '*' });
        expect(created.etag).toBe(`"${md5Hex('first')}"`);
        const before = await backend.local.usage(bucket);
        const refused = await expectS3Error(putIf(bucket, 'k', 'second, longer', { ifNoneMatch: '*' }, refusingHook), 'PreconditionFailed');
        expect(refused.status).toBe(412);
        expect(refused.details.Condition).toBe('If-None-Match');
        expect((await getBytes(bucket, 'k')).toString()).toBe('first');
        expect(await backend.local.usage(bucket)).toEqual(before);
      });

      it('If-Match replaces only the version it names (ETag quoted or not); NoSuchKey for a missing key', async () => {
        const bucket = await newBucket();
        const first = await put(bucket, 'k', 'v1');
        const second = await putIf(bucket, 'k', 'v2', { ifMatch: first.etag });
        expect((await getBytes(bucket, 'k')).toString()).toBe('v2');
        await putIf(bucket, 'k', 'v3', { ifMatch: second.etag.replace(/"/g, '') });
        expect((await getBytes(bucket, 'k')).toString()).toBe('v3');
        const stale = await expectS3Error(putIf(bucket, 'k', 'v4', { ifMatch: first.etag }, refusingHook), 'PreconditionFailed');
        expect(stale.details.Condition).toBe('If-Match');
        expect((await getBytes(bucket, 'k')).toString()).toBe('v3');
        await expectS3Error(putIf(bucket, 'missing', 'v', { ifMatch: first.etag }, refusingHook), 'NoSuchKey');
        await expectS3Error(backend.headObject({ bucket, key: 'missing' }), 'NoSuchKey');
      });

      it('of 8 racing If-None-Match: * writes of one key exactly one succeeds, and the key holds its bytes', async () => {
        const bucket = await newBucket();
        // Bodies of several chunks, so the writes overlap while their bodies are in flight.
        const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024, 65 + i));
        const outcomes = await Promise.allSettled(
          bodies.map((bytes) => backend.putObject({ bucket, key: 'race', body: bodyOf(bytes), size: bytes.length, metadata: meta(), conditions: { ifNoneMatch: '*' } })),
        );
        const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
        expect(winners).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') expect(['PreconditionFailed', 'ConditionalRequestConflict']).toContain((outcome.reason as S3Error).code);
        }
        expect((await getBytes(bucket, 'race')).equals(bodies[winners[0]!]!)).toBe(true);
        expect(await backend.local.usage(bucket)).toMatchObject({ bytes: 256 * 1024, objects: 1 });
      });

      it('completes a multipart upload conditionally; a failed condition leaves the upload completable and abortable', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'mp', metadata: meta() });
        const part = await backend.uploadPart({ bucket, key: 'mp', uploadId, partNumber: 1, body: bodyOf('part one'), size: 8 });
        const parts = [{ partNumber: 1, etag: part.etag }];
        // The key appeared while the upload was in progress.
        const meanwhile = await put(bucket, 'mp', 'meanwhile');
        const refused = await expectS3Error(
          backend.completeMultipartUpload({ bucket, key: 'mp', uploadId, parts, conditions: { ifNoneMatch: '*' }, journal: refusingHook }),
          'PreconditionFailed',
        );
        expect(refused.details.Condition).toBe('If-None-Match');
        await expectS3Error(backend.completeMultipartUpload({ bucket, key: 'mp', uploadId, parts, conditions: { ifMatch: `"${md5Hex('other')}"` } }), 'PreconditionFailed');
        expect((await getBytes(bucket, 'mp')).toString()).toBe('meanwhile');
        expect((await backend.listParts({ bucket, key: 'mp', uploadId, maxParts: 10 })).parts).toHaveLength(1);
        // Still completable, here on the condition that the key still holds what it held.
        const completed = await backend.completeMultipartUpload({ bucket, key: 'mp', uploadId, parts, conditions: { ifMatch: meanwhile.etag } });
        expect(completed.etag).toMatch(/-1"$/);
        expect((await getBytes(bucket, 'mp')).toString()).toBe('part one');
        // A second upload refused the same way can still be aborted.
        const other = await backend.createMultipartUpload({ bucket, key: 'mp', metadata: meta() });
        const otherPart = await backend.uploadPart({ bucket, key: 'mp', uploadId: other.uploadId, partNumber: 1, body: bodyOf('x'), size: 1 });
        await expectS3Error(
          backend.completeMultipartUpload({ bucket, key: 'mp', uploadId: other.uploadId, parts: [{ partNumber: 1, etag: otherPart.etag }], conditions: { ifNoneMatch: '*' } }),
          'PreconditionFailed',
        );
        await backend.abortMultipartUpload({ bucket, key: 'mp', uploadId: other.uploadId });
        expect((await backend.listMultipartUploads({ bucket, maxUploads: 10 })).uploads).toEqual([]);
        expect((await getBytes(bucket, 'mp')).toString()).toBe('part one');
      });

      it('If-None-Match: * completes a multipart upload of a key that holds nothing', async () => {
        const bucket = await newBucket();
        const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'fresh', metadata: meta() });
        const part = await backend.uploadPart({ bucket, key: 'fresh', uploadId, partNumber: 1, body: bodyOf('only part'), size: 9 });
        await backend.completeMultipartUpload({ bucket, key: 'fresh', uploadId, parts: [{ partNumber: 1, etag: part.etag }], conditions: { ifNoneMatch: '*' } });
        expect((await getBytes(bucket, 'fresh')).toString()).toBe('only part');
      });

      it('of racing If-None-Match: * completions of one key exactly one succeeds; the others stay in progress', async () => {
        // Stores may ignore conditions on completion (RGW Pacific does): the backend decides.
        const bucket = await newBucket();
        const uploads = await Promise.all(
          ['A', 'B', 'C', 'D'].map(async (label) => {
            const { uploadId } = await backend.createMultipartUpload({ bucket, key: 'once', metadata: meta() });
            const part = await backend.uploadPart({ bucket, key: 'once', uploadId, partNumber: 1, body: bodyOf(label), size: 1 });
            return { label, uploadId, parts: [{ partNumber: 1, etag: part.etag }] };
          }),
        );
        const outcomes = await Promise.allSettled(
          uploads.map((upload) => backend.completeMultipartUpload({ bucket, key: 'once', uploadId: upload.uploadId, parts: upload.parts, conditions: { ifNoneMatch: '*' } })),
        );
        const winners = uploads.filter((_, index) => outcomes[index]!.status === 'fulfilled');
        expect(winners).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') expect(['PreconditionFailed', 'ConditionalRequestConflict']).toContain((outcome.reason as S3Error).code);
        }
        expect((await getBytes(bucket, 'once')).toString()).toBe(winners[0]!.label);
        expect((await backend.listMultipartUploads({ bucket, maxUploads: 10 })).uploads).toHaveLength(3);
      });
    });

    describe('lifecycle', () => {
      it('reports healthy', async () => {
        expect((await backend.health()).ok).toBe(true);
      });
    });
  });
}
