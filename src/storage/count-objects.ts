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
