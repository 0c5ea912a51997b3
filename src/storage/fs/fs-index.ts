/**
 * The SQLite index of the filesystem backend: buckets, objects (with their list of data-file
 * segments), multipart uploads and parts. Object keys are stored as BLOBs of their UTF-8 bytes,
 * so SQLite's memcmp ordering is exactly S3's UTF-8 binary order. Keys never become paths.
 */
import Database from 'better-sqlite3';
import { createGroupSync, type GroupSync } from './group-sync.ts';
import type { IndexWriters, WriterMode } from './index-writers.ts';
import { watchDataVersion, type DataVersion } from '../../db/wal-header-watch.ts';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import type { ObjectChecksum, ObjectMetadata, ObjectPart, UsageChange } from '../storage-backend.ts';
import { COMPLETED_UPLOAD_RETENTION_MS, COMPLETED_UPLOADS_SCHEMA, prepareCompletedUploadStatements } from '../completed-uploads.ts';
import { decodeParts, encodeParts } from '../part-number.ts';
import type { ScanCursor } from './key-range.ts';
import { storageError } from './disk-space.ts';
import type { JournalHook } from '../../events/events.ts';
import { createJournalTable } from '../journal-table.ts';
import { type MigrationStep, migrateUserVersion } from '../sqlite-migrations.ts';
import type { WriteConditions } from '../storage-backend.ts';
import { checkWriteConditions } from '../conditions.ts';
import { randomBytes } from 'node:crypto';
import { NULL_VERSION_ID, type VersioningStatus } from '../storage-backend.ts';

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
  /** The stored version id: `null` (NULL_VERSION_ID) for the null version. */
  versionId: string;
  /**
   * Whether the bucket's versioning was ever configured when the record was read: S3 shows
   * version ids (`null` included) only then. Versions other than the current one exist only in
   * such buckets.
   */
  versioned: boolean;
}

/** An object version before the index assigned its version id (see `putObject`). */
export type NewObjectRecord = Omit<ObjectRecord, 'versionId' | 'versioned'>;

/** A delete marker (a version with no data). */
export interface DeleteMarkerRecord {
  versionId: string;
  lastModified: number;
}

/** One entry of ListObjectVersions, from either table. */
export interface VersionListRow {
  key: Buffer;
  versionId: string;
  /** Order within the key, newer is larger; CURRENT_SEQ for the current (objects) row. */
  seq: number;
  deleteMarker: boolean;
  isLatest: boolean;
  size: number;
  etag: string;
  lastModified: number;
}

/** What a delete without or with a version id did to one key (S3's DeleteObject answer). */
export interface VersionDeleteResult {
  /** The version removed, or the delete marker created. */
  versionId?: string;
  deleteMarker?: boolean;
  /** The marker created (a delete without version id in a versioned bucket). */
  createdMarker?: string;
}

/** `seq` of the current (objects) row in listings: newer than every noncurrent version of its key. */
export const CURRENT_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * 24 random bytes, base64url: 32 URL-safe characters, never `null`. Never starting with `-`: a
 * command line (`aws s3api get-object --version-id -…`) would take it for an option.
 */
export function newVersionId(): string {
  for (;;) {
    const id = randomBytes(24).toString('base64url');
    if (id[0] !== '-') return id;
  }
}

const VERSION_ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

