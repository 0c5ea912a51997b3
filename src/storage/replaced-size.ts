import { isS3Error } from '../errors/s3-errors.ts';
import type { StorageBackend } from './storage-backend.ts';

/**
 * Size of the object a write to `key` would replace (0 when there is none), for the quota
 * reservation taken before an upload's body is read. The backend's local state answers without
 * a round trip to the store; only a bucket it does not track yet costs a HEAD.
 */
export async function replacedSize(backend: StorageBackend, bucket: string, key: string): Promise<number> {
  const known = await backend.local.storedSize(bucket, key);
  if (known !== undefined) return known;
  try {
    return (await backend.headObject({ bucket, key })).size;
  } catch (error) {
    if (isS3Error(error, 'NoSuchKey')) return 0;
    throw error;
  }
}
