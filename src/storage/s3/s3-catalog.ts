import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import type { BucketUsage, ObjectChecksum, ObjectPart, UsageChange, WriteConditions } from '../storage-backend.ts';
import { COMPLETED_UPLOAD_RETENTION_MS, COMPLETED_UPLOADS_SCHEMA, prepareCompletedUploadStatements } from '../completed-uploads.ts';
import { decodeParts, encodeParts } from '../part-number.ts';
import { checkWriteConditions, conditionalConflict } from '../conditions.ts';
import type { CommitFacts, JournalHook } from '../../events/events.ts';
import { createJournalTable } from '../journal-table.ts';

/**
 * What the proxy backend keeps beside the remote store, in its own SQLite file:
 * - per-bucket usage counters and object sizes, so quotas cost a local read instead of a listing
 *   of the whole remote bucket after every upload;
 * - the additional checksums (CRC32, CRC32C, SHA1, SHA256, CRC64NVME) the gateway verified, which
 *   many S3 stores (Ceph RGW before Squid, Garage) neither store nor return.
 * - the journal of domain events (journal-table.ts), written in the transaction that records a
 *   change right after the store confirmed it.
 * Objects changed directly in the backend, behind the gateway, are not seen here: a checksum is
 * returned only while the object's ETag still matches, and `usage reconcile` recounts from a
 * listing of the backend.
 */
