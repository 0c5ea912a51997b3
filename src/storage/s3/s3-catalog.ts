import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import {
  NULL_VERSION_ID,
  type BucketUsage,
  type EventJournal,
  type ObjectChecksum,
  type ObjectPart,
  type UsageChange,
  type VersioningStatus,
  type WriteConditions,
} from '../storage-backend.ts';
import { COMPLETED_UPLOAD_RETENTION_MS, prepareCompletedUploadStatements } from '../completed-uploads.ts';
import { migrateCatalog } from './s3-catalog-migrations.ts';
import { decodeParts, encodeParts } from '../part-number.ts';
import { checkWriteConditions, conditionalConflict } from '../conditions.ts';
import type { CommitFacts, JournalHook } from '../../events/events.ts';
import { createJournalTable } from '../journal-table.ts';

/**
 * What the proxy backend keeps beside the remote store, in its catalog: a SQLite file under
 * DATA_DIR (`openS3Catalog`, this module) by default, or with DATABASE_URL tables of the shared
 * PostgreSQL database (`openPgS3Catalog`, s3-catalog.pg.ts), so every gateway on every host
 * counts the same usage. Both implement `S3Catalog` and pass one contract suite
 * (s3-catalog.contract.ts). It holds:
 * - per-bucket usage counters and object sizes, so quotas cost a local read instead of a listing
 *   of the whole remote bucket after every upload;
 * - the additional checksums (CRC32, CRC32C, SHA1, SHA256, CRC64NVME) the gateway verified, which
 *   many S3 stores (Ceph RGW before Squid, Garage) neither store nor return.
 * - the journal of domain events, written in the transaction that records a change right after
 *   the store confirmed it (a change and its events are durable together);
 * - with bucket versioning (the store's own), one row per version and delete marker the gateway
 *   made (`null` for the null version), so usage counts every stored version exactly, and each
 *   bucket's versioning state (Unversioned, Enabled, Suspended) as last seen in the store.
 * Objects changed directly in the backend, behind the gateway, are not seen here: a checksum is
 * returned only while the object's ETag still matches, and `usage reconcile` recounts from a
 * listing of the backend.
 */
export interface S3Catalog {
  usage(bucket: string): Promise<BucketUsage | undefined>;
  setUsage(bucket: string, usage: BucketUsage): Promise<void>;
  ensureBucket(bucket: string): Promise<void>;
  /** Forgets everything about a deleted bucket. */
  dropBucket(bucket: string): Promise<void>;

  /** The bucket's versioning state as last seen in (or set through) the store; undefined when unknown. */
  versioning(bucket: string): Promise<VersioningStatus | undefined>;
  setVersioning(bucket: string, status: VersioningStatus): Promise<void>;
  /**
   * What a read of the store needs from the catalog, in one look-up (the GET/HEAD path): the
   * bucket's versioning state and the checksum recorded for the version the store answered with
   * (`storeVersionId` as the store sent it: absent or `null` is the null version), when the
   * object still has the ETag it was stored with.
   */
  readFacts(bucket: string, key: string, storeVersionId: string | undefined, etag: string): Promise<{ versioning?: VersioningStatus; checksum?: ObjectChecksum }>;

