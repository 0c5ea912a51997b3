import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import type { ChecksumAlgorithm } from '../../checksums/checksums.ts';
import { databaseUnavailableError } from '../../db/database-errors.ts';
import { isConnectionFailure } from '../../db/postgres.ts';
import type { CommitFacts, DomainEvent, JournalHook } from '../../events/events.ts';
import { COMPLETED_UPLOAD_RETENTION_MS } from '../completed-uploads.ts';
import { checkWriteConditions, conditionalConflict } from '../conditions.ts';
import { encodeParts } from '../part-number.ts';
import { NULL_VERSION_ID, type BucketUsage, type EventJournal, type JournalEntry, type ObjectChecksum, type UsageChange, type VersioningStatus } from '../storage-backend.ts';
import { checksumOf, counted, versionOf, type CatalogPart, type CatalogUpload, type RecordedDelete, type S3Catalog, type VersionRow } from './s3-catalog.ts';

/**
 * Key of the advisory lock the catalog's migrations run under, so gateways starting together
 * migrate once. Distinct from the metadata migrations' key (src/db/postgres.ts).
 */
const MIGRATION_LOCK_KEY = '4813130131';

/**
 * The catalog's schema in PostgreSQL, step by step: step N takes the database from version N-1
 * (recorded in `s3_catalog_schema`) to N. Append-only, like the SQLite steps
 * (s3-catalog-migrations.ts), whose current schema step 1 matches. Every table is prefixed
 * `s3_catalog_`, apart from the metadata tables in the same database. Keys are bytea (UTF-8
 * bytes: byte order, and any character S3 allows, NUL included); other names `COLLATE "C"`;
 * sizes and counters BIGINT.
 */
const STEPS: readonly string[] = [
  `
  CREATE TABLE s3_catalog_bucket_usage (
    bucket TEXT COLLATE "C" PRIMARY KEY,
    bytes BIGINT NOT NULL DEFAULT 0,
    objects BIGINT NOT NULL DEFAULT 0,
    multipart_bytes BIGINT NOT NULL DEFAULT 0
  );
  CREATE TABLE s3_catalog_bucket_versioning (
    bucket TEXT COLLATE "C" PRIMARY KEY,
    status TEXT NOT NULL
  );
  -- Orders a key's rows as they were recorded (the highest is the latest); a replaced null
  -- version takes a new value, as it becomes the latest in the store.
  CREATE SEQUENCE s3_catalog_version_seq AS BIGINT;
  CREATE TABLE s3_catalog_object_versions (
    seq BIGINT NOT NULL DEFAULT nextval('s3_catalog_version_seq'),
    bucket TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    version_id TEXT COLLATE "C" NOT NULL,
    delete_marker BOOLEAN NOT NULL DEFAULT FALSE,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_value TEXT,
    checksum_type TEXT,
    parts TEXT,
    PRIMARY KEY (bucket, key, version_id)
  );
  CREATE INDEX s3_catalog_object_versions_latest ON s3_catalog_object_versions (bucket, key, seq);
  CREATE TABLE s3_catalog_uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    checksum_algorithm TEXT,
    tags TEXT,
    initiated BIGINT NOT NULL
  );
  CREATE INDEX s3_catalog_uploads_bucket ON s3_catalog_uploads (bucket);
  CREATE TABLE s3_catalog_parts (
    upload_id TEXT COLLATE "C" NOT NULL,
    part_number INTEGER NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    checksum_value TEXT,
    PRIMARY KEY (upload_id, part_number)
  );
  CREATE TABLE s3_catalog_completed_uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    completed_at BIGINT NOT NULL,
    completion TEXT NOT NULL
  );
  CREATE INDEX s3_catalog_completed_uploads_by_time ON s3_catalog_completed_uploads (completed_at);
  CREATE INDEX s3_catalog_completed_uploads_bucket ON s3_catalog_completed_uploads (bucket);
  CREATE TABLE s3_catalog_write_claims (
    bucket TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    claim TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
  );
  CREATE TABLE s3_catalog_journal (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event TEXT NOT NULL
  );
  `,
];

