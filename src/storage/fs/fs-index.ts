/**
 * The SQLite index of the filesystem backend: buckets, objects (with their list of data-file
 * segments), multipart uploads and parts. Object keys are stored as BLOBs of their UTF-8 bytes,
 * so SQLite's memcmp ordering is exactly S3's UTF-8 binary order. Keys never become paths.
 */
import Database from 'better-sqlite3';
import { createGroupSync, type GroupSync } from './group-sync.ts';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import type { ObjectChecksum, ObjectMetadata, ObjectPart, UsageChange } from '../storage-backend.ts';
import { COMPLETED_UPLOAD_RETENTION_MS, COMPLETED_UPLOADS_SCHEMA, prepareCompletedUploadStatements } from '../completed-uploads.ts';
import { decodeParts, encodeParts } from '../part-number.ts';
import type { ScanCursor } from './key-range.ts';
import { storageError } from './disk-space.ts';
import type { JournalHook } from '../../events/events.ts';
import { createJournalTable } from '../journal-table.ts';
import type { WriteConditions } from '../storage-backend.ts';
import { checkWriteConditions } from '../conditions.ts';

/** A contiguous run of object bytes stored in one data file. */
export interface Segment {
  file: string;
  size: number;
}

export interface ObjectRecord {
  bucket: string;
  key: Buffer;
  size: number;
  etag: string;
  lastModified: number;
  metadata: ObjectMetadata;
  tags: Record<string, string>;
  checksum?: ObjectChecksum;
  partsCount?: number;
  /** A multipart object's parts in order (GetObjectAttributes, `?partNumber=`); rows older than the column have none. */
  parts?: ObjectPart[];
  segments: Segment[];
  /** Bytes of a small object kept in the index row itself (then `segments` is empty). */
  inline?: Buffer;
}

export interface ObjectListRow {
  key: Buffer;
  size: number;
  etag: string;
  lastModified: number;
}

export interface UploadRecord {
  uploadId: string;
  bucket: string;
  key: Buffer;
  initiated: number;
  metadata: ObjectMetadata;
  tags: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
}

export interface UploadListRow {
  key: Buffer;
  uploadId: string;
  initiated: number;
}

export interface PartRecord {
  uploadId: string;
  partNumber: number;
  etag: string;
  size: number;
  lastModified: number;
  checksum?: ObjectChecksum;
  /** Null for an empty part (no data file). */
  file: string | null;
}

/**
 * Thrown inside a commit transaction (rolling it back) when the write would change usage by more
 * than it was admitted for: what it replaces changed since the admission was measured. The
 * backend admits `change` and tries again.
 */
export class AdmissionStale extends Error {
  constructor(readonly change: UsageChange) {
    super('the write changes usage by more than it was admitted for');
    this.name = 'AdmissionStale';
  }
}

