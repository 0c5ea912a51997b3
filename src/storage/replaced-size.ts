import { isS3Error } from '../errors/s3-errors.ts';
import type { StorageBackend } from './storage-backend.ts';

/**
 * Size of the object a write to `key` would replace (0 when there is none), for the quota
 * reservation taken before an upload's body is read. The backend's local state answers without
 * a round trip to the store; only a bucket it does not track yet costs a HEAD.
 */
export async function replacedSize(backend: StorageBackend, bucket: string, key: string): Promise<number> {
  return (await replacedObject(backend, bucket, key)).bytes;
}

/**
 * `replacedSize` with whether an object is there (`objects`, 1 or 0), when the backend can tell
 * (`storedObject`, or a HEAD); undefined when it cannot (0 bytes: an empty object, or none).
 */
export async function replacedObject(backend: StorageBackend, bucket: string, key: string): Promise<{ bytes: number; objects?: number }> {
  const { local } = backend;
  if (local.storedObject) {
    const stored = await local.storedObject(bucket, key);
    if (stored !== undefined) return stored;
  } else {
    const known = await local.storedSize(bucket, key);
    if (known !== undefined) return known > 0 ? { bytes: known, objects: 1 } : { bytes: 0 };
  }
  try {
    return { bytes: (await backend.headObject({ bucket, key })).size, objects: 1 };
  } catch (error) {
    if (isS3Error(error, 'NoSuchKey')) return { bytes: 0, objects: 0 };
    throw error;
  }
}
