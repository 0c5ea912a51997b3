import type { ListObjectVersionsOutput, ObjectVersionEntry } from './storage-backend.ts';

/** The page a `versionsOfKey` walk asks its lister for. */
export interface KeyVersionsPage {
  prefix: string;
  keyMarker?: string;
  versionIdMarker?: string;
  maxKeys: number;
}

/**
 * Every version and delete marker of exactly `key`, newest first, read page by page from a
 * ListObjectVersions `list` (a backend's, or the objects service's with the caller's
 * authorization). Keys that merely start with `key` sort after it (a prefix sorts before its
 * extensions), so the walk ends at the first entry of another key; a caller that stops early
 * reads no further page.
 */
export async function* versionsOfKey(list: (page: KeyVersionsPage) => Promise<ListObjectVersionsOutput>, key: string, pageSize: number): AsyncGenerator<ObjectVersionEntry> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await list({ prefix: key, keyMarker, versionIdMarker, maxKeys: pageSize });
    for (const entry of page.entries) {
      if (entry.key !== key) return;
      yield entry;
    }
    if (!page.isTruncated || page.nextKeyMarker !== key) return;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
}