  /** The key's current object (its latest version, unless that is a delete marker). */
  object(bucket: string, key: string): Promise<CatalogVersion | undefined>;
  /** The key's latest row, a delete marker included. */
  latest(bucket: string, key: string): Promise<CatalogVersion | undefined>;
  /** One version (or marker) by id (`null` for the null version). */
  version(bucket: string, key: string, versionId: string): Promise<CatalogVersion | undefined>;
  /**
   * What a write to `key` would replace, as usage counts it: nothing in an Enabled bucket (a new
   * version), the null version otherwise (undefined when it is missing or a delete marker).
   */
  replaceable(bucket: string, key: string): Promise<{ size: number } | undefined>;
  /** The checksum stored for this version, when the store's object still has the ETag it was stored with. */
  checksumFor(bucket: string, key: string, etag: string, versionId: string | undefined): Promise<ObjectChecksum | undefined>;
  /**
   * Records the version a write created (`versionId` as the write reports it: undefined in an
   * Unversioned bucket, where the object is its key's null version) and journals it; returns the
   * usage change it made (for the write's admission). A new id replaces nothing; `null` replaces
   * the null version.
   */
  recordObject(
    bucket: string,
    key: string,
    versionId: string | undefined,
    size: number,
    etag: string,
    checksum: ObjectChecksum | undefined,
    hook?: JournalHook,
    contentType?: string,
  ): Promise<UsageChange>;
  /**
   * Records what deletes did in the store, one transaction for the batch, and journals each:
   * - `versionId` given (the version requested): that row goes, freeing its bytes. Journaled as
   *   deleted when the catalog had the row or the store said it removed one (`removed`).
   * - a marker created (`markerVersionId`): recorded as the key's latest row; a `null` marker
   *   (Suspended bucket) replaces the null version, freeing its bytes. Journaled as deleted when
   *   the key had a current object.
   * - neither (Unversioned bucket): the object (its null version) goes.
   * A delete that removed nothing is journaled (replaced: false) only with `journalMissing`
   * (DeleteObject asks its hook; DeleteObjects calls it per key it deleted).
   * Returns, per entry, whether the removed version was a delete marker (as far as the catalog knew).
   */
  recordDeletes(bucket: string, deletes: RecordedDelete[], hook?: JournalHook, journalMissing?: boolean): Promise<boolean[]>;

  /** `tags` are kept to apply after completion: not every store honours tagging on CreateMultipartUpload. */
  recordUpload(uploadId: string, bucket: string, algorithm: ChecksumAlgorithm | undefined, tags: Record<string, string> | undefined): Promise<void>;
  uploadInitiated(uploadId: string): Promise<number | undefined>;
  /** Uploads in progress the catalog knows of (started through the gateway, or with a part recorded). */
  countUploads(bucket: string): Promise<number>;
  partSize(uploadId: string, partNumber: number): Promise<number | undefined>;
  partsTotal(uploadId: string): Promise<number>;
  upload(uploadId: string): Promise<CatalogUpload | undefined>;
  parts(uploadId: string): Promise<CatalogPart[]>;
  /** Records a part (of an upload started elsewhere too: it occupies the backend all the same); returns the usage change. */
  recordPart(uploadId: string, bucket: string, partNumber: number, size: number, etag: string, checksumValue: string | undefined): Promise<UsageChange>;
  /** Records the completed object and retires the upload's parts; returns the usage change: the object's growth minus the parts it retires. */
  completeUpload(
    uploadId: string,
    bucket: string,
    key: string,
    versionId: string | undefined,
    size: number,
    etag: string,
    checksum: ObjectChecksum | undefined,
    hook?: JournalHook,
    contentType?: string,
    // The object's part layout and the completion's remembered answer (completed-uploads.ts).
    completed?: { parts: ObjectPart[]; completion: string },
  ): Promise<UsageChange>;
  /** The remembered answer of upload `uploadId`'s completion, while it is kept. */
  completion(uploadId: string, bucket: string, key: string): Promise<string | undefined>;
  abortUpload(uploadId: string, bucket: string): Promise<void>;
  /** Journals a change the catalog keeps nothing about (tagging), right after the store confirmed it. */
  journalChange(hook: JournalHook | undefined, facts: Omit<CommitFacts, 'size' | 'etag'> & { bucket: string }): Promise<void>;
  /**
   * Claims `key` for a conditional write about to be committed in the store, or throws:
   * ConditionalRequestConflict while another live claim holds the key, PreconditionFailed or
   * NoSuchKey when `conditions` fail against the object the catalog records (its current
   * version: a key whose latest version is a delete marker holds no object), or against
   * `current`, what a HEAD found, for a bucket the catalog does not track. One transaction, so of
   * racing conditional writes (any process, any gateway over this catalog) one claims and the
   * others see its claim or, once it recorded its object, that object. Returns the claim id for
   * `releaseClaim`, called after the write was recorded (or failed); a claim of a process that
   * died mid-commit lapses at `now + ttlMs`.
   */
  claimKey(bucket: string, key: string, conditions: WriteConditions, now: number, ttlMs: number, current?: { etag: string } | null): Promise<string>;
  releaseClaim(bucket: string, key: string, claim: string): Promise<void>;
  /** The events journaled with the catalog's commits, for the relay. */
  readonly eventJournal: EventJournal;
  /** Closes what the catalog opened (the SQLite file; never an injected pool). */
  close(): Promise<void>;
}