/** The schema version this code writes. */
export const PG_CATALOG_SCHEMA_VERSION = STEPS.length;

/** Deadlock and serialization failures: the transaction did nothing and runs again. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 4;

const VERSION_COLUMNS = 'version_id, delete_marker, size, etag, checksum_algorithm, checksum_value, checksum_type, parts';

/** `databaseUnavailableError()` for a connection failure (503 with Retry-After at every door); anything else unchanged. */
function mapFailure(error: unknown): unknown {
  if (!isConnectionFailure(error)) return error;
  const unavailable = databaseUnavailableError();
  unavailable.cause = error;
  return unavailable;
}

/**
 * A 64-bit advisory lock key for a name (a key of a bucket, an upload): writes that read a row
 * and then change it by what they read take these first, where SQLite relied on its one writer.
 * A collision of two names only makes their writes wait for each other.
 */
function lockKey(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest().readBigInt64BE(0).toString();
}

const keyLock = (bucket: string, key: string) => lockKey('key', bucket, key);
const uploadLock = (uploadId: string) => lockKey('upload', uploadId);
const keyBytes = (key: string) => Buffer.from(key, 'utf8');

function toVersionRow(row: QueryResultRow): VersionRow {
  return {
    version_id: row.version_id as string,
    delete_marker: row.delete_marker ? 1 : 0,
    size: Number(row.size),
    etag: row.etag as string,
    checksum_algorithm: row.checksum_algorithm as string | null,
    checksum_value: row.checksum_value as string | null,
    checksum_type: row.checksum_type as string | null,
    parts: row.parts as string | null,
  };
}

/** Applies the pending steps in one transaction under the migration lock; refuses a database written by a newer server. */
async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    // Held to the end of the transaction: a second gateway starting now waits here, then finds the schema current.
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS s3_catalog_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
    const found = await client.query<{ version: number }>('SELECT version FROM s3_catalog_schema WHERE id = 1');
    const version = found.rows[0]?.version ?? 0;
    if (version > STEPS.length) {
      throw new Error(`The s3 catalog in PostgreSQL has schema version ${version}, newer than this server knows (${STEPS.length}): run the newer server.`);
    }
    for (let step = version; step < STEPS.length; step++) await client.query(STEPS[step]!);
    if (version < STEPS.length) {
      await client.query('INSERT INTO s3_catalog_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version', [STEPS.length]);
    }
    await client.query('COMMIT');
  } catch (error) {
    broken = isConnectionFailure(error);
    if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
    throw mapFailure(error);
  } finally {
    client.release(broken);
  }
}

/**
 * The catalog in the shared PostgreSQL database (DATABASE_URL): the same behaviour as the SQLite
 * file (s3-catalog.ts; one contract suite, s3-catalog.contract.ts), shared by every gateway on
 * every host. `pool` is the process's bounded pool, owned by the caller.
 *
 * Concurrency across gateways, where SQLite had one writer at a time:
 * - every write transaction first takes transaction-scoped advisory locks on the keys (and
 *   uploads) it reads and then changes, in a fixed order (no deadlock between batches), so a
 *   key's versions, its latest row and its claim change one writer at a time, and `seq` (a
 *   sequence) follows the order of those writers;
 * - usage counters change by `bytes = bytes + $n` in the same transaction, never by a value read
 *   earlier, so increments from any number of gateways add up exactly;
 * - a change and the journal entries it makes commit together (one transaction);
 * - a deadlock or serialization failure runs the transaction again (it did nothing); a lost
 *   connection is `databaseUnavailableError` (503 with Retry-After).
 */
