import { bucketNotFoundError } from '../../../src/buckets/buckets.errors.ts';
import type { BucketsUsecases } from '../../../src/buckets/buckets.usecases.ts';
import type { StorageBackend } from '../../../src/storage/storage-backend.ts';
import { decodeCursor, encodeCursor } from '../files/file-ids.ts';
import { invalidCursorError } from '../files/files.errors.ts';
import { describeObjects } from '../files/files.usecases.ts';

export type ExplorerUsecases = ReturnType<typeof createExplorerUsecases>;

export type ExplorerEntry =
  | { key: string; type: 'directory' }
  | { key: string; type: 'file'; id: string; size: number; contentType: string; lastModified: Date };

/**
 * The storage explorer: one "folder" of a bucket at a time, that is the backend's delimiter
 * listing with `/` under `prefix`. Folders come first, then files, each in key order; a large
 * folder is paged with an opaque cursor (the last entry of the page).
 */
export function createExplorerUsecases(deps: { backend: StorageBackend; buckets: BucketsUsecases }) {
  const { backend, buckets } = deps;
  return {
    async browse(userId: string, input: { bucket: string; prefix: string; limit: number; cursor?: string }) {
      const startAfter = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
      if (input.cursor !== undefined && startAfter === undefined) throw invalidCursorError();
      const resolution = buckets.resolve(userId, input.bucket);
      // Another account's bucket of this name is, for this account, not there.
      if (resolution.kind !== 'owned') throw bucketNotFoundError(input.bucket);
      const bucket = resolution.bucket;
      const page = await backend.listObjects({ bucket: bucket.backendName, prefix: input.prefix || undefined, delimiter: '/', startAfter, maxKeys: input.limit });
      const files = await describeObjects(backend, bucket, page.contents);
      const entries: ExplorerEntry[] = [
        ...page.commonPrefixes.map((key) => ({ key, type: 'directory' as const })),
        ...files.map((file) => ({ key: file.key, type: 'file' as const, id: file.id, size: file.size, contentType: file.contentType, lastModified: file.updatedAt })),
      ];
      return {
        files: entries,
        prefix: input.prefix,
        bucket: bucket.name,
        hasMore: page.isTruncated,
        cursor: page.isTruncated && page.nextMarker !== undefined ? encodeCursor(page.nextMarker) : null,
      };
    },
  };
}