/** An upload in progress as the catalog recorded it. */
export interface CatalogUpload {
  bucket: string;
  checksum_algorithm: string | null;
  tags: string | null;
}

/** A part of an upload in progress as the catalog recorded it. */
export interface CatalogPart {
  part_number: number;
  size: number;
  etag: string;
  checksum_value: string | null;
}

/** The catalog as a SQLite file at `path` (the default, without DATABASE_URL). */
export function openS3Catalog(path: string): S3Catalog {
  const sync = openSqliteCatalog(path);
  // better-sqlite3 is synchronous: each call below runs (and commits) whole before it resolves.
  return {
    usage: async (bucket) => sync.usage(bucket),
    setUsage: async (bucket, usage) => sync.setUsage(bucket, usage),
    ensureBucket: async (bucket) => sync.ensureBucket(bucket),
    dropBucket: async (bucket) => sync.dropBucket(bucket),
    versioning: async (bucket) => sync.versioning(bucket),
    setVersioning: async (bucket, status) => sync.setVersioning(bucket, status),
    readFacts: async (bucket, key, storeVersionId, etag) => {
      const versioning = sync.versioning(bucket);
      const checksum = sync.checksumFor(bucket, key, etag, storeVersionId);
      return { ...(versioning ? { versioning } : {}), ...(checksum ? { checksum } : {}) };
    },
    object: async (bucket, key) => sync.object(bucket, key),
    latest: async (bucket, key) => sync.latest(bucket, key),
    version: async (bucket, key, versionId) => sync.version(bucket, key, versionId),
    replaceable: async (bucket, key) => sync.replaceable(bucket, key),
    checksumFor: async (bucket, key, etag, versionId) => sync.checksumFor(bucket, key, etag, versionId),
    recordObject: async (...args) => sync.recordObject(...args),
    recordDeletes: async (bucket, deletes, hook, journalMissing) => sync.recordDeletes(bucket, deletes, hook, journalMissing),
    recordUpload: async (...args) => sync.recordUpload(...args),
    uploadInitiated: async (uploadId) => sync.uploadInitiated(uploadId),
    countUploads: async (bucket) => sync.countUploads(bucket),
    partSize: async (uploadId, partNumber) => sync.partSize(uploadId, partNumber),
    partsTotal: async (uploadId) => sync.partsTotal(uploadId),
    upload: async (uploadId) => sync.upload(uploadId),
    parts: async (uploadId) => sync.parts(uploadId),
    recordPart: async (...args) => sync.recordPart(...args),
    completeUpload: async (...args) => sync.completeUpload(...args),
    completion: async (uploadId, bucket, key) => sync.completion(uploadId, bucket, key),
    abortUpload: async (uploadId, bucket) => sync.abortUpload(uploadId, bucket),
    journalChange: async (hook, facts) => sync.journalChange(hook, facts),
    claimKey: async (...args) => sync.claimKey(...args),
    releaseClaim: async (bucket, key, claim) => sync.releaseClaim(bucket, key, claim),
    eventJournal: sync.eventJournal,
    close: async () => {
      sync.close();
    },
  };
}