/** A version id this index could have made (or `null`); anything else is InvalidArgument. */
export function isWellFormedVersionId(versionId: string): boolean {
  return versionId === NULL_VERSION_ID || VERSION_ID_PATTERN.test(versionId);
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

/** The schema as build 1 created it (the first migration step). */
const SCHEMA_V1 = `
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

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/**
 * The index's schema history: step `i` takes an index at `user_version` i to i + 1, each in its
 * own transaction that also bumps the version (see `FsIndex.migrate`). Steps are only ever
 * appended; an index written by a newer build (a larger version) is refused rather than guessed at.
 */
const MIGRATIONS: readonly MigrationStep[] = [
  // 1: buckets, objects, uploads, parts, completed uploads.
  (db) => db.exec(SCHEMA_V1),
  // 2: versioning. `objects` keeps exactly the CURRENT version of each key when it is not a delete
  // marker (so a GET of the latest version stays one primary-key read and ListObjects reads only
  // it); noncurrent versions and every delete marker live in `versions`, ordered per key by `seq`
  // (larger is newer; the current row is newer than all of them). The bucket's state: NULL
  // (Unversioned), 'Enabled' or 'Suspended'. Existing objects become their key's null version.
  (db) => {
    // Indexes of builds that added the parts column without a version bump may lack it.
    if (!hasColumn(db, 'objects', 'parts')) db.exec('ALTER TABLE objects ADD COLUMN parts TEXT');
    db.exec(`
      ALTER TABLE buckets ADD COLUMN versioning TEXT;
      ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null';
      CREATE TABLE versions (
        bucket TEXT NOT NULL,
        key BLOB NOT NULL,
        seq INTEGER NOT NULL,
        version_id TEXT NOT NULL,
        is_delete_marker INTEGER NOT NULL DEFAULT 0,
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
        PRIMARY KEY (bucket, key, seq DESC)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id);
    `);
  },
  // 3: small objects' bytes leave their row for `inline_bodies` (rowid table), referenced by
  // `inline_id`. A 4 KiB body made its `objects` row spill onto an overflow page, and rows of a
  // WITHOUT ROWID table are their own keys: SQLite read the whole spilled row, overflow page
  // included, for every key it compared while seeking, so every lookup of a key near small objects
  // (a PUT makes several) paid for their bytes (5,000 small objects: a row's facts 34 → 7 µs, a
  // GET 46 → 21 µs). A body is reached by its integer id, which compares without reading it.
  (db) => {
    db.exec(`
      CREATE TABLE inline_bodies (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
      ALTER TABLE objects ADD COLUMN inline_id INTEGER;
      ALTER TABLE versions ADD COLUMN inline_id INTEGER;
    `);
    const insert = db.prepare('INSERT INTO inline_bodies (data) VALUES (?)');
    // Keys first, then one row at a time: a body is never held longer than its own move.
    const objects = db.prepare('SELECT bucket, key FROM objects WHERE inline_data IS NOT NULL').all() as { bucket: string; key: Buffer }[];
    const objectData = db.prepare('SELECT inline_data FROM objects WHERE bucket = ? AND key = ?').pluck();
    const setObject = db.prepare('UPDATE objects SET inline_id = ? WHERE bucket = ? AND key = ?');
    for (const { bucket, key } of objects) setObject.run(insert.run(objectData.get(bucket, key)).lastInsertRowid, bucket, key);
    const versions = db.prepare('SELECT bucket, key, seq FROM versions WHERE inline_data IS NOT NULL').all() as { bucket: string; key: Buffer; seq: number }[];
    const versionData = db.prepare('SELECT inline_data FROM versions WHERE bucket = ? AND key = ? AND seq = ?').pluck();
    const setVersion = db.prepare('UPDATE versions SET inline_id = ? WHERE bucket = ? AND key = ? AND seq = ?');
    for (const { bucket, key, seq } of versions) setVersion.run(insert.run(versionData.get(bucket, key, seq)).lastInsertRowid, bucket, key, seq);
    db.exec('ALTER TABLE objects DROP COLUMN inline_data; ALTER TABLE versions DROP COLUMN inline_data;');
  },
];

/** The `user_version` of an index this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Versions and delete markers of keys from a bound (`>=` or `>`), below an upper bound or not, in
 * ListObjectVersions order: key, then newest first (the current row, given CURRENT_SEQ, first).
 * Both arms read their primary key in that order, so SQLite merges them without sorting.
 */
function versionScanSql(from: '>=' | '>', upper: boolean): string {
  const range = `bucket = @bucket AND key ${from} @from${upper ? ' AND key < @upper' : ''}`;
  return `SELECT key, version_id, ${CURRENT_SEQ} AS seq, 0 AS is_delete_marker, size, etag, last_modified FROM objects WHERE ${range}
    UNION ALL
    SELECT key, version_id, seq, is_delete_marker, size, etag, last_modified FROM versions WHERE ${range}
    ORDER BY key, seq DESC LIMIT @limit`;
}

/** Columns of an object version shared by both tables, in one order (moves between them copy these). */
const VERSION_COLUMNS = 'size, etag, last_modified, tag_count, parts_count, metadata, tags, checksum, segments, inline_id, parts';

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
  /** Joined from `inline_bodies` by the reads that return bytes (the row holds `inline_id`). */
  inline_data: Buffer | null;
  parts: string | null;
  version_id: string;
}

/** What a write or delete reads of the row it replaces or removes. */
interface CurrentFacts {
  segments: string;
  size: number;
  etag: string;
  version_id: string;
  inline_id: number | null;
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

function toObjectRecord(row: ObjectRow, versioned: boolean): ObjectRecord {
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
    versionId: row.version_id,
    versioned,
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
   * True while no other process can commit to this index (index-writers.ts): then nobody else can
   * move data_version, and a cached row is served without reading it (two fcntl calls per GET).
   */
  private alone = false;
  private writers: IndexWriters | undefined;
  /** data_version, asked only when the WAL-index header moved (one pread per cached read while shared). */
  private readonly dataVersion: DataVersion;
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
  constructor(file: string, options: { durable: boolean; traceSql?: (sql: unknown) => void } = { durable: true }) {
    this.db = new Database(file, { verbose: options.traceSql });
    const wal = this.db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    this.db.pragma('synchronous = NORMAL');
    if (options.durable) this.groupSync = createGroupSync(`${file}-wal`);
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.dataVersion = watchDataVersion(this.db, wal);
    this.journal = createJournalTable(this.db);
    const db = this.db;
    this.stmts = {
      ping: db.prepare('SELECT 1 AS ok'),
      bucketExists: db.prepare('SELECT 1 FROM buckets WHERE name = ?').pluck(),
      insertBucket: db.prepare('INSERT OR IGNORE INTO buckets (name, created_at) VALUES (?, ?)'),
      deleteBucket: db.prepare('DELETE FROM buckets WHERE name = ?'),
      anyObject: db.prepare('SELECT 1 FROM objects WHERE bucket = ? LIMIT 1').pluck(),
      anyVersion: db.prepare('SELECT 1 FROM versions WHERE bucket = ? LIMIT 1').pluck(),
      // The bucket's versioning state rides along (a primary-key read): S3 shows version ids only
      // in buckets whose versioning was ever configured.
      getObject: db.prepare(
        'SELECT o.*, b.versioning, d.data AS inline_data FROM objects o JOIN buckets b ON b.name = o.bucket LEFT JOIN inline_bodies d ON d.id = o.inline_id WHERE o.bucket = ? AND o.key = ?',
      ),
      getObjectSegments: db.prepare('SELECT segments, size, etag, version_id, inline_id FROM objects WHERE bucket = ? AND key = ?'),
      // A PutObject commit's first read: the bucket's state and the row it replaces, in one statement.
      writeFacts: db.prepare(
        'SELECT b.versioning, o.segments, o.size, o.etag, o.version_id, o.inline_id FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ? WHERE b.name = ?',
      ),
      // The bucket's versioning and the current object's size and version: what a write replaces.
      replacedFacts: db.prepare('SELECT b.versioning, o.size, o.version_id FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ? WHERE b.name = ?'),
      bucketVersioning: db.prepare('SELECT versioning FROM buckets WHERE name = ?'),
      setBucketVersioning: db.prepare('UPDATE buckets SET versioning = ? WHERE name = ?'),
      maxSeq: db.prepare('SELECT MAX(seq) FROM versions WHERE bucket = ? AND key = ?').pluck(),
      moveCurrentToVersions: db.prepare(
        `INSERT INTO versions (bucket, key, seq, version_id, is_delete_marker, ${VERSION_COLUMNS})
         SELECT bucket, key, ?, version_id, 0, ${VERSION_COLUMNS} FROM objects WHERE bucket = ? AND key = ?`,
      ),
      promoteVersion: db.prepare(
        `INSERT INTO objects (bucket, key, version_id, ${VERSION_COLUMNS})
         SELECT bucket, key, version_id, ${VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ? AND seq = ?`,
      ),
      insertMarker: db.prepare(
        `INSERT INTO versions (bucket, key, seq, version_id, is_delete_marker, size, etag, last_modified, metadata, segments)
         VALUES (?, ?, ?, ?, 1, 0, '', ?, '{}', '[]')`,
      ),
      versionById: db.prepare(
        'SELECT v.*, d.data AS inline_data FROM versions v LEFT JOIN inline_bodies d ON d.id = v.inline_id WHERE v.bucket = ? AND v.key = ? AND v.version_id = ?',
      ),
      versionSeq: db.prepare('SELECT seq FROM versions WHERE bucket = ? AND key = ? AND version_id = ?').pluck(),
      versionFacts: db.prepare('SELECT seq, size, etag, segments, is_delete_marker, inline_id FROM versions WHERE bucket = ? AND key = ? AND version_id = ?'),
      insertInline: db.prepare('INSERT INTO inline_bodies (data) VALUES (?)'),
      replaceInline: db.prepare('UPDATE inline_bodies SET data = ? WHERE id = ?'),
      deleteInline: db.prepare('DELETE FROM inline_bodies WHERE id = ?'),
      newestVersion: db.prepare('SELECT seq, version_id, is_delete_marker, last_modified FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1'),
      deleteVersion: db.prepare('DELETE FROM versions WHERE bucket = ? AND key = ? AND seq = ?'),
      setVersionTags: db.prepare('UPDATE versions SET tags = ?, tag_count = ? WHERE bucket = ? AND key = ? AND version_id = ? AND is_delete_marker = 0'),
      setCurrentVersionTags: db.prepare('UPDATE objects SET tags = ?, tag_count = ? WHERE bucket = ? AND key = ? AND version_id = ?'),
      versionTagFacts: db.prepare('SELECT size, etag, metadata FROM versions WHERE bucket = ? AND key = ? AND version_id = ?'),
      versionsSameKeyAfter: db.prepare(
        'SELECT key, version_id, seq, is_delete_marker, size, etag, last_modified FROM versions WHERE bucket = ? AND key = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      versionsFromIncl: db.prepare(versionScanSql('>=', false)),
      versionsFromExcl: db.prepare(versionScanSql('>', false)),
      versionsFromInclUpper: db.prepare(versionScanSql('>=', true)),
      versionsFromExclUpper: db.prepare(versionScanSql('>', true)),
      getObjectFacts: db.prepare('SELECT size, etag, metadata FROM objects WHERE bucket = ? AND key = ?'),
      addUsage: db.prepare('UPDATE buckets SET bytes = bytes + ?, objects = objects + ?, multipart_bytes = multipart_bytes + ? WHERE name = ?'),
      usage: db.prepare('SELECT bytes, objects, multipart_bytes FROM buckets WHERE name = ?'),
      uploadBytes: db.prepare('SELECT COALESCE(SUM(size), 0) FROM parts WHERE upload_id = ?').pluck(),
      countUploads: db.prepare('SELECT COUNT(*) FROM uploads WHERE bucket = ?').pluck(),
      upsertObject: db.prepare(
        `INSERT OR REPLACE INTO objects (bucket, key, size, etag, last_modified, tag_count, parts_count, metadata, tags, checksum, segments, inline_id, parts, version_id)
         VALUES (@bucket, @key, @size, @etag, @last_modified, @tag_count, @parts_count, @metadata, @tags, @checksum, @segments, @inline_id, @parts, @version_id)`,
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

  /** Brings the index to SCHEMA_VERSION, one MIGRATIONS step per transaction (see migrateUserVersion). */
  private migrate() {
    migrateUserVersion(this.db, MIGRATIONS, (version) => new Error(`index schema version ${version} is newer than this build supports (${SCHEMA_VERSION})`));
  }

  close() {
    if (this.db.open) this.db.close();
    // After the connection: closing the -shm descriptor drops this process's locks on the file.
    this.dataVersion.close();
    // Unregistered only once this connection can commit nothing more.
    this.writers?.close();
    void this.groupSync?.close();
  }

  /** Follows this process's registration as a writer (closed with the index). */
  useWriters(writers: IndexWriters): void {
    this.writers = writers;
    this.setWriterMode(writers.mode);
  }

  /** index-writers.ts calls it before the lock changes hands. */
  setWriterMode(mode: WriterMode): void {
    // Others may have committed until now (writers that left): read data_version once more.
    if (mode === 'alone') this.followOtherCommits();
    this.alone = mode === 'alone';
  }

  /** Empties the cache when another connection committed since the last call. */
  private followOtherCommits(): void {
    const version = this.dataVersion.get();
    if (version !== this.cachedVersion) {
      this.objectCache.clear();
      this.cachedVersion = version;
    }
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
    // S3: a bucket holding noncurrent versions or delete markers is not empty either.
    if (this.stmts.anyObject.get(bucket) !== undefined || this.stmts.anyVersion.get(bucket) !== undefined) return { result: 'not-empty', orphans: [] };
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
    if (!this.alone) this.followOtherCommits();
    const cacheKey = objectCacheKey(bucket, key);
    const cached = this.objectCache.get(cacheKey);
    if (cached) return cached;
    const row = this.stmts.getObject.get(bucket, key) as (ObjectRow & { versioning: string | null }) | undefined;
    if (!row) return undefined;
    const record = toObjectRecord(row, row.versioning !== null);
    this.objectCache.set(cacheKey, record, (record.inline?.length ?? 0) + 512);
    return record;
  }

  // ---- versioning ----

  /** Undefined for a missing bucket. */
  bucketVersioning(bucket: string): VersioningStatus | undefined {
    const row = this.stmts.bucketVersioning.get(bucket) as { versioning: string | null } | undefined;
    return row === undefined ? undefined : ((row.versioning ?? 'Unversioned') as VersioningStatus);
  }

  /** False for a missing bucket. */
  setBucketVersioning = this.tx((bucket: string, status: 'Enabled' | 'Suspended'): boolean => {
    if (this.stmts.setBucketVersioning.run(status, bucket).changes !== 1) return false;
    // Cached records carry whether their bucket shows version ids (this connection's own commits
    // do not move data_version).
    this.objectCache.clear();
    return true;
  });

  /**
   * One version of a key: the current row when its id matches, else a noncurrent version or a
   * delete marker; undefined when the key has no such version.
   */
  getVersion(bucket: string, key: Buffer, versionId: string): { record: ObjectRecord } | { marker: DeleteMarkerRecord } | undefined {
    const current = this.getObject(bucket, key);
    if (current?.versionId === versionId) return { record: current };
    const row = this.stmts.versionById.get(bucket, key, versionId) as (ObjectRow & { is_delete_marker: number }) | undefined;
    if (!row) return undefined;
    if (row.is_delete_marker) return { marker: { versionId: row.version_id, lastModified: row.last_modified } };
    return { record: toObjectRecord(row, true) };
  }

  /** The key's latest version when it is a delete marker (read only when the key has no current object). */
  latestMarker(bucket: string, key: Buffer): DeleteMarkerRecord | undefined {
    const row = this.stmts.newestVersion.get(bucket, key) as { version_id: string; is_delete_marker: number; last_modified: number } | undefined;
    return row?.is_delete_marker ? { versionId: row.version_id, lastModified: row.last_modified } : undefined;
  }

  /** Listing position of one version (CURRENT_SEQ for the current one); undefined when there is none. */
  versionSeq(bucket: string, key: Buffer, versionId: string): number | undefined {
    const current = this.stmts.getObjectSegments.get(bucket, key) as { version_id: string } | undefined;
    if (current?.version_id === versionId) return CURRENT_SEQ;
    return (this.stmts.versionSeq.get(bucket, key, versionId) as number | undefined) ?? undefined;
  }

  /**
   * What a write to `key` would replace now (the quota reservation subtracts its bytes): the
   * current object in an Unversioned bucket, the null version (current or not; nothing for a null
   * delete marker) in a Suspended one, nothing in an Enabled one. Undefined for a missing bucket.
   */
  replacedByWrite(bucket: string, key: Buffer): { bytes: number; objects: number } | undefined {
    // One small row, read once per PUT for its reservation (the admission reuses it, and reads
    // again only when it went stale): not getObject, whose full record (inline bytes, parsed
    // metadata) a PUT never uses and whose cache the write then drops anyway.
    const row = this.stmts.replacedFacts.get(key, bucket) as { versioning: string | null; size: number | null; version_id: string | null } | undefined;
    if (row === undefined) return undefined;
    const status = (row.versioning ?? 'Unversioned') as VersioningStatus;
    const current = row.size === null ? undefined : { size: row.size, versionId: row.version_id };
    if (status === 'Enabled') return { bytes: 0, objects: 0 };
    if (status === 'Unversioned' || current?.versionId === NULL_VERSION_ID) return current ? { bytes: current.size, objects: 1 } : { bytes: 0, objects: 0 };
    const noncurrent = this.stmts.versionFacts.get(bucket, key, NULL_VERSION_ID) as { size: number; is_delete_marker: number } | undefined;
    return noncurrent && !noncurrent.is_delete_marker ? { bytes: noncurrent.size, objects: 1 } : { bytes: 0, objects: 0 };
  }

  private nextSeq(bucket: string, key: Buffer): number {
    return ((this.stmts.maxSeq.get(bucket, key) as number | null) ?? 0) + 1;
  }

  /** Moves the current row (if any) to the noncurrent versions, as the newest of them. */
  private retireCurrent(bucket: string, key: Buffer): void {
    this.stmts.moveCurrentToVersions.run(this.nextSeq(bucket, key), bucket, key);
    this.stmts.deleteObject.run(bucket, key);
  }

  /**
   * Removes the key's noncurrent null version or null delete marker, if any (a Suspended write or
   * delete replaces it); returns its bytes and files, which the caller frees.
   */
  private dropNoncurrentNull(bucket: string, key: Buffer): { size: number; objects: number; files: string[] } {
    const row = this.stmts.versionFacts.get(bucket, key, NULL_VERSION_ID) as
      | { seq: number; size: number; segments: string; is_delete_marker: number; inline_id: number | null }
      | undefined;
    if (!row) return { size: 0, objects: 0, files: [] };
    this.stmts.deleteVersion.run(bucket, key, row.seq);
    this.freeInline(row.inline_id);
    return row.is_delete_marker ? { size: 0, objects: 0, files: [] } : { size: row.size, objects: 1, files: segmentFiles(row.segments) };
  }

  /** Drops the body of a row removed for good (moves between `objects` and `versions` keep it). */
  private freeInline(id: number | null): void {
    if (id !== null) this.stmts.deleteInline.run(id);
  }

  /** After a version left: the newest noncurrent version becomes current again when it is not a marker. */
  private promoteNewest(bucket: string, key: Buffer): void {
    const newest = this.stmts.newestVersion.get(bucket, key) as { seq: number; is_delete_marker: number } | undefined;
    if (!newest || newest.is_delete_marker) return;
    this.stmts.promoteVersion.run(bucket, key, newest.seq);
    this.stmts.deleteVersion.run(bucket, key, newest.seq);
  }

  /**
   * Commits `record` as the key's new current version, the way the bucket's versioning state says
   * (read in this transaction): Unversioned replaces the current object; Enabled keeps it as a
   * noncurrent version; Suspended replaces the null version wherever it is and keeps a current
   * version that has an id. Returns the files of what it replaced. With `admitted`, throws
   * AdmissionStale first (nothing written) when the change, plus `otherBytes` the caller's
   * transaction changes, exceeds it. The caller checked the bucket and set `record.versionId`
   * (`versionIdFor`).
   */
  private writeObjectRow(
    record: ObjectRecord,
    status: VersioningStatus,
    admitted?: UsageChange,
    otherBytes = 0,
    journal?: JournalHook,
    conditions?: WriteConditions,
    current?: { old: CurrentFacts | undefined },
  ): string[] {
    const old = current ? current.old : (this.stmts.getObjectSegments.get(record.bucket, record.key) as CurrentFacts | undefined);
    // Conditional writes are decided here, inside the write transaction (BEGIN IMMEDIATE, shared by
    // every process over this index), against the row this commit replaces: exact under concurrency.
    if (conditions) checkWriteConditions(old, conditions, record.key.toString('utf8'));
    // What this write removes for good: the current row (Unversioned, or a current null version
    // when Suspended) and, when Suspended, a noncurrent null version. Measured before any change.
    const replacesCurrent = old !== undefined && (status === 'Unversioned' || (status === 'Suspended' && old.version_id === NULL_VERSION_ID));
    const noncurrentNull =
      status === 'Suspended' ? (this.stmts.versionFacts.get(record.bucket, record.key, NULL_VERSION_ID) as { size: number; is_delete_marker: number } | undefined) : undefined;
    const freedBytes = (replacesCurrent ? old.size : 0) + (noncurrentNull && !noncurrentNull.is_delete_marker ? noncurrentNull.size : 0);
    const freedObjects = (replacesCurrent ? 1 : 0) + (noncurrentNull && !noncurrentNull.is_delete_marker ? 1 : 0);
    checkAdmitted({ bytes: record.size - freedBytes + otherBytes, objects: 1 - freedObjects }, admitted);
    this.objectCache.delete(objectCacheKey(record.bucket, record.key));
    const orphans = replacesCurrent ? segmentFiles(old.segments) : [];
    if (status === 'Suspended') orphans.push(...this.dropNoncurrentNull(record.bucket, record.key).files);
    // The version it supersedes stays, as the newest noncurrent version (its files stay referenced).
    if (old !== undefined && !replacesCurrent) this.retireCurrent(record.bucket, record.key);
    // An overwrite by as many bytes changes no counter: skipping the UPDATE spares the commit a
    // WAL frame for the bucket's page.
    if (record.size - freedBytes !== 0 || freedObjects !== 1) this.stmts.addUsage.run(record.size - freedBytes, 1 - freedObjects, 0, record.bucket);
    // A small body replacing one that goes for good takes over its row in `inline_bodies` (rewritten
    // in place: no page freed and allocated again); a retired version keeps its own.
    let inlineId: number | null = null;
    const freedInline = replacesCurrent ? old.inline_id : null;
    if (record.inline && freedInline !== null) {
      this.stmts.replaceInline.run(record.inline, freedInline);
      inlineId = freedInline;
    } else {
      this.freeInline(freedInline);
      if (record.inline) inlineId = Number(this.stmts.insertInline.run(record.inline).lastInsertRowid);
    }
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
      inline_id: inlineId,
      parts: encodeParts(record.parts),
      version_id: record.versionId,
    });
    this.journal.record(journal, {
      key: record.key.toString('utf8'),
      replaced: old !== undefined,
      size: record.size,
      etag: record.etag,
      contentType: record.metadata.contentType,
      ...(status === 'Unversioned' ? {} : { versionId: record.versionId }),
    });
    return orphans;
  }

  /** The id a write gets in a bucket in `status`: a new one when Enabled, else the null version. */
  private static versionIdFor(status: VersioningStatus): string {
    return status === 'Enabled' ? newVersionId() : NULL_VERSION_ID;
  }

  /**
   * Commits an object version; null when the bucket vanished (nothing written), else the files
   * it orphaned and the version id S3 shows for it (undefined in an Unversioned bucket). With
   * `admitted`, the usage change is measured inside the transaction: AdmissionStale when it
   * exceeds that. A failed `conditions` throws (PreconditionFailed, NoSuchKey) and writes nothing.
   */
  putObject = this.tx((record: NewObjectRecord, admitted?: UsageChange, journal?: JournalHook, conditions?: WriteConditions): { orphans: string[]; versionId?: string } | null => {
    const facts = this.stmts.writeFacts.get(record.key, record.bucket) as
      | { versioning: string | null; segments: string; size: number | null; etag: string; version_id: string; inline_id: number | null }
      | undefined;
    if (facts === undefined) return null;
    const status = (facts.versioning ?? 'Unversioned') as VersioningStatus;
    // The LEFT JOIN's columns are NULL when the key holds no current object (size is NOT NULL in a row).
    const old: CurrentFacts | undefined =
      facts.size === null ? undefined : { segments: facts.segments, size: facts.size, etag: facts.etag, version_id: facts.version_id, inline_id: facts.inline_id };
    const versionId = FsIndex.versionIdFor(status);
    const orphans = this.writeObjectRow({ ...record, versionId, versioned: status !== 'Unversioned' }, status, admitted, 0, journal, conditions, { old });
    return { orphans, versionId: status === 'Unversioned' ? undefined : versionId };
  });

  /**
   * Deletes one key per entry, S3's way (see StorageBackend.deleteObject): without a version id
   * the bucket's state decides (remove, or add a delete marker); with one, that version or marker
   * goes for good and, when it was the latest, the next newest version becomes current again
   * (unless it is a marker). Returns the files to unlink and one result per entry; null for a
   * missing bucket. `journal` is called once per entry that changed something, and with
   * `journalMissing` also for entries that found nothing (replaced: false). Version ids are
   * checked by the caller (isWellFormedVersionId).
   */
  deleteObjects = this.tx(
    (
      bucket: string,
      entries: { key: Buffer; versionId?: string }[],
      journal?: JournalHook,
      journalMissing?: boolean,
      now?: number,
    ): { orphans: string[]; results: VersionDeleteResult[] } | null => {
      const status = this.bucketVersioning(bucket);
      if (status === undefined) return null;
      const orphans: string[] = [];
      const results: VersionDeleteResult[] = [];
      for (const entry of entries) {
        this.objectCache.delete(objectCacheKey(bucket, entry.key));
        results.push(
          entry.versionId === undefined
            ? this.deleteLatest(bucket, entry.key, status, orphans, journal, journalMissing === true, now ?? Date.now())
            : this.deleteVersion(bucket, entry.key, entry.versionId, orphans, journal, journalMissing === true),
        );
      }
      return { orphans, results };
    },
  );

  /** A delete without a version id; pushes the files it freed to `orphans`. */
  private deleteLatest(
    bucket: string,
    key: Buffer,
    status: VersioningStatus,
    orphans: string[],
    journal: JournalHook | undefined,
    journalMissing: boolean,
    now: number,
  ): VersionDeleteResult {
    const name = key.toString('utf8');
    const old = this.stmts.getObjectSegments.get(bucket, key) as CurrentFacts | undefined;
    if (status === 'Unversioned') {
      if (old === undefined) {
        if (journalMissing) this.journal.record(journal, { key: name, replaced: false });
        return {};
      }
      this.journal.record(journal, { key: name, replaced: true, size: old.size, etag: old.etag });
      this.stmts.deleteObject.run(bucket, key);
      this.freeInline(old.inline_id);
      this.stmts.addUsage.run(-old.size, -1, 0, bucket);
      orphans.push(...segmentFiles(old.segments));
      return {};
    }
    // Versioned: the delete adds a marker as the key's latest version, even for a key that held
    // nothing. Enabled keeps every version; Suspended replaces the null version (the marker is it).
    let freedBytes = 0;
    let freedObjects = 0;
    if (old !== undefined) {
      if (status === 'Suspended' && old.version_id === NULL_VERSION_ID) {
        this.stmts.deleteObject.run(bucket, key);
        this.freeInline(old.inline_id);
        freedBytes += old.size;
        freedObjects++;
        orphans.push(...segmentFiles(old.segments));
      } else {
        this.retireCurrent(bucket, key);
      }
    }
    if (status === 'Suspended') {
      const dropped = this.dropNoncurrentNull(bucket, key);
      freedBytes += dropped.size;
      freedObjects += dropped.objects;
      orphans.push(...dropped.files);
    }
    if (freedBytes !== 0 || freedObjects !== 0) this.stmts.addUsage.run(-freedBytes, -freedObjects, 0, bucket);
    const markerId = FsIndex.versionIdFor(status);
    this.stmts.insertMarker.run(bucket, key, this.nextSeq(bucket, key), markerId, now);
    this.journal.record(journal, {
      key: name,
      replaced: old !== undefined,
      ...(old !== undefined ? { size: old.size, etag: old.etag } : {}),
      versionId: markerId,
      deleteMarker: true,
    });
    return { versionId: markerId, deleteMarker: true, createdMarker: markerId };
  }

  /** A delete of one version or marker by its id; pushes the files it freed to `orphans`. */
  private deleteVersion(bucket: string, key: Buffer, versionId: string, orphans: string[], journal: JournalHook | undefined, journalMissing: boolean): VersionDeleteResult {
    const name = key.toString('utf8');
    const current = this.stmts.getObjectSegments.get(bucket, key) as CurrentFacts | undefined;
    if (current?.version_id === versionId) {
      this.stmts.deleteObject.run(bucket, key);
      this.freeInline(current.inline_id);
      this.stmts.addUsage.run(-current.size, -1, 0, bucket);
      orphans.push(...segmentFiles(current.segments));
      this.promoteNewest(bucket, key);
      this.journal.record(journal, { key: name, replaced: true, size: current.size, etag: current.etag, versionId });
      return { versionId };
    }
    const row = this.stmts.versionFacts.get(bucket, key, versionId) as
      | { seq: number; size: number; etag: string; segments: string; is_delete_marker: number; inline_id: number | null }
      | undefined;
    if (!row) {
      if (journalMissing) this.journal.record(journal, { key: name, replaced: false, versionId });
      return { versionId };
    }
    this.stmts.deleteVersion.run(bucket, key, row.seq);
    this.freeInline(row.inline_id);
    if (row.is_delete_marker) {
      // Removing the latest marker brings the version below it back (S3's undelete).
      if (current === undefined) this.promoteNewest(bucket, key);
      this.journal.record(journal, { key: name, replaced: true, versionId, deleteMarker: true });
      return { versionId, deleteMarker: true };
    }
    this.stmts.addUsage.run(-row.size, -1, 0, bucket);
    orphans.push(...segmentFiles(row.segments));
    this.journal.record(journal, { key: name, replaced: true, size: row.size, etag: row.etag, versionId });
    return { versionId };
  }

  /** Undefined for a missing bucket. */
  usage(bucket: string): { bytes: number; objects: number; multipartBytes: number } | undefined {
    const row = this.stmts.usage.get(bucket) as { bytes: number; objects: number; multipart_bytes: number } | undefined;
    return row && { bytes: row.bytes, objects: row.objects, multipartBytes: row.multipart_bytes };
  }

  /**
   * Sets the tags of the current object, or of one version by its id: 'missing' when there is no
   * such object or version, 'marker' when the id names a delete marker.
   */
  setTags = this.tx((bucket: string, key: Buffer, versionId: string | undefined, tags: Record<string, string>, journal?: JournalHook): 'ok' | 'missing' | 'marker' => {
    this.objectCache.delete(objectCacheKey(bucket, key));
    const count = Object.keys(tags).length;
    const encoded = count > 0 ? JSON.stringify(tags) : null;
    let current = true;
    if (versionId === undefined) {
      if (this.stmts.setTags.run(encoded, count, bucket, key).changes !== 1) return 'missing';
    } else if (this.stmts.setCurrentVersionTags.run(encoded, count, bucket, key, versionId).changes !== 1) {
      current = false;
      if (this.stmts.setVersionTags.run(encoded, count, bucket, key, versionId).changes !== 1) {
        return this.stmts.versionSeq.get(bucket, key, versionId) === undefined ? 'missing' : 'marker';
      }
    }
    if (journal) {
      const facts = (current ? this.stmts.getObjectFacts.get(bucket, key) : this.stmts.versionTagFacts.get(bucket, key, versionId)) as {
        size: number;
        etag: string;
        metadata: string;
      };
      const metadata = JSON.parse(facts.metadata) as ObjectMetadata;
      this.journal.record(journal, {
        key: key.toString('utf8'),
        replaced: true,
        size: facts.size,
        etag: facts.etag,
        contentType: metadata.contentType,
        ...(versionId === undefined ? {} : { versionId }),
      });
    }
    return 'ok';
  });

  /**
   * ListObjectVersions rows from `cursor` (see scanObjects): after a row, first the older
   * versions of its key, then the keys after it. The first row of a key in key order is its
   * latest version (the current row, or a delete marker on top).
   */
  *scanVersions(bucket: string, cursor: ScanCursor<VersionListRow>, upper: Buffer | undefined, limit: number): Generator<VersionListRow> {
    type Row = { key: Buffer; version_id: string; seq: number; is_delete_marker: number; size: number; etag: string; last_modified: number };
    const toRow = (r: Row, isLatest: boolean): VersionListRow => ({
      key: r.key,
      versionId: r.version_id,
      seq: r.seq,
      deleteMarker: r.is_delete_marker === 1,
      isLatest,
      size: r.size,
      etag: r.etag,
      lastModified: r.last_modified,
    });
    let left = limit;
    let from: Buffer;
    let inclusive: boolean;
    if (cursor.kind === 'row') {
      this.listingWork.scans++;
      for (const r of this.stmts.versionsSameKeyAfter.iterate(bucket, cursor.row.key, cursor.row.seq, left) as IterableIterator<Row>) {
        this.listingWork.rows++;
        left--;
        yield toRow(r, false);
      }
      if (left <= 0) return;
      from = cursor.row.key;
      inclusive = false;
    } else {
      from = cursor.key;
      inclusive = cursor.inclusive;
    }
    const statement = upper
      ? inclusive
        ? this.stmts.versionsFromInclUpper
        : this.stmts.versionsFromExclUpper
      : inclusive
        ? this.stmts.versionsFromIncl
        : this.stmts.versionsFromExcl;
    const params: Record<string, unknown> = { bucket, from, limit: left };
    if (upper) params.upper = upper;
    this.listingWork.scans++;
    let previous: Buffer | undefined;
    for (const r of statement.iterate(params) as IterableIterator<Row>) {
      this.listingWork.rows++;
      const first = previous === undefined || !previous.equals(r.key);
      previous = r.key;
      yield toRow(r, first);
    }
  }

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
    build: (upload: UploadRecord, parts: PartRecord[], versionId: string | undefined) => { record: NewObjectRecord; result: T; completion?: string },
    admitted?: UsageChange,
    journal?: JournalHook,
  ): { result: T; orphans: string[] } | null {
    return this.completeUploadTx(uploadId, build, admitted, journal) as { result: T; orphans: string[] } | null;
  }

  private completeUploadTx = this.tx(
    (
      uploadId: string,
      build: (upload: UploadRecord, parts: PartRecord[], versionId: string | undefined) => { record: NewObjectRecord; result: unknown; completion?: string },
      admitted?: UsageChange,
      journal?: JournalHook,
    ): { result: unknown; orphans: string[] } | null => {
      const upload = this.getUpload(uploadId);
      if (!upload) return null;
      const status = this.bucketVersioning(upload.bucket);
      if (status === undefined) return null;
      // The version is named before `build`, so the answer it builds (and remembers for retries) carries it.
      const versionId = FsIndex.versionIdFor(status);
      const parts = this.parts(uploadId);
      const { record, result, completion } = build(upload, parts, status === 'Unversioned' ? undefined : versionId);
      const used = new Set(record.segments.map((s) => s.file));
      const uploadBytes = this.stmts.uploadBytes.get(uploadId) as number;
      // Checked before anything is written: the object's growth minus the parts it retires.
      const objectOrphans = this.writeObjectRow({ ...record, versionId, versioned: status !== 'Unversioned' }, status, admitted, -uploadBytes, journal);
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