function checkAdmitted(change: UsageChange, admitted: UsageChange | undefined): void {
  if (admitted && (change.bytes > admitted.bytes || change.objects > admitted.objects)) throw new AdmissionStale(change);
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS buckets (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  -- Usage, maintained in the same transaction as every change: exact by construction.
  bytes INTEGER NOT NULL DEFAULT 0,
  objects INTEGER NOT NULL DEFAULT 0,
  multipart_bytes INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  tag_count INTEGER NOT NULL DEFAULT 0,
  parts_count INTEGER,
  metadata TEXT NOT NULL,
  tags TEXT,
  checksum TEXT,
  segments TEXT NOT NULL,
  inline_data BLOB,
  parts TEXT,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

-- Completions remembered for COMPLETED_UPLOAD_RETENTION_MS, so a retried completion answers as the first did.
${COMPLETED_UPLOADS_SCHEMA}
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  initiated INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT,
  checksum_algorithm TEXT
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);

CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  etag TEXT NOT NULL,
  size INTEGER NOT NULL,
  last_modified INTEGER NOT NULL,
  checksum TEXT,
  file TEXT,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
`;

interface ObjectRow {
  bucket: string;
  key: Buffer;
  size: number;
  etag: string;
  last_modified: number;
  tag_count: number;
  parts_count: number | null;
  metadata: string;
  tags: string | null;
  checksum: string | null;
  segments: string;
  inline_data: Buffer | null;
  parts: string | null;
}

interface UploadRow {
  upload_id: string;
  bucket: string;
  key: Buffer;
  initiated: number;
  metadata: string;
  tags: string | null;
  checksum_algorithm: string | null;
}

interface PartRow {
  upload_id: string;
  part_number: number;
  etag: string;
  size: number;
  last_modified: number;
  checksum: string | null;
  file: string | null;
}

function parseJson<T>(value: string | null, fallback: T): T {
  return value === null ? fallback : (JSON.parse(value) as T);
}

/** Segments are stored compactly as [[file, size], …]. */
function encodeSegments(segments: Segment[]): string {
  return JSON.stringify(segments.map((s) => [s.file, s.size]));
}

function decodeSegments(value: string): Segment[] {
  return (JSON.parse(value) as [string, number][]).map(([file, size]) => ({ file, size }));
}

function toObjectRecord(row: ObjectRow): ObjectRecord {
  const checksum = parseJson<ObjectChecksum | undefined>(row.checksum, undefined);
  return {
    bucket: row.bucket,
    key: row.key,
    size: row.size,
    etag: row.etag,
    lastModified: row.last_modified,
    metadata: JSON.parse(row.metadata) as ObjectMetadata,
    tags: parseJson(row.tags, {}),
    checksum,
    partsCount: row.parts_count ?? undefined,
    parts: decodeParts(row.parts, checksum),
    segments: decodeSegments(row.segments),
    inline: row.inline_data ?? undefined,
  };
}

function toUploadRecord(row: UploadRow): UploadRecord {
  return {
    uploadId: row.upload_id,
    bucket: row.bucket,
    key: row.key,
    initiated: row.initiated,
    metadata: JSON.parse(row.metadata) as ObjectMetadata,
    tags: parseJson(row.tags, {}),
    checksumAlgorithm: (row.checksum_algorithm ?? undefined) as ChecksumAlgorithm | undefined,
  };
}

function toPartRecord(row: PartRow): PartRecord {
  return {
    uploadId: row.upload_id,
    partNumber: row.part_number,
    etag: row.etag,
    size: row.size,
    lastModified: row.last_modified,
    checksum: parseJson<ObjectChecksum | undefined>(row.checksum, undefined),
    file: row.file,
  };
}

function segmentFiles(json: string): string[] {
  return decodeSegments(json).map((s) => s.file);
}

function objectCacheKey(bucket: string, key: Buffer): string {
  // latin1 maps bytes 1:1 to code units; bucket names never contain NUL.
  return `${bucket}\0${key.toString('latin1')}`;
}

/** An LRU bounded by entry count and by approximate bytes (inline object data dominates). */
class ByteBoundedLru<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * All statements are prepared once. Every mutating method is one transaction and returns the data
 * files that the committed change orphaned: the caller unlinks them only after the commit.
 */
export class FsIndex {
  private readonly db: Database.Database;
  private readonly stmts;
  /**
   * Recently read object rows. Every write path below drops the entry first; commits of other
   * processes sharing the DATA_DIR move `PRAGMA data_version` (never this connection's own), and
   * the cache is emptied when it moved, so it is never stale; a hot small object is served
   * without reading its row.
   */
  private readonly objectCache = new ByteBoundedLru<ObjectRecord>(20_000, 64 * 1024 * 1024);
  private cachedVersion = -1;
  /**
   * Listing work done so far: range scans started and rows stepped. Deterministic (unlike time),
   * so tests can prove a page costs O(entries) index work.
   */
  readonly listingWork = { scans: 0, rows: 0 };
  /** Domain events journaled in the same transactions as the changes (src/storage/journal-table.ts). */
  readonly journal: ReturnType<typeof createJournalTable>;

  /** Set when `durable`: shares one WAL fsync between the commits made while the previous one ran. */
  private readonly groupSync: GroupSync | undefined;

  /**
   * `durable`: every commit is on disk before `flushed()` resolves (small objects live in the
   * index, so it holds data too), by group commit (group-sync.ts) rather than a flush inside
   * each commit.
   */
  constructor(file: string, options: { durable: boolean } = { durable: true }) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    if (options.durable) this.groupSync = createGroupSync(`${file}-wal`);
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.journal = createJournalTable(this.db);
    const db = this.db;
    this.stmts = {
      ping: db.prepare('SELECT 1 AS ok'),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      bucketExists: db.prepare('SELECT 1 FROM buckets WHERE name = ?').pluck(),
      insertBucket: db.prepare('INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?, ?)'),
      deleteBucket: db.prepare('DELETE FROM buckets WHERE name = ?'),
      anyObject: db.prepare('SELECT 1 FROM objects WHERE bucket = ? LIMIT 1').pluck(),
      getObject: db.prepare('SELECT * FROM objects WHERE bucket = ? AND key = ?'),
      getObjectSegments: db.prepare('SELECT segments, size, etag FROM objects WHERE bucket = ? AND key = ?'),
      getObjectFacts: db.prepare('SELECT size, etag, metadata FROM objects WHERE bucket = ? AND key = ?'),
      addUsage: db.prepare('UPDATE buckets SET bytes = bytes + ?, objects = objects + ?, multipart_bytes = multipart_bytes + ? WHERE name = ?'),
      usage: db.prepare('SELECT bytes, objects, multipart_bytes FROM buckets WHERE name = ?'),
      uploadBytes: db.prepare('SELECT COALESCE(SUM(size), 0) FROM parts WHERE upload_id = ?').pluck(),
      countUploads: db.prepare('SELECT COUNT(*) FROM uploads WHERE bucket = ?').pluck(),
      upsertObject: db.prepare(
        `INSERT OR REPLACE INTO objects (bucket, key, size, etag, last_modified, tag_count, parts_count, metadata, tags, checksum, segments, inline_data, parts)
         VALUES (@bucket, @key, @size, @etag, @last_modified, @tag_count, @parts_count, @metadata, @tags, @checksum, @segments, @inline_data, @parts)`,
      ),
      deleteObject: db.prepare('DELETE FROM objects WHERE bucket = ? AND key = ?'),
      setTags: db.prepare('UPDATE objects SET tags = ?, tag_count = ? WHERE bucket = ? AND key = ?'),
      listFromIncl: db.prepare('SELECT key, size, etag, last_modified FROM objects WHERE bucket = ? AND key >= ? ORDER BY key LIMIT ?'),
      listFromExcl: db.prepare('SELECT key, size, etag, last_modified FROM objects WHERE bucket = ? AND key > ? ORDER BY key LIMIT ?'),
      listFromInclUpper: db.prepare('SELECT key, size, etag, last_modified FROM objects WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?'),
      listFromExclUpper: db.prepare('SELECT key, size, etag, last_modified FROM objects WHERE bucket = ? AND key > ? AND key < ? ORDER BY key LIMIT ?'),
      insertUpload: db.prepare(
        `INSERT INTO uploads (upload_id, bucket, key, initiated, metadata, tags, checksum_algorithm)
         VALUES (@upload_id, @bucket, @key, @initiated, @metadata, @tags, @checksum_algorithm)`,
      ),
      getUpload: db.prepare('SELECT * FROM uploads WHERE upload_id = ?'),
      deleteUpload: db.prepare('DELETE FROM uploads WHERE upload_id = ?'),
      uploadsOfBucket: db.prepare('SELECT upload_id FROM uploads WHERE bucket = ?').pluck(),
      uploadsSameKeyAfter: db.prepare('SELECT key, upload_id, initiated FROM uploads WHERE bucket = ? AND key = ? AND upload_id > ? ORDER BY upload_id LIMIT ?'),
      uploadsFromIncl: db.prepare('SELECT key, upload_id, initiated FROM uploads WHERE bucket = ? AND key >= ? ORDER BY key, upload_id LIMIT ?'),
      uploadsFromExcl: db.prepare('SELECT key, upload_id, initiated FROM uploads WHERE bucket = ? AND key > ? ORDER BY key, upload_id LIMIT ?'),
      uploadsFromInclUpper: db.prepare('SELECT key, upload_id, initiated FROM uploads WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key, upload_id LIMIT ?'),
      uploadsFromExclUpper: db.prepare('SELECT key, upload_id, initiated FROM uploads WHERE bucket = ? AND key > ? AND key < ? ORDER BY key, upload_id LIMIT ?'),
      getPart: db.prepare('SELECT * FROM parts WHERE upload_id = ? AND part_number = ?'),
      upsertPart: db.prepare(
        `INSERT OR REPLACE INTO parts (upload_id, part_number, etag, size, last_modified, checksum, file)
         VALUES (@upload_id, @part_number, @etag, @size, @last_modified, @checksum, @file)`,
      ),
      partsOfUpload: db.prepare('SELECT * FROM parts WHERE upload_id = ? ORDER BY part_number'),
      partFilesOfUpload: db.prepare('SELECT file FROM parts WHERE upload_id = ? AND file IS NOT NULL').pluck(),
      listParts: db.prepare('SELECT * FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?'),
      deleteParts: db.prepare('DELETE FROM parts WHERE upload_id = ?'),
      ...prepareCompletedUploadStatements(db),
    };
  }

  private migrate() {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`index schema version ${version} is newer than this build supports (${SCHEMA_VERSION})`);
    }
    this.db.exec(SCHEMA);
    // Added without a version bump (older builds read and write the table unchanged): objects'
    // part layout, null for rows written before it.
    const columns = this.db.prepare('PRAGMA table_info(objects)').all() as { name: string }[];
    if (!columns.some((column) => column.name === 'parts')) this.db.exec('ALTER TABLE objects ADD COLUMN parts TEXT');
    // Future migrations: `if (version < 2) { … }` inside a transaction, then bump user_version.
    if (version < SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  close() {
    if (this.db.open) this.db.close();
    void this.groupSync?.close();
  }

  /**
   * Resolves once every commit made so far is durable; undefined when the index is not durable
   * (FS_FSYNC=false). A write awaits it before it is acknowledged and before it unlinks the files
   * its commit orphaned (a crash must not leave the old row pointing at a deleted file).
   */
  flushed(): Promise<void> | undefined {
    return this.groupSync?.flushed();
  }

  ping(): boolean {
    return this.stmts.ping.get() !== undefined;
  }

  // ---- buckets ----

  bucketExists(bucket: string): boolean {
    return this.stmts.bucketExists.get(bucket) !== undefined;
  }

  /** False when it already existed. */
  createBucket(bucket: string, now: number): boolean {
    try {
      const created = this.stmts.insertBucket.run(bucket, now).changes === 1;
      this.groupSync?.committed();
      return created;
    } catch (error) {
      throw storageError(error);
    }
  }

  /** Deletes the bucket and its uploads; returns the orphaned part files. */
  deleteBucket = this.tx((bucket: string): { result: 'ok' | 'missing' | 'not-empty'; orphans: string[] } => {
    if (!this.bucketExists(bucket)) return { result: 'missing', orphans: [] };
    if (this.stmts.anyObject.get(bucket) !== undefined) return { result: 'not-empty', orphans: [] };
    const orphans: string[] = [];
    for (const uploadId of this.stmts.uploadsOfBucket.all(bucket) as string[]) {
      orphans.push(...(this.stmts.partFilesOfUpload.all(uploadId) as string[]));
      this.stmts.deleteParts.run(uploadId);
      this.stmts.deleteUpload.run(uploadId);
    }
    this.stmts.forgetCompletionsOfBucket.run(bucket);
    this.stmts.deleteBucket.run(bucket);
    return { result: 'ok', orphans };
  });

  // ---- objects ----

  /** The returned record may be shared with later callers: treat it as read-only. */
  getObject(bucket: string, key: Buffer): ObjectRecord | undefined {
    const version = this.stmts.dataVersion.get() as number;
    if (version !== this.cachedVersion) {
      this.objectCache.clear();
      this.cachedVersion = version;
    }
    const cacheKey = objectCacheKey(bucket, key);
    const cached = this.objectCache.get(cacheKey);
    if (cached) return cached;
    const row = this.stmts.getObject.get(bucket, key) as ObjectRow | undefined;
    if (!row) return undefined;
    const record = toObjectRecord(row);
    this.objectCache.set(cacheKey, record, (record.inline?.length ?? 0) + 512);
    return record;
  }

  /** Size of the stored object, undefined when there is none. */
  objectSize(bucket: string, key: Buffer): number | undefined {
    return this.getObject(bucket, key)?.size;
  }

  /**
   * Replaces the object row; returns the previous version's files. Caller checks the bucket.
   * With `admitted`, throws AdmissionStale first (nothing written) when the change, plus
   * `otherBytes` the caller's transaction changes, exceeds it.
   */
  private writeObjectRow(record: ObjectRecord, admitted?: UsageChange, otherBytes = 0, journal?: JournalHook, conditions?: WriteConditions): string[] {
    const old = this.stmts.getObjectSegments.get(record.bucket, record.key) as { segments: string; size: number; etag: string } | undefined;
    // Conditional writes are decided here, inside the write transaction (BEGIN IMMEDIATE, shared by
    // every process over this index), against the row this commit replaces: exact under concurrency.
    if (conditions) checkWriteConditions(old, conditions, record.key.toString('utf8'));
    checkAdmitted({ bytes: record.size - (old?.size ?? 0) + otherBytes, objects: old ? 0 : 1 }, admitted);
    this.objectCache.delete(objectCacheKey(record.bucket, record.key));
    this.stmts.addUsage.run(record.size - (old?.size ?? 0), old ? 0 : 1, 0, record.bucket);
    this.stmts.upsertObject.run({
      bucket: record.bucket,
      key: record.key,
      size: record.size,
      etag: record.etag,
      last_modified: record.lastModified,
      tag_count: Object.keys(record.tags).length,
      parts_count: record.partsCount ?? null,
      metadata: JSON.stringify(record.metadata),
      tags: Object.keys(record.tags).length > 0 ? JSON.stringify(record.tags) : null,
      checksum: record.checksum ? JSON.stringify(record.checksum) : null,
      segments: encodeSegments(record.segments),
      inline_data: record.inline ?? null,
      parts: encodeParts(record.parts),
    });
    this.journal.record(journal, {
      key: record.key.toString('utf8'),
      replaced: old !== undefined,
      size: record.size,
      etag: record.etag,
      contentType: record.metadata.contentType,
    });
    return old === undefined ? [] : segmentFiles(old.segments);
  }

  /**
   * Commits an object version; null when the bucket vanished (nothing written). With `admitted`,
   * the usage change is measured inside the transaction: AdmissionStale when it exceeds that. A
   * failed `conditions` throws (PreconditionFailed, NoSuchKey) and writes nothing.
   */
  putObject = this.tx((record: ObjectRecord, admitted?: UsageChange, journal?: JournalHook, conditions?: WriteConditions): string[] | null => {
    if (!this.bucketExists(record.bucket)) return null;
    return this.writeObjectRow(record, admitted, 0, journal, conditions);
  });

  /**
   * Returns the deleted version's files (empty for a missing key). `journal` is called once per
   * deleted key, and with `journalMissing` also for keys that held nothing (replaced: false).
   */
  deleteObjects = this.tx((bucket: string, keys: Buffer[], journal?: JournalHook, journalMissing = false): string[] => {
    const orphans: string[] = [];
    for (const key of keys) {
      const old = this.stmts.getObjectSegments.get(bucket, key) as { segments: string; size: number; etag: string } | undefined;
      if (old === undefined) {
        if (journalMissing) this.journal.record(journal, { key: key.toString('utf8'), replaced: false });
        continue;
      }
      this.journal.record(journal, { key: key.toString('utf8'), replaced: true, size: old.size, etag: old.etag });
      this.objectCache.delete(objectCacheKey(bucket, key));
      this.stmts.deleteObject.run(bucket, key);
      this.stmts.addUsage.run(-old.size, -1, 0, bucket);
      orphans.push(...segmentFiles(old.segments));
    }
    return orphans;
  });

  /** Undefined for a missing bucket. */
  usage(bucket: string): { bytes: number; objects: number; multipartBytes: number } | undefined {
    const row = this.stmts.usage.get(bucket) as { bytes: number; objects: number; multipart_bytes: number } | undefined;
    return row && { bytes: row.bytes, objects: row.objects, multipartBytes: row.multipart_bytes };
  }

  /** False when the object does not exist. */
  setTags = this.tx((bucket: string, key: Buffer, tags: Record<string, string>, journal?: JournalHook): boolean => {
    this.objectCache.delete(objectCacheKey(bucket, key));
    const count = Object.keys(tags).length;
    if (this.stmts.setTags.run(count > 0 ? JSON.stringify(tags) : null, count, bucket, key).changes !== 1) return false;
    if (journal) {
      const row = this.stmts.getObjectFacts.get(bucket, key) as { size: number; etag: string; metadata: string };
      const metadata = JSON.parse(row.metadata) as ObjectMetadata;
      this.journal.record(journal, { key: key.toString('utf8'), replaced: true, size: row.size, etag: row.etag, contentType: metadata.contentType });
    }
    return true;
  });

  /**
   * Listing rows from `cursor`, stepped one at a time as the caller pulls them (see delimitedWalk):
   * abandoning the iterator resets the statement, so rows past a common prefix are never read.
   */
  *scanObjects(bucket: string, cursor: ScanCursor<ObjectListRow>, upper: Buffer | undefined, limit: number): Generator<ObjectListRow> {
    const inclusive = cursor.kind === 'key' && cursor.inclusive;
    const from = cursor.kind === 'key' ? cursor.key : cursor.row.key;
    const rows = (
      upper
        ? (inclusive ? this.stmts.listFromInclUpper : this.stmts.listFromExclUpper).iterate(bucket, from, upper, limit)
        : (inclusive ? this.stmts.listFromIncl : this.stmts.listFromExcl).iterate(bucket, from, limit)
    ) as IterableIterator<{ key: Buffer; size: number; etag: string; last_modified: number }>;
    this.listingWork.scans++;
    for (const r of rows) {
      this.listingWork.rows++;
      yield { key: r.key, size: r.size, etag: r.etag, lastModified: r.last_modified };
    }
  }

  // ---- multipart ----

  /** False when the bucket does not exist. */
  createUpload = this.tx((upload: UploadRecord): boolean => {
    if (!this.bucketExists(upload.bucket)) return false;
    this.stmts.insertUpload.run({
      upload_id: upload.uploadId,
      bucket: upload.bucket,
      key: upload.key,
      initiated: upload.initiated,
      metadata: JSON.stringify(upload.metadata),
      tags: Object.keys(upload.tags).length > 0 ? JSON.stringify(upload.tags) : null,
      checksum_algorithm: upload.checksumAlgorithm ?? null,
    });
    return true;
  });

  countUploads(bucket: string): number {
    return this.stmts.countUploads.get(bucket) as number;
  }

  getUpload(uploadId: string): UploadRecord | undefined {
    const row = this.stmts.getUpload.get(uploadId) as UploadRow | undefined;
    return row ? toUploadRecord(row) : undefined;
  }

  /** Size of a stored part, undefined when there is none. */
  partSize(uploadId: string, partNumber: number): number | undefined {
    return (this.stmts.getPart.get(uploadId, partNumber) as PartRow | undefined)?.size;
  }

  /**
   * Stores a part; returns the replaced part's file list, or null when the upload is gone. With
   * `admitted`: AdmissionStale (nothing written) when the usage change exceeds it.
   */
  putPart = this.tx((bucket: string, key: Buffer, part: PartRecord, admitted?: UsageChange): string[] | null => {
    const upload = this.getUpload(part.uploadId);
    if (!upload || upload.bucket !== bucket || !upload.key.equals(key)) return null;
    const old = this.stmts.getPart.get(part.uploadId, part.partNumber) as PartRow | undefined;
    checkAdmitted({ bytes: part.size - (old?.size ?? 0), objects: 0 }, admitted);
    this.stmts.addUsage.run(0, 0, part.size - (old?.size ?? 0), bucket);
    this.stmts.upsertPart.run({
      upload_id: part.uploadId,
      part_number: part.partNumber,
      etag: part.etag,
      size: part.size,
      last_modified: part.lastModified,
      checksum: part.checksum ? JSON.stringify(part.checksum) : null,
      file: part.file,
    });
    return old?.file ? [old.file] : [];
  });

  parts(uploadId: string): PartRecord[] {
    return (this.stmts.partsOfUpload.all(uploadId) as PartRow[]).map(toPartRecord);
  }

  listParts(uploadId: string, afterPartNumber: number, limit: number): PartRecord[] {
    return (this.stmts.listParts.all(uploadId, afterPartNumber, limit) as PartRow[]).map(toPartRecord);
  }

  /** Deletes an upload and its parts; returns the part files. */
  deleteUpload = this.tx((uploadId: string): string[] => {
    const upload = this.getUpload(uploadId);
    if (upload) this.stmts.addUsage.run(0, 0, -(this.stmts.uploadBytes.get(uploadId) as number), upload.bucket);
    const files = this.stmts.partFilesOfUpload.all(uploadId) as string[];
    this.stmts.deleteParts.run(uploadId);
    this.stmts.deleteUpload.run(uploadId);
    return files;
  });

  /**
   * Runs `build` (validation + object record) against the upload's current parts and commits the
   * object and the removal of the upload in one transaction. Returns the files to unlink: the
   * previous object version's and those of parts not used by the object.
   */
  completeUpload<T>(
    uploadId: string,
    build: (upload: UploadRecord, parts: PartRecord[]) => { record: ObjectRecord; result: T; completion?: string },
    admitted?: UsageChange,
    journal?: JournalHook,
  ): { result: T; orphans: string[] } | null {
    return this.completeUploadTx(uploadId, build, admitted, journal) as { result: T; orphans: string[] } | null;
  }

  private completeUploadTx = this.tx(
    (
      uploadId: string,
      build: (upload: UploadRecord, parts: PartRecord[]) => { record: ObjectRecord; result: unknown; completion?: string },
      admitted?: UsageChange,
      journal?: JournalHook,
    ): { result: unknown; orphans: string[] } | null => {
      const upload = this.getUpload(uploadId);
      if (!upload) return null;
      const parts = this.parts(uploadId);
      const { record, result, completion } = build(upload, parts);
      if (!this.bucketExists(record.bucket)) return null;
      const used = new Set(record.segments.map((s) => s.file));
      const uploadBytes = this.stmts.uploadBytes.get(uploadId) as number;
      // Checked before anything is written: the object's growth minus the parts it retires.
      const objectOrphans = this.writeObjectRow(record, admitted, -uploadBytes, journal);
      // The parts stop counting as in-progress uploads; the object counts from now on.
      this.stmts.addUsage.run(0, 0, -uploadBytes, upload.bucket);
      const orphans = objectOrphans.filter((file) => !used.has(file));
      for (const part of parts) if (part.file && !used.has(part.file)) orphans.push(part.file);
      this.stmts.deleteParts.run(uploadId);
      this.stmts.deleteUpload.run(uploadId);
      if (completion !== undefined) {
        // Remembered in the completion's transaction: a retry can never miss a completion that committed.
        this.stmts.forgetCompletionsBefore.run(record.lastModified - COMPLETED_UPLOAD_RETENTION_MS);
        this.stmts.rememberCompletion.run(uploadId, upload.bucket, upload.key, record.lastModified, completion);
      }
      return { result, orphans };
    },
  );

  /** The remembered answer of upload `uploadId`'s completion (see completed-uploads.ts), while it is kept. */
  completion(uploadId: string, bucket: string, key: Buffer, now: number): string | undefined {
    return this.stmts.completion.get(uploadId, bucket, key, now - COMPLETED_UPLOAD_RETENTION_MS) as string | undefined;
  }

  /** Like scanObjects, for in-progress uploads in (key, upload id) order. */
  *scanUploads(bucket: string, cursor: ScanCursor<UploadListRow>, upper: Buffer | undefined, limit: number): Generator<UploadListRow> {
    type Row = { key: Buffer; upload_id: string; initiated: number };
    let left = limit;
    if (cursor.kind === 'row') {
      // The rest of the marker's key first, then the keys after it.
      this.listingWork.scans++;
      for (const r of this.stmts.uploadsSameKeyAfter.iterate(bucket, cursor.row.key, cursor.row.uploadId, left) as IterableIterator<Row>) {
        this.listingWork.rows++;
        left--;
        yield { key: r.key, uploadId: r.upload_id, initiated: r.initiated };
      }
      if (left <= 0) return;
      cursor = { kind: 'key', key: cursor.row.key, inclusive: false };
    }
    const rows = (
      upper
        ? (cursor.inclusive ? this.stmts.uploadsFromInclUpper : this.stmts.uploadsFromExclUpper).iterate(bucket, cursor.key, upper, left)
        : (cursor.inclusive ? this.stmts.uploadsFromIncl : this.stmts.uploadsFromExcl).iterate(bucket, cursor.key, left)
    ) as IterableIterator<Row>;
    this.listingWork.scans++;
    for (const r of rows) {
      this.listingWork.rows++;
      yield { key: r.key, uploadId: r.upload_id, initiated: r.initiated };
    }
  }

  private tx<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    // Lazily wrapped: class field initialisers run before the constructor body opens the db.
    let wrapped: ((...args: A) => R) | undefined;
    return (...args: A) => {
      // BEGIN IMMEDIATE: these transactions read, then write. A deferred one that must upgrade
      // its read lock after another process wrote fails with SQLITE_BUSY at once, busy_timeout
      // or not (two gateway processes over one DATA_DIR did, as a 500).
      wrapped ??= this.db.transaction(fn).immediate as unknown as (...args: A) => R;
      try {
        const result = wrapped(...args);
        this.groupSync?.committed();
        return result;
      } catch (error) {
        // SQLITE_FULL: 507 InsufficientStorage for the client (the transaction rolled back).
        throw storageError(error);
      }
    };
  }
}
