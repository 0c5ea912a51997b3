import { countStoredVersions } from '../storage/count-objects.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';

export interface BucketRecount {
  bucket: string;
  recorded: { bytes: number; objects: number; multipartBytes: number };
  recounted: { bytes: number; objects: number; multipartBytes: number };
  drift: boolean;
}

/**
 * Recounts a bucket's usage by walking its listings (every stored version, noncurrent ones
 * included, as usage counts them; multipart uploads and their parts) and compares it with the
 * usage the backend records: an independent check of the counters.
 */
export async function recountBucket(backend: StorageBackend, bucket: string, label: string): Promise<BucketRecount> {
  const recounted = { ...(await countStoredVersions(backend, bucket)), multipartBytes: 0 };
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await backend.listMultipartUploads({ bucket, maxUploads: 1000, keyMarker, uploadIdMarker });
    for (const upload of page.uploads) {
      let partNumberMarker: number | undefined;
      for (;;) {
        const parts = await backend.listParts({ bucket, key: upload.key, uploadId: upload.uploadId, maxParts: 1000, partNumberMarker });
        for (const part of parts.parts) recounted.multipartBytes += part.size;
        if (!parts.isTruncated) break;
        partNumberMarker = parts.nextPartNumberMarker;
      }
    }
    if (!page.isTruncated) break;
    keyMarker = page.nextKeyMarker;
    uploadIdMarker = page.nextUploadIdMarker;
  }
  const recorded = await backend.local.usage(bucket);
  const drift = recorded.bytes !== recounted.bytes || recorded.objects !== recounted.objects || recorded.multipartBytes !== recounted.multipartBytes;
  // A proxy's counters drift when the store is changed behind its back; the recount is the truth
  // (the fs index's cannot drift, and its correctUsage is a no-op: see BackendLocalState).
  if (drift) await backend.local.correctUsage(bucket, recounted);
  return { bucket: label, recorded, recounted, drift };
}
