import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fsStoresPerTest } from '../../test/support/fs-stores.ts';
import { type KeyVersionsPage, versionsOfKey } from './versions-of-key.ts';

describe('versionsOfKey', () => {
  const newStore = fsStoresPerTest('cloudstorage-versions-of-key-');

  it('walks exactly one key newest first across pages, and stops before keys that extend it', async () => {
    const backend = await (await newStore()).start();
    await backend.createBucket('b');
    await backend.putBucketVersioning('b', 'Enabled');
    const put = (key: string, body: string) => backend.putObject({ bucket: 'b', key, body: Readable.from([Buffer.from(body)]), size: body.length, metadata: { userMetadata: {} } });
    const written = [];
    for (const body of ['1', '22', '333', '4444', '55555']) written.push((await put('a', body)).versionId);
    const marker = await backend.deleteObject({ bucket: 'b', key: 'a' });
    await put('a/b', 'x');
    await put('ab', 'y');
    const pages: { keyMarker?: string; versionIdMarker?: string }[] = [];
    const walked = [];
    for await (const entry of versionsOfKey(
      (page) => {
        pages.push({ keyMarker: page.keyMarker, versionIdMarker: page.versionIdMarker });
        return backend.listObjectVersions({ bucket: 'b', ...page });
      },
      'a',
      2,
    ))
      walked.push([entry.key, entry.versionId, entry.deleteMarker]);
    expect(walked).toEqual([['a', marker.versionId, true], ...written.reverse().map((versionId) => ['a', versionId, false])]);
    // Six entries at two a page: three pages, then a fourth that meets `a/b` and ends the walk.
    expect(pages).toHaveLength(4);
    expect(pages[0]).toEqual({ keyMarker: undefined, versionIdMarker: undefined });

    // A caller that stops at the first entry reads one page.
    pages.length = 0;
    const listing = (page: KeyVersionsPage) => {
      pages.push(page);
      return backend.listObjectVersions({ bucket: 'b', ...page });
    };
    for await (const entry of versionsOfKey(listing, 'a', 2)) {
      expect(entry.deleteMarker).toBe(true);
      break;
    }
    expect(pages).toHaveLength(1);
  });
});
