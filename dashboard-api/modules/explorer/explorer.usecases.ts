import type { ObjectsService } from '../../../src/objects/objects.service.ts';
import type { Principal } from '../../../src/objects/principal.ts';
import { decodeCursor, encodeCursor } from '../files/file-ids.ts';
import { invalidCursorError } from '../files/files.errors.ts';
import { fileInfo } from '../files/files.usecases.ts';

export type ExplorerUsecases = ReturnType<typeof createExplorerUsecases>;

export type ExplorerEntry = { key: string; type: 'directory' } | { key: string; type: 'file'; id: string; size: number; contentType: string; lastModified: Date };

/**
 * The storage explorer: one "folder" of a bucket at a time, that is the delimiter listing with `/`
 * under `prefix`, through the objects service (the signed-in user's own buckets). Folders come
 * first, then files, each in key order; a large folder is paged with an opaque cursor (the last
 * entry of the page).
 */
export function createExplorerUsecases(deps: { objects: ObjectsService }) {
  const { objects } = deps;
  return {
    async browse(principal: Principal, input: { bucket: string; prefix: string; limit: number; cursor?: string; signal?: AbortSignal }) {
      const startAfter = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
      if (input.cursor !== undefined && startAfter === undefined) throw invalidCursorError();
      // Refusals (another account's bucket is `buckets.not_found`) and outages are named by the dashboard's one JSON mapper.
      const listed = await objects.listObjectsWithInfo(principal, {
        bucket: input.bucket,
        prefix: input.prefix,
        delimiter: '/',
        startAfter,
        maxKeys: input.limit,
        signal: input.signal,
      });
      const { page, bucketRow } = listed;
      const files = listed.objects.map((info) => fileInfo(bucketRow, info));
      const entries: ExplorerEntry[] = [
        ...page.commonPrefixes.map((key) => ({ key, type: 'directory' as const })),
        ...files.map((file) => ({ key: file.key, type: 'file' as const, id: file.id, size: file.size, contentType: file.contentType, lastModified: file.updatedAt })),
      ];
      return {
        files: entries,
        prefix: input.prefix,
        bucket: bucketRow.name,
        hasMore: page.isTruncated,
        cursor: page.isTruncated && page.nextMarker !== undefined ? encodeCursor(page.nextMarker) : null,
      };
    },
  };
}
