import type { StorageBackend } from './storage-backend.ts';

/** Bytes and number of a bucket's objects, by walking its whole listing. */
export async function countObjects(backend: StorageBackend, bucket: string): Promise<{ bytes: number; objects: number }> {
  const counted = { bytes: 0, objects: 0 };
  let startAfter: string | undefined;
  for (;;) {
    const page = await backend.listObjects({ bucket, maxKeys: 1000, startAfter });
    for (const object of page.contents) {
      counted.bytes += object.size;
      counted.objects += 1;
    }
    if (!page.isTruncated || page.nextMarker === undefined) return counted;
    startAfter = page.nextMarker;
  }
}

/**
 * Bytes and number of every stored version in a bucket (noncurrent versions too; delete markers
 * store nothing), by walking ListObjectVersions: what usage counts (see BucketUsage). On an
 * Unversioned bucket it equals `countObjects`.
 */
export async function countStoredVersions(backend: StorageBackend, bucket: string): Promise<{ bytes: number; objects: number }> {
  const counted = { bytes: 0, objects: 0 };
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await backend.listObjectVersions({ bucket, maxKeys: 1000, keyMarker, versionIdMarker });
    for (const entry of page.entries) {
      if (entry.deleteMarker) continue;
      counted.bytes += entry.size;
      counted.objects += 1;
    }
    if (!page.isTruncated || page.nextKeyMarker === undefined) return counted;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
}