/** The SQLite catalog's synchronous core: each write runs in one IMMEDIATE transaction, its journal entries included. */
function openSqliteCatalog(path: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // The schema, step by step (s3-catalog-migrations.ts): versions, the part layout of objects
  // completed through the gateway (GetObjectAttributes, ?partNumber=), keys claimed by conditional
  // writes being committed (see claimKey; a claim of a process that died mid-commit lapses at
  // `expires_at`, epoch ms), completions remembered for retries (completed-uploads.ts).
  try {
    migrateCatalog(db);
  } catch (error) {
    db.close();
    throw error;
  }

  const journal = createJournalTable(db);
  const keyBytes = (key: string) => Buffer.from(key, 'utf8');
  // Read-then-write transactions start IMMEDIATE, so another process's write makes them wait
  // (busy_timeout) instead of failing with SQLITE_BUSY on the lock upgrade.
  const immediate = <A extends unknown[], R>(fn: (...args: A) => R) => db.transaction(fn).immediate as unknown as (...args: A) => R;
  const VERSION_COLUMNS = 'version_id, delete_marker, size, etag, checksum_algorithm, checksum_value, checksum_type, parts';
  const statements = {
    usage: db.prepare<[string], { bytes: number; objects: number; multipart_bytes: number }>('SELECT bytes, objects, multipart_bytes FROM bucket_usage WHERE bucket = ?'),
    ensureBucket: db.prepare('INSERT OR IGNORE INTO bucket_usage (bucket) VALUES (?)'),
    setUsage: db.prepare('INSERT OR REPLACE INTO bucket_usage (bucket, bytes, objects, multipart_bytes) VALUES (?, ?, ?, ?)'),
    addUsage: db.prepare('UPDATE bucket_usage SET bytes = bytes + ?, objects = objects + ?, multipart_bytes = multipart_bytes + ? WHERE bucket = ?'),
    versioning: db.prepare<[string], string>('SELECT status FROM bucket_versioning WHERE bucket = ?').pluck(),
    setVersioning: db.prepare('INSERT OR REPLACE INTO bucket_versioning (bucket, status) VALUES (?, ?)'),
    latest: db.prepare<[string, Buffer], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1`),
    version: db.prepare<[string, Buffer, string], VersionRow>(`SELECT ${VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?`),
    // INSERT OR REPLACE gives a replaced row (the null version) a new seq: it becomes the latest, as in the store.
    putVersion: db.prepare(
      'INSERT OR REPLACE INTO object_versions (bucket, key, version_id, delete_marker, size, etag, checksum_algorithm, checksum_value, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteVersion: db.prepare('DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?'),
    setParts: db.prepare('UPDATE object_versions SET parts = ? WHERE bucket = ? AND key = ? AND version_id = ?'),
    ...prepareCompletedUploadStatements(db),
    upload: db.prepare<[string], CatalogUpload>('SELECT bucket, checksum_algorithm, tags FROM uploads WHERE upload_id = ?'),
    putUpload: db.prepare('INSERT OR REPLACE INTO uploads (upload_id, bucket, checksum_algorithm, initiated, tags) VALUES (?, ?, ?, ?, ?)'),
    initiated: db.prepare<[string], { initiated: number }>('SELECT initiated FROM uploads WHERE upload_id = ?'),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE upload_id = ?'),
    countUploads: db.prepare<[string], { count: number }>('SELECT COUNT(*) AS count FROM uploads WHERE bucket = ?'),
    part: db.prepare<[string, number], { size: number }>('SELECT size FROM parts WHERE upload_id = ? AND part_number = ?'),
    parts: db.prepare<[string], CatalogPart>('SELECT part_number, size, etag, checksum_value FROM parts WHERE upload_id = ? ORDER BY part_number'),
    putPart: db.prepare('INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, checksum_value) VALUES (?, ?, ?, ?, ?)'),
    partsTotal: db.prepare<[string], { total: number | null }>('SELECT SUM(size) AS total FROM parts WHERE upload_id = ?'),
    deleteParts: db.prepare('DELETE FROM parts WHERE upload_id = ?'),
    dropBucketVersions: db.prepare('DELETE FROM object_versions WHERE bucket = ?'),
    dropBucketParts: db.prepare('DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?)'),
    dropBucketUploads: db.prepare('DELETE FROM uploads WHERE bucket = ?'),
    dropBucketUsage: db.prepare('DELETE FROM bucket_usage WHERE bucket = ?'),
    dropBucketVersioning: db.prepare('DELETE FROM bucket_versioning WHERE bucket = ?'),
    claim: db.prepare<[string, Buffer], { expires_at: number }>('SELECT expires_at FROM write_claims WHERE bucket = ? AND key = ?'),
    putClaim: db.prepare('INSERT OR REPLACE INTO write_claims (bucket, key, claim, expires_at) VALUES (?, ?, ?, ?)'),
    deleteClaim: db.prepare('DELETE FROM write_claims WHERE bucket = ? AND key = ? AND claim = ?'),
  };

  /** The key's current object as recorded: its latest row, unless that is a delete marker. */
  const currentRow = (bucket: string, key: string): VersionRow | undefined => {
    const row = statements.latest.get(bucket, keyBytes(key));
    return row && row.delete_marker === 0 ? row : undefined;
  };

  /** Removes one version row; returns what it counted for. */
  const removeVersion = (bucket: string, key: string, versionId: string): { row?: VersionRow; bytes: number; objects: number } => {
    const row = statements.version.get(bucket, keyBytes(key), versionId);
    if (!row) return { bytes: 0, objects: 0 };
    statements.deleteVersion.run(bucket, keyBytes(key), versionId);
    const freed = counted(row);
    statements.addUsage.run(-freed.bytes, -freed.objects, 0, bucket);
    return { row, ...freed };
  };

  /**
   * Records the version a write created (`versionId` as the write reports it: undefined in an
   * Unversioned bucket, where the object is its key's null version); returns the usage change it
   * made (for the write's admission). A new id replaces nothing; `null` replaces the null version.
   */
  const recordObject = (
    bucket: string,
    key: string,
    reportedVersionId: string | undefined,
    size: number,
    etag: string,
    checksum: ObjectChecksum | undefined,
    hook?: JournalHook,
    contentType?: string,
  ): UsageChange => {
    // `replaced` as far as the catalog knows: an object written behind the gateway is not seen.
    const replaced = currentRow(bucket, key) !== undefined;
    const versionId = reportedVersionId ?? NULL_VERSION_ID;
    const previous = counted(statements.version.get(bucket, keyBytes(key), versionId));
    statements.ensureBucket.run(bucket);
    statements.putVersion.run(bucket, keyBytes(key), versionId, 0, size, etag, checksum?.algorithm ?? null, checksum?.value ?? null, checksum?.type ?? null);
    const change = { bytes: size - previous.bytes, objects: 1 - previous.objects };
    statements.addUsage.run(change.bytes, change.objects, 0, bucket);
    journal.record(hook, {
      key,
      replaced,
      size,
      etag,
      ...(contentType !== undefined ? { contentType } : {}),
      ...(reportedVersionId !== undefined ? { versionId: reportedVersionId } : {}),
    });
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

  // What each method does: see S3Catalog.
  return {
    usage(bucket: string): BucketUsage | undefined {
      const row = statements.usage.get(bucket);
      return row && { bytes: row.bytes, objects: row.objects, multipartBytes: row.multipart_bytes };
    },
    setUsage: (bucket: string, usage: BucketUsage) => void statements.setUsage.run(bucket, usage.bytes, usage.objects, usage.multipartBytes),
    ensureBucket: (bucket: string) => void statements.ensureBucket.run(bucket),
    dropBucket: immediate((bucket: string) => {
      statements.dropBucketVersions.run(bucket);
      statements.dropBucketParts.run(bucket);
      statements.dropBucketUploads.run(bucket);
      statements.dropBucketUsage.run(bucket);
      statements.dropBucketVersioning.run(bucket);
      statements.forgetCompletionsOfBucket.run(bucket);
    }),

    versioning: (bucket: string): VersioningStatus | undefined => statements.versioning.get(bucket) as VersioningStatus | undefined,
    setVersioning: (bucket: string, status: VersioningStatus) => void statements.setVersioning.run(bucket, status),

    object: (bucket: string, key: string): CatalogVersion | undefined => versionOf(currentRow(bucket, key)),
    latest: (bucket: string, key: string): CatalogVersion | undefined => versionOf(statements.latest.get(bucket, keyBytes(key))),
    version: (bucket: string, key: string, versionId: string): CatalogVersion | undefined => versionOf(statements.version.get(bucket, keyBytes(key), versionId)),
    replaceable(bucket: string, key: string): { size: number } | undefined {
      if (statements.versioning.get(bucket) === 'Enabled') return undefined;
      const row = statements.version.get(bucket, keyBytes(key), NULL_VERSION_ID);
      return row && row.delete_marker === 0 ? { size: row.size } : undefined;
    },
    checksumFor(bucket: string, key: string, etag: string, versionId: string | undefined): ObjectChecksum | undefined {
      const row = statements.version.get(bucket, keyBytes(key), versionId ?? NULL_VERSION_ID);
      return row && row.etag === etag ? checksumOf(row) : undefined;
    },
    recordObject: immediate(recordObject),
    recordDeletes: immediate((bucket: string, deletes: RecordedDelete[], hook?: JournalHook, journalMissing = false): boolean[] =>
      deletes.map((entry) => {
        const { key } = entry;
        if (entry.versionId !== undefined) {
          const { row } = removeVersion(bucket, key, entry.versionId);
          const marker = row ? row.delete_marker === 1 : entry.removedMarker === true;
          const replaced = row !== undefined || entry.removed === true || entry.removedMarker === true;
          if (!replaced && !journalMissing) return marker;
          journal.record(hook, {
            key,
            replaced,
            ...(row && row.delete_marker === 0 ? { size: row.size, etag: row.etag } : {}),
            versionId: entry.versionId,
            deleteMarker: marker,
          });
          return marker;
        }
        const current = currentRow(bucket, key);
        if (entry.markerVersionId !== undefined) {
          if (entry.markerVersionId === NULL_VERSION_ID) removeVersion(bucket, key, NULL_VERSION_ID);
          statements.ensureBucket.run(bucket);
          statements.putVersion.run(bucket, keyBytes(key), entry.markerVersionId, 1, 0, '', null, null, null);
          journal.record(hook, {
            key,
            replaced: current !== undefined,
            ...(current ? { size: current.size, etag: current.etag } : {}),
            versionId: entry.markerVersionId,
            deleteMarker: true,
          });
          return false;
        }
        const { row } = removeVersion(bucket, key, NULL_VERSION_ID);
        const replaced = row !== undefined && row.delete_marker === 0;
        if (replaced || journalMissing) journal.record(hook, { key, replaced, ...(row ? { size: row.size, etag: row.etag } : {}) });
        return false;
      }),
    ),

    recordUpload: (uploadId: string, bucket: string, algorithm: ChecksumAlgorithm | undefined, tags: Record<string, string> | undefined) =>
      void statements.putUpload.run(uploadId, bucket, algorithm ?? null, Date.now(), tags && Object.keys(tags).length > 0 ? JSON.stringify(tags) : null),
    uploadInitiated: (uploadId: string): number | undefined => statements.initiated.get(uploadId)?.initiated,
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
    completeUpload: immediate(
      (
        uploadId: string,
        bucket: string,
        key: string,
        versionId: string | undefined,
        size: number,
        etag: string,
        checksum: ObjectChecksum | undefined,
        hook?: JournalHook,
        contentType?: string,
        // The object's part layout and the completion's remembered answer (completed-uploads.ts).
        completed?: { parts: ObjectPart[]; completion: string },
      ): UsageChange => {
        const retired = dropUpload(uploadId, bucket);
        const change = recordObject(bucket, key, versionId, size, etag, checksum, hook, contentType);
        if (completed) {
          const now = Date.now();
          statements.setParts.run(encodeParts(completed.parts), bucket, keyBytes(key), versionId ?? NULL_VERSION_ID);
          statements.forgetCompletionsBefore.run(now - COMPLETED_UPLOAD_RETENTION_MS);
          statements.rememberCompletion.run(uploadId, bucket, keyBytes(key), now, completed.completion);
        }
        return { bytes: change.bytes - retired, objects: change.objects };
      },
    ),
    completion: (uploadId: string, bucket: string, key: string): string | undefined =>
      statements.completion.get(uploadId, bucket, keyBytes(key), Date.now() - COMPLETED_UPLOAD_RETENTION_MS),
    abortUpload: immediate((uploadId: string, bucket: string) => void dropUpload(uploadId, bucket)),
    journalChange: immediate((hook: JournalHook | undefined, facts: Omit<CommitFacts, 'size' | 'etag'> & { bucket: string }) => {
      const known = facts.versionId === undefined ? currentRow(facts.bucket, facts.key) : statements.version.get(facts.bucket, keyBytes(facts.key), facts.versionId);
      journal.record(hook, {
        key: facts.key,
        replaced: facts.replaced,
        ...(known ? { size: known.size, etag: known.etag } : {}),
        ...(facts.versionId !== undefined ? { versionId: facts.versionId } : {}),
      });
    }),
    claimKey: immediate((bucket: string, key: string, conditions: WriteConditions, now: number, ttlMs: number, current?: { etag: string } | null): string => {
      const held = statements.claim.get(bucket, keyBytes(key));
      if (held && held.expires_at > now) throw conditionalConflict(conditions, key);
      checkWriteConditions(current === undefined ? currentRow(bucket, key) : (current ?? undefined), conditions, key);
      const claim = randomUUID();
      statements.putClaim.run(bucket, keyBytes(key), claim, now + ttlMs);
      return claim;
    }),
    releaseClaim: (bucket: string, key: string, claim: string) => void statements.deleteClaim.run(bucket, keyBytes(key), claim),
    eventJournal: journal,

    close: () => db.close(),
  };
}

/**
 * A version row as both catalogs read it (PostgreSQL's rows are brought to this shape: numbers,
 * `delete_marker` 0 or 1).
 */
export interface VersionRow {
  version_id: string;
  delete_marker: number;
  size: number;
  etag: string;
  checksum_algorithm: string | null;
  checksum_value: string | null;
  checksum_type: string | null;
  parts: string | null;
}

/** Bytes and objects a row counts for in usage: markers count nothing. */
export const counted = (row: VersionRow | undefined) => (row && row.delete_marker === 0 ? { bytes: row.size, objects: 1 } : { bytes: 0, objects: 0 });

/** A version row as callers see it. */
export function versionOf(row: VersionRow | undefined): CatalogVersion | undefined {
  if (!row) return undefined;
  const checksum = checksumOf(row);
  const parts = decodeParts(row.parts, checksum);
  return { versionId: row.version_id, deleteMarker: row.delete_marker === 1, size: row.size, etag: row.etag, ...(checksum ? { checksum } : {}), ...(parts ? { parts } : {}) };
}

/** The additional checksum a row records, if any. */
export function checksumOf(row: Pick<VersionRow, 'checksum_algorithm' | 'checksum_value' | 'checksum_type'>): ObjectChecksum | undefined {
  return row.checksum_algorithm && row.checksum_value
    ? { algorithm: row.checksum_algorithm as ChecksumAlgorithm, value: row.checksum_value, type: row.checksum_type as ObjectChecksum['type'] }
    : undefined;
}

/** A version (or delete marker) as the catalog recorded it. */
export interface CatalogVersion {
  versionId: string;
  deleteMarker: boolean;
  size: number;
  etag: string;
  checksum?: ObjectChecksum;
  parts?: ObjectPart[];
}

/** One delete as the store reported it (see `recordDeletes`). */
export interface RecordedDelete {
  key: string;
  /** The version the request named. */
  versionId?: string;
  /** The store said it removed that version (it echoes `x-amz-version-id`). */
  removed?: boolean;
  /** The store said the version it removed was a delete marker. */
  removedMarker?: boolean;
  /** The delete marker the store created. */
  markerVersionId?: string;
}