export function openS3Catalog(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS bucket_usage (
      bucket TEXT PRIMARY KEY,
      bytes INTEGER NOT NULL DEFAULT 0,
      objects INTEGER NOT NULL DEFAULT 0,
      multipart_bytes INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS objects (
      bucket TEXT NOT NULL,
      key BLOB NOT NULL,
      size INTEGER NOT NULL,
      etag TEXT NOT NULL,
      checksum_algorithm TEXT,
      checksum_value TEXT,
      checksum_type TEXT,
      PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS uploads (
      upload_id TEXT PRIMARY KEY,
      bucket TEXT NOT NULL,
      checksum_algorithm TEXT,
      tags TEXT,
      initiated INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS uploads_bucket ON uploads (bucket);
    CREATE TABLE IF NOT EXISTS parts (
      upload_id TEXT NOT NULL,
      part_number INTEGER NOT NULL,
      size INTEGER NOT NULL,
      etag TEXT NOT NULL,
      checksum_value TEXT,
      PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID;
    -- Completions remembered for a while, so a retried completion answers as the first did (completed-uploads.ts).
    ${COMPLETED_UPLOADS_SCHEMA}
  `);
  // The part layout of objects completed through the gateway (GetObjectAttributes, ?partNumber=):
  // the store does not tell it. Added to catalogs created before it.
  const objectColumns = db.prepare('PRAGMA table_info(objects)').all() as { name: string }[];
  if (!objectColumns.some((column) => column.name === 'parts')) db.exec('ALTER TABLE objects ADD COLUMN parts TEXT');

  // Keys claimed by conditional writes being committed (see claimKey); a claim of a process that
  // died mid-commit lapses at `expires_at` (epoch ms).
  db.exec(`
    CREATE TABLE IF NOT EXISTS write_claims (
      bucket TEXT NOT NULL,
      key BLOB NOT NULL,
      claim TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
  `);

  const journal = createJournalTable(db);
  const keyBytes = (key: string) => Buffer.from(key, 'utf8');
  // Read-then-write transactions start IMMEDIATE, so another process's write makes them wait
  // (busy_timeout) instead of failing with SQLITE_BUSY on the lock upgrade.
  const immediate = <A extends unknown[], R>(fn: (...args: A) => R) => db.transaction(fn).immediate as unknown as (...args: A) => R;
  const statements = {
    usage: db.prepare<[string], { bytes: number; objects: number; multipart_bytes: number }>('SELECT bytes, objects, multipart_bytes FROM bucket_usage WHERE bucket = ?'),
    ensureBucket: db.prepare('INSERT OR IGNORE INTO bucket_usage (bucket) VALUES (?)'),
    setUsage: db.prepare('INSERT OR REPLACE INTO bucket_usage (bucket, bytes, objects, multipart_bytes) VALUES (?, ?, ?, ?)'),
    addUsage: db.prepare('UPDATE bucket_usage SET bytes = bytes + ?, objects = objects + ?, multipart_bytes = multipart_bytes + ? WHERE bucket = ?'),
    object: db.prepare<
      [string, Buffer],
      { size: number; etag: string; checksum_algorithm: string | null; checksum_value: string | null; checksum_type: string | null; parts: string | null }
    >('SELECT size, etag, checksum_algorithm, checksum_value, checksum_type, parts FROM objects WHERE bucket = ? AND key = ?'),
    setParts: db.prepare('UPDATE objects SET parts = ? WHERE bucket = ? AND key = ?'),
    ...prepareCompletedUploadStatements(db),
    putObject: db.prepare('INSERT OR REPLACE INTO objects (bucket, key, size, etag, checksum_algorithm, checksum_value, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    deleteObject: db.prepare('DELETE FROM objects WHERE bucket = ? AND key = ?'),
    upload: db.prepare<[string], { bucket: string; checksum_algorithm: string | null; tags: string | null }>(
      'SELECT bucket, checksum_algorithm, tags FROM uploads WHERE upload_id = ?',
    ),
    putUpload: db.prepare('INSERT OR REPLACE INTO uploads (upload_id, bucket, checksum_algorithm, initiated, tags) VALUES (?, ?, ?, ?, ?)'),
    initiated: db.prepare<[string], { initiated: number }>('SELECT initiated FROM uploads WHERE upload_id = ?'),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE upload_id = ?'),
    countUploads: db.prepare<[string], { count: number }>('SELECT COUNT(*) AS count FROM uploads WHERE bucket = ?'),
    part: db.prepare<[string, number], { size: number }>('SELECT size FROM parts WHERE upload_id = ? AND part_number = ?'),
    parts: db.prepare<[string], { part_number: number; size: number; etag: string; checksum_value: string | null }>(
      'SELECT part_number, size, etag, checksum_value FROM parts WHERE upload_id = ? ORDER BY part_number',
    ),
    putPart: db.prepare('INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, checksum_value) VALUES (?, ?, ?, ?, ?)'),
    partsTotal: db.prepare<[string], { total: number | null }>('SELECT SUM(size) AS total FROM parts WHERE upload_id = ?'),
    deleteParts: db.prepare('DELETE FROM parts WHERE upload_id = ?'),
    dropBucketObjects: db.prepare('DELETE FROM objects WHERE bucket = ?'),
    dropBucketParts: db.prepare('DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?)'),
    dropBucketUploads: db.prepare('DELETE FROM uploads WHERE bucket = ?'),
    dropBucketUsage: db.prepare('DELETE FROM bucket_usage WHERE bucket = ?'),
    claim: db.prepare<[string, Buffer], { expires_at: number }>('SELECT expires_at FROM write_claims WHERE bucket = ? AND key = ?'),
    putClaim: db.prepare('INSERT OR REPLACE INTO write_claims (bucket, key, claim, expires_at) VALUES (?, ?, ?, ?)'),
    deleteClaim: db.prepare('DELETE FROM write_claims WHERE bucket = ? AND key = ? AND claim = ?'),
  };

  const objectOf = (bucket: string, key: string): { size: number; etag: string; checksum?: ObjectChecksum; parts?: ObjectPart[] } | undefined => {
    const row = statements.object.get(bucket, keyBytes(key));
    if (!row) return undefined;
    const checksum: ObjectChecksum | undefined =
      row.checksum_algorithm && row.checksum_value
        ? { algorithm: row.checksum_algorithm as ChecksumAlgorithm, value: row.checksum_value, type: row.checksum_type as ObjectChecksum['type'] }
        : undefined;
    const parts = decodeParts(row.parts, checksum);
    return { size: row.size, etag: row.etag, ...(checksum ? { checksum } : {}), ...(parts ? { parts } : {}) };
  };

  /** Records an object version; returns the usage change it made (for the write's admission). */
  const recordObject = (bucket: string, key: string, size: number, etag: string, checksum: ObjectChecksum | undefined, hook?: JournalHook, contentType?: string): UsageChange => {
    const previous = statements.object.get(bucket, keyBytes(key));
    statements.ensureBucket.run(bucket);
    statements.putObject.run(bucket, keyBytes(key), size, etag, checksum?.algorithm ?? null, checksum?.value ?? null, checksum?.type ?? null);
    const change = { bytes: size - (previous?.size ?? 0), objects: previous ? 0 : 1 };
    statements.addUsage.run(change.bytes, change.objects, 0, bucket);
    // `replaced` as far as the catalog knows: an object written behind the gateway is not seen.
    journal.record(hook, { key, replaced: previous !== undefined, size, etag, ...(contentType !== undefined ? { contentType } : {}) });
    return change;
  };

  /** Returns the bytes of parts that stopped counting. */
  const dropUpload = (uploadId: string, bucket: string): number => {
    const total = statements.partsTotal.get(uploadId)?.total ?? 0;
    statements.deleteParts.run(uploadId);
    statements.deleteUpload.run(uploadId);
    statements.addUsage.run(0, 0, -total, bucket);
    return total;
  };

  return {
    usage(bucket: string): BucketUsage | undefined {
      const row = statements.usage.get(bucket);
      return row && { bytes: row.bytes, objects: row.objects, multipartBytes: row.multipart_bytes };
    },
    setUsage: (bucket: string, usage: BucketUsage) => void statements.setUsage.run(bucket, usage.bytes, usage.objects, usage.multipartBytes),
    ensureBucket: (bucket: string) => void statements.ensureBucket.run(bucket),
    dropBucket: immediate((bucket: string) => {
      statements.dropBucketObjects.run(bucket);
      statements.dropBucketParts.run(bucket);
      statements.dropBucketUploads.run(bucket);
      statements.dropBucketUsage.run(bucket);
      statements.forgetCompletionsOfBucket.run(bucket);
    }),

    object: objectOf,
    /** The checksum stored for this object, when the backend's object still has the ETag it was stored with. */
    checksumFor(bucket: string, key: string, etag: string): ObjectChecksum | undefined {
      const known = objectOf(bucket, key);
      return known?.etag === etag ? known.checksum : undefined;
    },
    recordObject: immediate(recordObject),
    /**
     * `hook` is called once per key the catalog knew (the store reports every key deleted), and
     * with `journalMissing` also for the others (replaced: false).
     */
    forgetObjects: immediate((bucket: string, keys: string[], hook?: JournalHook, journalMissing = false) => {
      for (const key of keys) {
        const previous = statements.object.get(bucket, keyBytes(key));
        if (!previous) {
          if (journalMissing) journal.record(hook, { key, replaced: false });
          continue;
        }
        journal.record(hook, { key, replaced: true, size: previous.size, etag: previous.etag });
        statements.deleteObject.run(bucket, keyBytes(key));
        statements.addUsage.run(-previous.size, -1, 0, bucket);
      }
    }),

    /** `tags` are kept to apply after completion: not every store honours tagging on CreateMultipartUpload. */
    recordUpload: (uploadId: string, bucket: string, algorithm: ChecksumAlgorithm | undefined, tags: Record<string, string> | undefined) =>
      void statements.putUpload.run(uploadId, bucket, algorithm ?? null, Date.now(), tags && Object.keys(tags).length > 0 ? JSON.stringify(tags) : null),
    uploadInitiated: (uploadId: string): number | undefined => statements.initiated.get(uploadId)?.initiated,
    /** Uploads in progress the catalog knows of (started through the gateway, or with a part recorded). */
    countUploads: (bucket: string): number => statements.countUploads.get(bucket)?.count ?? 0,
    partSize: (uploadId: string, partNumber: number): number | undefined => statements.part.get(uploadId, partNumber)?.size,
    partsTotal: (uploadId: string): number => statements.partsTotal.get(uploadId)?.total ?? 0,
    upload: (uploadId: string) => statements.upload.get(uploadId),
    parts: (uploadId: string) => statements.parts.all(uploadId),
    recordPart: immediate((uploadId: string, bucket: string, partNumber: number, size: number, etag: string, checksumValue: string | undefined): UsageChange => {
      // Parts of uploads started elsewhere are counted too: they occupy the backend all the same.
      if (!statements.upload.get(uploadId)) statements.putUpload.run(uploadId, bucket, null, Date.now(), null);
      const previous = statements.part.get(uploadId, partNumber);
      statements.ensureBucket.run(bucket);
      statements.putPart.run(uploadId, partNumber, size, etag, checksumValue ?? null);
      statements.addUsage.run(0, 0, size - (previous?.size ?? 0), bucket);
      return { bytes: size - (previous?.size ?? 0), objects: 0 };
    }),
    /** Returns the usage change: the object's growth minus the parts it retires. */
    completeUpload: immediate(
      (
        uploadId: string,
        bucket: string,
        key: string,
        size: number,
        etag: string,
        checksum: ObjectChecksum | undefined,
        hook?: JournalHook,
        contentType?: string,
        // The object's part layout and the completion's remembered answer (completed-uploads.ts).
        completed?: { parts: ObjectPart[]; completion: string },
      ): UsageChange => {
        const retired = dropUpload(uploadId, bucket);
        const change = recordObject(bucket, key, size, etag, checksum, hook, contentType);
        if (completed) {
          const now = Date.now();
          statements.setParts.run(encodeParts(completed.parts), bucket, keyBytes(key));
          statements.forgetCompletionsBefore.run(now - COMPLETED_UPLOAD_RETENTION_MS);
          statements.rememberCompletion.run(uploadId, bucket, keyBytes(key), now, completed.completion);
        }
        return { bytes: change.bytes - retired, objects: change.objects };
      },
    ),
    /** The remembered answer of upload `uploadId`'s completion, while it is kept. */
    completion: (uploadId: string, bucket: string, key: string): string | undefined =>
      statements.completion.get(uploadId, bucket, keyBytes(key), Date.now() - COMPLETED_UPLOAD_RETENTION_MS),
    abortUpload: immediate((uploadId: string, bucket: string) => void dropUpload(uploadId, bucket)),
    /** Journals a change the catalog keeps nothing about (tagging), right after the store confirmed it. */
    journalChange: immediate((hook: JournalHook | undefined, facts: Omit<CommitFacts, 'size' | 'etag'> & { bucket: string }) => {
      const known = statements.object.get(facts.bucket, keyBytes(facts.key));
      journal.record(hook, { key: facts.key, replaced: facts.replaced, ...(known ? { size: known.size, etag: known.etag } : {}) });
    }),
    /**
     * Claims `key` for a conditional write about to be committed in the store, or throws:
     * ConditionalRequestConflict while another live claim holds the key, PreconditionFailed or
     * NoSuchKey when `conditions` fail against the object the catalog records (or against
     * `current`, what a HEAD found, for a bucket the catalog does not track). One IMMEDIATE
     * transaction, so of racing conditional writes (any process over this catalog) one claims and
     * the others see its claim or, once it recorded its object, that object. Returns the claim id
     * for `releaseClaim`, called after the write was recorded (or failed).
     */
    claimKey: immediate((bucket: string, key: string, conditions: WriteConditions, now: number, ttlMs: number, current?: { etag: string } | null): string => {
      const held = statements.claim.get(bucket, keyBytes(key));
      if (held && held.expires_at > now) throw conditionalConflict(conditions, key);
      checkWriteConditions(current === undefined ? statements.object.get(bucket, keyBytes(key)) : (current ?? undefined), conditions, key);
      const claim = randomUUID();
      statements.putClaim.run(bucket, keyBytes(key), claim, now + ttlMs);
      return claim;
    }),
    releaseClaim: (bucket: string, key: string, claim: string) => void statements.deleteClaim.run(bucket, keyBytes(key), claim),
    eventJournal: journal,

    close: () => db.close(),
  };
}

export type S3Catalog = ReturnType<typeof openS3Catalog>;
