/**
 * Issue #9 item 6: delimiter listings blocked the event loop on the fs backend. Each common prefix
 * fetched up to a page of index rows to use one, so one 1,000-prefix ListObjectsV2 page read about
 * half a million rows (~1 s of synchronous SQLite) and a few concurrent ones stalled every other
 * tenant. These tests list over the network and check both the pages (exact boundaries, prefixes
 * and keys both counting towards MaxKeys, continuation) and the index work each page did, read from
 * the fs index's deterministic counters (rows stepped, range scans started): never the clock.
 */
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsV2CommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsBackend } from '../../src/storage/fs/fs-backend.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';

const FOLDERS = 1100;
const folder = (i: number) => `p${String(i).padStart(4, '0')}`;
/** Keys outside the folders: one that sorts right before its namesake folder, and non-ASCII folders. */
const EXTRA_KEYS = ['p0500', 'q-top', 'ü/1', 'ü/2', '\uE000/y', '😀/x'];

async function inPool<T>(items: T[], concurrency: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

describe('listing cost on the fs backend (issue #9 item 6)', () => {
  let server: TestServer;
  let client: S3Client;
  let backend: FsBackend;

  let bucket: string;

  beforeAll(async () => {
    server = await startTestServer();
    const account = await server.createAccount();
    client = server.client(account);
    backend = server.running.core.backend as FsBackend;
    expect(backend.kind).toBe('fs');
    const resolution = await server.running.core.bucketsUsecases.resolve(account.userId, 'default');
    if (resolution.kind !== 'owned') throw new Error('no default bucket');
    bucket = resolution.bucket.backendName;
    // The bulk of the keys goes straight into the backend (2,200 signed PUTs would take ~20 s on a
    // shared CI core); what is under test is the listing over the wire. The odd keys go over HTTP.
    const keys: string[] = [];
    for (let i = 0; i < FOLDERS; i++) keys.push(`${folder(i)}/a`, `${folder(i)}/b/c`);
    await inPool(keys, 16, (key) => backend.putObject({ bucket, key, body: Readable.from([]), size: 0, metadata: { userMetadata: {} } }));
    await inPool(EXTRA_KEYS, 6, (key) => client.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: Buffer.alloc(0) })));
  });
  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });

  /** One ListObjectsV2 over the wire, with the index work it caused. */
  async function list(input: Omit<ListObjectsV2CommandInput, 'Bucket'>) {
    const before = backend.listingWork();
    const out = await client.send(new ListObjectsV2Command({ Bucket: 'default', ...input }));
    const after = backend.listingWork();
    const keys = (out.Contents ?? []).map((o) => o.Key!);
    const prefixes = (out.CommonPrefixes ?? []).map((p) => p.Prefix!);
    return { out, keys, prefixes, entries: keys.length + prefixes.length, rows: after.rows - before.rows, scans: after.scans - before.scans };
  }

  it('reads O(entries) index rows for a 1,000-prefix delimiter page, and pages exactly', async () => {
    const page1 = await list({ Delimiter: '/' });
    // MaxKeys counts prefixes and keys: 500 folders, the key p0500, then 499 more folders.
    expect(page1.entries).toBe(1000);
    expect(page1.out.KeyCount).toBe(1000);
    expect(page1.keys).toEqual(['p0500']);
    expect(page1.prefixes).toEqual(Array.from({ length: 999 }, (_, i) => `${folder(i)}/`));
    expect(page1.out.IsTruncated).toBe(true);
    expect(page1.out.NextContinuationToken).toBeTruthy();
    // One row per entry plus the row that shows truncation; one seek per folder plus a few for
    // the walk's pauses. Before the fix this page read 501,001 rows.
    expect(page1.rows).toBeLessThanOrEqual(page1.entries + 2);
    expect(page1.rows + page1.scans).toBeLessThanOrEqual(2 * page1.entries + 16);

    const page2 = await list({ Delimiter: '/', ContinuationToken: page1.out.NextContinuationToken });
    // UTF-8 byte order: q (71) < ü (C3 BC) < U+E000 (EE 80 80) < 😀 (F0 9F 98 80).
    expect(page2.prefixes).toEqual([...Array.from({ length: 101 }, (_, i) => `${folder(999 + i)}/`), 'ü/', '\uE000/', '😀/']);
    expect(page2.keys).toEqual(['q-top']);
    expect(page2.out.IsTruncated).toBe(false);
    expect(page2.out.NextContinuationToken).toBeUndefined();
    expect(page2.rows).toBeLessThanOrEqual(page2.entries + 2);
  });

  it('reads at most MaxKeys + 1 rows without a delimiter', async () => {
    const page = await list({});
    expect(page.keys.length).toBe(1000);
    expect(page.keys.slice(0, 3)).toEqual(['p0000/a', 'p0000/b/c', 'p0001/a']);
    expect(page.out.IsTruncated).toBe(true);
    expect(page.rows).toBeLessThanOrEqual(1001);
    expect(page.scans).toBeLessThanOrEqual(8);
  });

  it('pages small MaxKeys across keys and prefixes at exact boundaries', async () => {
    // Prefix p050 + delimiter: the key p0500, then folders p0500/ … p0509/ (11 entries).
    const seen: string[] = [];
    let token: string | undefined;
    const sizes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await list({ Prefix: 'p050', Delimiter: '/', MaxKeys: 3, ContinuationToken: token });
      sizes.push(page.entries);
      expect(page.out.KeyCount).toBe(page.entries);
      seen.push(...page.keys.map((k) => `key:${k}`), ...page.prefixes.map((p) => `cp:${p}`));
      expect(page.rows).toBeLessThanOrEqual(page.entries + 2);
      token = page.out.NextContinuationToken;
      if (!page.out.IsTruncated) break;
    }
    expect(sizes).toEqual([3, 3, 3, 2]);
    expect(seen).toEqual(['key:p0500', ...Array.from({ length: 10 }, (_, i) => `cp:p050${i}/`)]);

    const first = await list({ Prefix: 'p050', Delimiter: '/', MaxKeys: 2 });
    expect([first.keys, first.prefixes, first.out.IsTruncated]).toEqual([['p0500'], ['p0500/'], true]);
  });

  it('handles prefix + delimiter, a multi-character delimiter, StartAfter inside a folder and non-ASCII prefixes', async () => {
    const inFolder = await list({ Prefix: 'p0007/', Delimiter: '/' });
    expect([inFolder.keys, inFolder.prefixes, inFolder.out.IsTruncated]).toEqual([['p0007/a'], ['p0007/b/'], false]);

    const multi = await list({ Prefix: 'p001', Delimiter: '/b/' });
    expect(multi.keys).toEqual(Array.from({ length: 10 }, (_, i) => `p001${i}/a`));
    expect(multi.prefixes).toEqual(Array.from({ length: 10 }, (_, i) => `p001${i}/b/`));

    // StartAfter inside p0998/: that folder was returned already and is not repeated.
    const after = await list({ Delimiter: '/', StartAfter: 'p0998/a' });
    expect(after.prefixes[0]).toBe('p0999/');
    expect(after.entries).toBe(105);
    expect(after.rows).toBeLessThanOrEqual(after.entries + 2);

    const unicode = await list({ Prefix: 'ü/', Delimiter: '/' });
    expect([unicode.keys, unicode.prefixes]).toEqual([['ü/1', 'ü/2'], []]);
    const emoji = await list({ Delimiter: '/', StartAfter: '\uE000/' });
    expect([emoji.keys, emoji.prefixes]).toEqual([[], ['😀/']]);
  });

  it('reads O(entries) rows for ListMultipartUploads with a delimiter too', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 120; i++) keys.push(`mp/${folder(i)}/x`, `mp/${folder(i)}/y`);
    await inPool(keys, 16, (key) => backend.createMultipartUpload({ bucket, key, metadata: { userMetadata: {} } }));
    await client.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'mp/top' }));
    const before = backend.listingWork();
    const page1 = await client.send(new ListMultipartUploadsCommand({ Bucket: 'default', Prefix: 'mp/', Delimiter: '/', MaxUploads: 100 }));
    const work = { rows: backend.listingWork().rows - before.rows, scans: backend.listingWork().scans - before.scans };
    expect((page1.CommonPrefixes ?? []).map((p) => p.Prefix)).toEqual(Array.from({ length: 100 }, (_, i) => `mp/${folder(i)}/`));
    expect(page1.Uploads ?? []).toEqual([]);
    expect(page1.IsTruncated).toBe(true);
    expect(page1.NextKeyMarker).toBe(`mp/${folder(99)}/`);
    // Before the fix this page read 5,151 rows.
    expect(work.rows).toBeLessThanOrEqual(102);
    expect(work.scans).toBeLessThanOrEqual(110);

    const page2 = await client.send(new ListMultipartUploadsCommand({ Bucket: 'default', Prefix: 'mp/', Delimiter: '/', MaxUploads: 100, KeyMarker: page1.NextKeyMarker }));
    expect((page2.CommonPrefixes ?? []).map((p) => p.Prefix)).toEqual(Array.from({ length: 20 }, (_, i) => `mp/${folder(100 + i)}/`));
    expect((page2.Uploads ?? []).map((u) => u.Key)).toEqual(['mp/top']);
    expect(page2.IsTruncated).toBe(false);
  });
});