export async function openPgS3Catalog(pool: Pool): Promise<S3Catalog> {
  await migrate(pool);

  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };

  async function query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw mapFailure(error);
    }
  }

  /** One transaction on a pooled client (always released), holding the advisory `locks` from its start. */
  async function transaction<T>(locks: string[], fn: (client: PoolClient, tx: { journaled: boolean }) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw mapFailure(error);
      }
      const tx = { journaled: false };
      let broken = false;
      try {
        // Sorted and distinct, so transactions sharing keys take them in the same order (no
        // deadlock). Sent with BEGIN in one round trip: the keys are decimal integers we made.
        const sorted = [...new Set(locks)].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
        await client.query(sorted.length === 0 ? 'BEGIN' : `BEGIN; SELECT ${sorted.map((id) => `pg_advisory_xact_lock(${BigInt(id)})`).join(', ')}`);
        const result = await fn(client, tx);
        await client.query('COMMIT');
        // Listeners (the relay) hear of journaled entries once they are visible to its read.
        if (tx.journaled) setImmediate(notify);
        return result;
      } catch (error) {
        broken = isConnectionFailure(error);
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        const code = (error as { code?: unknown }).code;
        if (!broken && typeof code === 'string' && RETRYABLE_SQLSTATES.has(code) && attempt < MAX_ATTEMPTS) continue;
        // A lost connection at COMMIT leaves the outcome unknown here: the caller answers 503 and acknowledged nothing.
        throw mapFailure(error);
      } finally {
        client.release(broken);
      }
    }
  }

  // ---------------------------------------------------------------- statements on a transaction's client

  const rows = async <R extends QueryResultRow>(client: PoolClient, text: string, values: unknown[]) => (await client.query<R>(text, values)).rows;

  const latestRow = async (client: PoolClient | undefined, bucket: string, key: string): Promise<VersionRow | undefined> => {
    const text = `SELECT ${VERSION_COLUMNS} FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1`;
    const found = client ? await rows(client, text, [bucket, keyBytes(key)]) : await query(text, [bucket, keyBytes(key)]);
    return found[0] && toVersionRow(found[0]);
  };

  const versionRow = async (client: PoolClient | undefined, bucket: string, key: string, versionId: string): Promise<VersionRow | undefined> => {
    const text = `SELECT ${VERSION_COLUMNS} FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3`;
    const found = client ? await rows(client, text, [bucket, keyBytes(key), versionId]) : await query(text, [bucket, keyBytes(key), versionId]);
    return found[0] && toVersionRow(found[0]);
  };

  /** The key's current object as recorded: its latest row, unless that is a delete marker. */
  const currentRow = async (client: PoolClient | undefined, bucket: string, key: string): Promise<VersionRow | undefined> => {
    const row = await latestRow(client, bucket, key);
    return row && row.delete_marker === 0 ? row : undefined;
  };

  /** Adds to the bucket's counters; `ensure` creates its row first (a write to a bucket not tracked yet). */
  async function addUsage(client: PoolClient, bucket: string, bytes: number, objects: number, multipartBytes: number, ensure = false): Promise<void> {
    if (ensure) {
      await client.query(
        `INSERT INTO s3_catalog_bucket_usage AS usage (bucket, bytes, objects, multipart_bytes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (bucket) DO UPDATE SET bytes = usage.bytes + EXCLUDED.bytes, objects = usage.objects + EXCLUDED.objects,
           multipart_bytes = usage.multipart_bytes + EXCLUDED.multipart_bytes`,
        [bucket, bytes, objects, multipartBytes],
      );
      return;
    }
    if (bytes === 0 && objects === 0 && multipartBytes === 0) return;
    await client.query('UPDATE s3_catalog_bucket_usage SET bytes = bytes + $2, objects = objects + $3, multipart_bytes = multipart_bytes + $4 WHERE bucket = $1', [
      bucket,
      bytes,
      objects,
      multipartBytes,
    ]);
  }

  async function putVersion(client: PoolClient, bucket: string, key: string, versionId: string, marker: boolean, size: number, etag: string, checksum: ObjectChecksum | undefined) {
    // A replaced row (the null version) takes a new seq: it becomes the latest, as in the store. Its part layout goes with it.
    await client.query(
      `INSERT INTO s3_catalog_object_versions (bucket, key, version_id, delete_marker, size, etag, checksum_algorithm, checksum_value, checksum_type)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (bucket, key, version_id) DO UPDATE SET seq = nextval('s3_catalog_version_seq'), delete_marker = EXCLUDED.delete_marker,
         size = EXCLUDED.size, etag = EXCLUDED.etag, checksum_algorithm = EXCLUDED.checksum_algorithm, checksum_value = EXCLUDED.checksum_value,
         checksum_type = EXCLUDED.checksum_type, parts = NULL`,
      [bucket, keyBytes(key), versionId, marker, size, etag, checksum?.algorithm ?? null, checksum?.value ?? null, checksum?.type ?? null],
    );
  }

  /** Removes one version row; returns it and what it counted for. */
  async function removeVersion(client: PoolClient, bucket: string, key: string, versionId: string): Promise<{ row?: VersionRow }> {
    const found = await rows(client, `DELETE FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING ${VERSION_COLUMNS}`, [
      bucket,
      keyBytes(key),
      versionId,
    ]);
    if (!found[0]) return {};
    const row = toVersionRow(found[0]);
    const freed = counted(row);
    await addUsage(client, bucket, -freed.bytes, -freed.objects, 0);
    return { row };
  }

  /** Calls `hook` with the commit's facts and stores the events it returns, in the caller's transaction. */
  async function record(client: PoolClient, tx: { journaled: boolean }, hook: JournalHook | undefined, facts: CommitFacts): Promise<void> {
    if (!hook) return;
    const events: DomainEvent[] = hook(facts);
    if (events.length === 0) return;
    // unnest keeps the array's order: the identity follows it.
    await client.query('INSERT INTO s3_catalog_journal (event) SELECT unnest($1::text[])', [events.map((event) => JSON.stringify(event))]);
    tx.journaled = true;
  }

  async function recordObjectIn(
    client: PoolClient,
    tx: { journaled: boolean },
    bucket: string,
    key: string,
    reportedVersionId: string | undefined,
    size: number,
    etag: string,
    checksum: ObjectChecksum | undefined,
    hook?: JournalHook,
    contentType?: string,
  ): Promise<UsageChange> {
    const versionId = reportedVersionId ?? NULL_VERSION_ID;
    // The key's latest row and the row this write replaces, in one round trip (the same row, or none, often).
    const found = await rows(
      client,
      `SELECT ${VERSION_COLUMNS}, version_id = $3 AS replaces,
         seq = (SELECT max(seq) FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2) AS latest
       FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2
         AND (version_id = $3 OR seq = (SELECT max(seq) FROM s3_catalog_object_versions WHERE bucket = $1 AND key = $2))`,
      [bucket, keyBytes(key), versionId],
    );
    const latest = found.find((row) => row.latest);
    const target = found.find((row) => row.replaces);
    // `replaced` as far as the catalog knows: an object written behind the gateway is not seen.
    const replaced = latest !== undefined && !latest.delete_marker;
    const previous = counted(target && toVersionRow(target));
    await putVersion(client, bucket, key, versionId, false, size, etag, checksum);
    const change = { bytes: size - previous.bytes, objects: 1 - previous.objects };
    await addUsage(client, bucket, change.bytes, change.objects, 0, true);
    await record(client, tx, hook, {
      key,
      replaced,
      size,
      etag,
      ...(contentType !== undefined ? { contentType } : {}),
      ...(reportedVersionId !== undefined ? { versionId: reportedVersionId } : {}),
    });
    return change;
  }

  /** Returns the bytes of parts that stopped counting. */
  async function dropUpload(client: PoolClient, uploadId: string, bucket: string): Promise<number> {
    const removed = await rows<{ size: string }>(client, 'DELETE FROM s3_catalog_parts WHERE upload_id = $1 RETURNING size', [uploadId]);
    const total = removed.reduce((sum, part) => sum + Number(part.size), 0);
    await client.query('DELETE FROM s3_catalog_uploads WHERE upload_id = $1', [uploadId]);
    await addUsage(client, bucket, 0, 0, -total);
    return total;
  }

  const eventJournal: EventJournal = {
    async readJournal(limit: number): Promise<JournalEntry[]> {
      // No FOR UPDATE SKIP LOCKED: a lock would have to last until the ack, across the append to the
      // event log. Gateways reading the same entries append them twice, which the log ignores by id.
      const found = await query<{ seq: string; event: string }>('SELECT seq, event FROM s3_catalog_journal ORDER BY seq LIMIT $1', [limit]);
      return found.map((row) => ({ seq: Number(row.seq), event: JSON.parse(row.event) as DomainEvent }));
    },
    async ackJournal(seqs: number[]): Promise<void> {
      if (seqs.length === 0) return;
      // Entries another gateway acked already are simply not there any more.
      await query('DELETE FROM s3_catalog_journal WHERE seq = ANY($1::bigint[])', [seqs]);
    },
    onJournaled(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };

  return {
    async usage(bucket) {
      const [row] = await query<{ bytes: string; objects: string; multipart_bytes: string }>(
        'SELECT bytes, objects, multipart_bytes FROM s3_catalog_bucket_usage WHERE bucket = $1',
        [bucket],
      );
      return row && { bytes: Number(row.bytes), objects: Number(row.objects), multipartBytes: Number(row.multipart_bytes) };
    },
    async setUsage(bucket, usage: BucketUsage) {
      await query(
        `INSERT INTO s3_catalog_bucket_usage (bucket, bytes, objects, multipart_bytes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (bucket) DO UPDATE SET bytes = EXCLUDED.bytes, objects = EXCLUDED.objects, multipart_bytes = EXCLUDED.multipart_bytes`,
        [bucket, usage.bytes, usage.objects, usage.multipartBytes],
      );
    },
    async ensureBucket(bucket) {
      await query('INSERT INTO s3_catalog_bucket_usage (bucket) VALUES ($1) ON CONFLICT (bucket) DO NOTHING', [bucket]);
    },
    dropBucket: (bucket) =>
      transaction([], async (client) => {
        await client.query('DELETE FROM s3_catalog_object_versions WHERE bucket = $1', [bucket]);
        await client.query('DELETE FROM s3_catalog_parts WHERE upload_id IN (SELECT upload_id FROM s3_catalog_uploads WHERE bucket = $1)', [bucket]);
        await client.query('DELETE FROM s3_catalog_uploads WHERE bucket = $1', [bucket]);
        await client.query('DELETE FROM s3_catalog_bucket_usage WHERE bucket = $1', [bucket]);
        await client.query('DELETE FROM s3_catalog_bucket_versioning WHERE bucket = $1', [bucket]);
        await client.query('DELETE FROM s3_catalog_completed_uploads WHERE bucket = $1', [bucket]);
      }),

    async versioning(bucket) {
      const [row] = await query<{ status: string }>('SELECT status FROM s3_catalog_bucket_versioning WHERE bucket = $1', [bucket]);
      return row?.status as VersioningStatus | undefined;
    },
    async setVersioning(bucket, status) {
      await query('INSERT INTO s3_catalog_bucket_versioning (bucket, status) VALUES ($1, $2) ON CONFLICT (bucket) DO UPDATE SET status = EXCLUDED.status', [bucket, status]);
    },
    async readFacts(bucket, key, storeVersionId, etag) {
      const versionId = storeVersionId ?? NULL_VERSION_ID;
      // One round trip on the read path: the state and the version's checksum columns (NULL when there is no row).
      const [row] = await query<{ status: string | null; etag: string | null; checksum_algorithm: string | null; checksum_value: string | null; checksum_type: string | null }>(
        `SELECT (SELECT status FROM s3_catalog_bucket_versioning WHERE bucket = $1) AS status, v.etag, v.checksum_algorithm, v.checksum_value, v.checksum_type
         FROM (SELECT 1) AS one LEFT JOIN s3_catalog_object_versions AS v ON v.bucket = $1 AND v.key = $2 AND v.version_id = $3`,
        [bucket, keyBytes(key), versionId],
      );
      const versioning = (row?.status ?? undefined) as VersioningStatus | undefined;
      const checksum = row && row.etag === etag ? checksumOf(row) : undefined;
      return { ...(versioning ? { versioning } : {}), ...(checksum ? { checksum } : {}) };
    },

    object: async (bucket, key) => versionOf(await currentRow(undefined, bucket, key)),
    latest: async (bucket, key) => versionOf(await latestRow(undefined, bucket, key)),
    version: async (bucket, key, versionId) => versionOf(await versionRow(undefined, bucket, key, versionId)),
    async replaceable(bucket, key) {
      const [row] = await query<{ status: string | null; delete_marker: boolean | null; size: string | null }>(
        `SELECT (SELECT status FROM s3_catalog_bucket_versioning WHERE bucket = $1) AS status, v.delete_marker, v.size
         FROM (SELECT 1) AS one LEFT JOIN s3_catalog_object_versions AS v ON v.bucket = $1 AND v.key = $2 AND v.version_id = $3`,
        [bucket, keyBytes(key), NULL_VERSION_ID],
      );
      if (!row || row.status === 'Enabled' || row.size === null || row.delete_marker) return undefined;
      return { size: Number(row.size) };
    },
    async checksumFor(bucket, key, etag, versionId) {
      const row = await versionRow(undefined, bucket, key, versionId ?? NULL_VERSION_ID);
      return row && row.etag === etag ? checksumOf(row) : undefined;
    },
    recordObject: (bucket, key, versionId, size, etag, checksum, hook, contentType) =>
      transaction([keyLock(bucket, key)], (client, tx) => recordObjectIn(client, tx, bucket, key, versionId, size, etag, checksum, hook, contentType)),

    recordDeletes: (bucket: string, deletes: RecordedDelete[], hook?: JournalHook, journalMissing = false) =>
      transaction(
        deletes.map((entry) => keyLock(bucket, entry.key)),
        async (client, tx) => {
          const markers: boolean[] = [];
          for (const entry of deletes) {
            const { key } = entry;
            if (entry.versionId !== undefined) {
              const { row } = await removeVersion(client, bucket, key, entry.versionId);
              const marker = row ? row.delete_marker === 1 : entry.removedMarker === true;
              const replaced = row !== undefined || entry.removed === true || entry.removedMarker === true;
              markers.push(marker);
              if (!replaced && !journalMissing) continue;
              await record(client, tx, hook, {
                key,
                replaced,
                ...(row && row.delete_marker === 0 ? { size: row.size, etag: row.etag } : {}),
                versionId: entry.versionId,
                deleteMarker: marker,
              });
              continue;
            }
            markers.push(false);
            const current = await currentRow(client, bucket, key);
            if (entry.markerVersionId !== undefined) {
              if (entry.markerVersionId === NULL_VERSION_ID) await removeVersion(client, bucket, key, NULL_VERSION_ID);
              await addUsage(client, bucket, 0, 0, 0, true);
              await putVersion(client, bucket, key, entry.markerVersionId, true, 0, '', undefined);
              await record(client, tx, hook, {
                key,
                replaced: current !== undefined,
                ...(current ? { size: current.size, etag: current.etag } : {}),
                versionId: entry.markerVersionId,
                deleteMarker: true,
              });
              continue;
            }
            const { row } = await removeVersion(client, bucket, key, NULL_VERSION_ID);
            const replaced = row !== undefined && row.delete_marker === 0;
            if (replaced || journalMissing) await record(client, tx, hook, { key, replaced, ...(row ? { size: row.size, etag: row.etag } : {}) });
          }
          return markers;
        },
      ),

    async recordUpload(uploadId, bucket, algorithm: ChecksumAlgorithm | undefined, tags) {
      await query(
        `INSERT INTO s3_catalog_uploads (upload_id, bucket, checksum_algorithm, initiated, tags) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (upload_id) DO UPDATE SET bucket = EXCLUDED.bucket, checksum_algorithm = EXCLUDED.checksum_algorithm, initiated = EXCLUDED.initiated, tags = EXCLUDED.tags`,
        [uploadId, bucket, algorithm ?? null, Date.now(), tags && Object.keys(tags).length > 0 ? JSON.stringify(tags) : null],
      );
    },
    async uploadInitiated(uploadId) {
      const [row] = await query<{ initiated: string }>('SELECT initiated FROM s3_catalog_uploads WHERE upload_id = $1', [uploadId]);
      return row ? Number(row.initiated) : undefined;
    },
    async countUploads(bucket) {
      const [row] = await query<{ count: string }>('SELECT COUNT(*) AS count FROM s3_catalog_uploads WHERE bucket = $1', [bucket]);
      return Number(row?.count ?? 0);
    },
    async partSize(uploadId, partNumber) {
      const [row] = await query<{ size: string }>('SELECT size FROM s3_catalog_parts WHERE upload_id = $1 AND part_number = $2', [uploadId, partNumber]);
      return row ? Number(row.size) : undefined;
    },
    async partsTotal(uploadId) {
      const [row] = await query<{ total: string | null }>('SELECT SUM(size) AS total FROM s3_catalog_parts WHERE upload_id = $1', [uploadId]);
      return Number(row?.total ?? 0);
    },
    async upload(uploadId): Promise<CatalogUpload | undefined> {
      const [row] = await query<CatalogUpload>('SELECT bucket, checksum_algorithm, tags FROM s3_catalog_uploads WHERE upload_id = $1', [uploadId]);
      return row && { bucket: row.bucket, checksum_algorithm: row.checksum_algorithm, tags: row.tags };
    },
    async parts(uploadId): Promise<CatalogPart[]> {
      const found = await query<{ part_number: number; size: string; etag: string; checksum_value: string | null }>(
        'SELECT part_number, size, etag, checksum_value FROM s3_catalog_parts WHERE upload_id = $1 ORDER BY part_number',
        [uploadId],
      );
      return found.map((row) => ({ part_number: row.part_number, size: Number(row.size), etag: row.etag, checksum_value: row.checksum_value }));
    },
    recordPart: (uploadId, bucket, partNumber, size, etag, checksumValue) =>
      transaction([uploadLock(uploadId)], async (client) => {
        // Parts of uploads started elsewhere are counted too: they occupy the backend all the same.
        await client.query('INSERT INTO s3_catalog_uploads (upload_id, bucket, initiated) VALUES ($1, $2, $3) ON CONFLICT (upload_id) DO NOTHING', [uploadId, bucket, Date.now()]);
        const [previous] = await rows<{ size: string }>(client, 'SELECT size FROM s3_catalog_parts WHERE upload_id = $1 AND part_number = $2', [uploadId, partNumber]);
        await client.query(
          `INSERT INTO s3_catalog_parts (upload_id, part_number, size, etag, checksum_value) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, checksum_value = EXCLUDED.checksum_value`,
          [uploadId, partNumber, size, etag, checksumValue ?? null],
        );
        const grown = size - Number(previous?.size ?? 0);
        await addUsage(client, bucket, 0, 0, grown, true);
        return { bytes: grown, objects: 0 };
      }),
    completeUpload: (uploadId, bucket, key, versionId, size, etag, checksum, hook, contentType, completed) =>
      transaction([uploadLock(uploadId), keyLock(bucket, key)], async (client, tx) => {
        const retired = await dropUpload(client, uploadId, bucket);
        const change = await recordObjectIn(client, tx, bucket, key, versionId, size, etag, checksum, hook, contentType);
        if (completed) {
          const now = Date.now();
          await client.query('UPDATE s3_catalog_object_versions SET parts = $1 WHERE bucket = $2 AND key = $3 AND version_id = $4', [
            encodeParts(completed.parts),
            bucket,
            keyBytes(key),
            versionId ?? NULL_VERSION_ID,
          ]);
          await client.query('DELETE FROM s3_catalog_completed_uploads WHERE completed_at < $1', [now - COMPLETED_UPLOAD_RETENTION_MS]);
          await client.query(
            `INSERT INTO s3_catalog_completed_uploads (upload_id, bucket, key, completed_at, completion) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (upload_id) DO UPDATE SET bucket = EXCLUDED.bucket, key = EXCLUDED.key, completed_at = EXCLUDED.completed_at, completion = EXCLUDED.completion`,
            [uploadId, bucket, keyBytes(key), now, completed.completion],
          );
        }
        return { bytes: change.bytes - retired, objects: change.objects };
      }),
    async completion(uploadId, bucket, key) {
      const [row] = await query<{ completion: string }>(
        'SELECT completion FROM s3_catalog_completed_uploads WHERE upload_id = $1 AND bucket = $2 AND key = $3 AND completed_at >= $4',
        [uploadId, bucket, keyBytes(key), Date.now() - COMPLETED_UPLOAD_RETENTION_MS],
      );
      return row?.completion;
    },
    abortUpload: (uploadId, bucket) =>
      transaction([uploadLock(uploadId)], async (client) => {
        await dropUpload(client, uploadId, bucket);
      }),
    journalChange: (hook, facts) =>
      transaction([], async (client, tx) => {
        const known = facts.versionId === undefined ? await currentRow(client, facts.bucket, facts.key) : await versionRow(client, facts.bucket, facts.key, facts.versionId);
        await record(client, tx, hook, {
          key: facts.key,
          replaced: facts.replaced,
          ...(known ? { size: known.size, etag: known.etag } : {}),
          ...(facts.versionId !== undefined ? { versionId: facts.versionId } : {}),
        });
      }),
    claimKey: (bucket, key, conditions, now, ttlMs, current) =>
      transaction([keyLock(bucket, key)], async (client) => {
        const [held] = await rows<{ expires_at: string }>(client, 'SELECT expires_at FROM s3_catalog_write_claims WHERE bucket = $1 AND key = $2', [bucket, keyBytes(key)]);
        if (held && Number(held.expires_at) > now) throw conditionalConflict(conditions, key);
        checkWriteConditions(current === undefined ? await currentRow(client, bucket, key) : (current ?? undefined), conditions, key);
        const claim = randomUUID();
        // Under the key's lock the row is ours to replace (it is absent or lapsed); the primary key
        // still refuses a second live claim should anything ever write here without that lock.
        const taken = await rows(
          client,
          `INSERT INTO s3_catalog_write_claims AS claims (bucket, key, claim, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (bucket, key) DO UPDATE SET claim = EXCLUDED.claim, expires_at = EXCLUDED.expires_at WHERE claims.expires_at <= $5 RETURNING claim`,
          [bucket, keyBytes(key), claim, now + ttlMs, now],
        );
        if (taken.length === 0) throw conditionalConflict(conditions, key);
        return claim;
      }),
    async releaseClaim(bucket, key, claim) {
      await query('DELETE FROM s3_catalog_write_claims WHERE bucket = $1 AND key = $2 AND claim = $3', [bucket, keyBytes(key), claim]);
    },
    eventJournal,
    // The pool is the process's: whoever opened it ends it.
    close: async () => listeners.clear(),
  };
}
