import type Database from 'better-sqlite3';
import type { ObjectChecksum, WriteResult } from './storage-backend.ts';
import { bareEtag } from './multipart-rules.ts';

/**
 * Completed multipart uploads are remembered for a while (both backends, in their local
 * database, written in the completion's own transaction), so a client that retries a
 * CompleteMultipartUpload whose answer it lost (a timeout, a dropped connection) gets 200 with
 * the same ETag, as from AWS, instead of NoSuchUpload. A retry with another part list is not
 * the same request: NoSuchUpload.
 */
export const COMPLETED_UPLOAD_RETENTION_MS = 60 * 60 * 1000;

/**
 * The table completions are remembered in, in the backend's own SQLite database (the fs index,
 * the s3 catalog's SQLite file; s3-catalog.pg.ts has the PostgreSQL twin): run with its schema,
 * before `prepareCompletedUploadStatements`.
 */
export const COMPLETED_UPLOADS_SCHEMA = `
CREATE TABLE IF NOT EXISTS completed_uploads (
  upload_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  completed_at INTEGER NOT NULL,
  completion TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads (completed_at);
`;

/** The statements on that table; `rememberCompletion` belongs inside the completion's own transaction. */
export function prepareCompletedUploadStatements(db: Database.Database) {
  return {
    rememberCompletion: db.prepare<[string, string, Buffer, number, string]>(
      'INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, completed_at, completion) VALUES (?, ?, ?, ?, ?)',
    ),
    forgetCompletionsBefore: db.prepare<[number]>('DELETE FROM completed_uploads WHERE completed_at < ?'),
    forgetCompletionsOfBucket: db.prepare<[string]>('DELETE FROM completed_uploads WHERE bucket = ?'),
    completion: db
      .prepare<[string, string, Buffer, number], string>('SELECT completion FROM completed_uploads WHERE upload_id = ? AND bucket = ? AND key = ? AND completed_at >= ?')
      .pluck(),
  };
}

/** What is kept of a completion: the part list it was asked with (number, bare lower-case ETag) and its answer. */
export interface RememberedCompletion {
  parts: [number, string][];
  result: { etag: string; size: number; lastModified: number; checksum?: ObjectChecksum; versionId?: string };
}

export function encodeCompletion(parts: readonly { partNumber: number; etag: string }[], result: WriteResult): string {
  const remembered: RememberedCompletion = {
    parts: parts.map((part) => [part.partNumber, bareEtag(part.etag).toLowerCase()]),
    result: {
      etag: result.etag,
      size: result.size,
      lastModified: result.lastModified.getTime(),
      ...(result.checksum ? { checksum: result.checksum } : {}),
      // A retried completion in a versioned bucket names the version the first one created.
      ...(result.versionId !== undefined ? { versionId: result.versionId } : {}),
    },
  };
  return JSON.stringify(remembered);
}

/** The remembered answer when `requested` is the part list the upload was completed with; else undefined. */
export function replayCompletion(encoded: string | undefined, requested: readonly { partNumber: number; etag: string }[]): WriteResult | undefined {
  if (encoded === undefined) return undefined;
  const remembered = JSON.parse(encoded) as RememberedCompletion;
  if (remembered.parts.length !== requested.length) return undefined;
  for (let index = 0; index < requested.length; index++) {
    const [partNumber, etag] = remembered.parts[index]!;
    if (requested[index]!.partNumber !== partNumber || bareEtag(requested[index]!.etag).toLowerCase() !== etag) return undefined;
  }
  const { result } = remembered;
  return {
    etag: result.etag,
    size: result.size,
    lastModified: new Date(result.lastModified),
    ...(result.checksum ? { checksum: result.checksum } : {}),
    ...(result.versionId !== undefined ? { versionId: result.versionId } : {}),
  };
}
