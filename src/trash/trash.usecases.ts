import type { BucketRow } from '../db/schema.ts';
import type { TrashRow } from '../db/versions.schema.ts';
import { AppError } from '../errors/app-errors.ts';
import { isS3Error } from '../errors/s3-errors.ts';
import { newBackendBucketSuffix, newId } from '../ids.ts';
import { scopeAllows } from '../keys/key-scope.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from '../clock.ts';
import type { ObjectsService } from '../objects/objects.service.ts';
import { ScopeDeniedError } from '../objects/objects.errors.ts';
import { scopeOf, type Principal } from '../objects/principal.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { listKeyVersions } from '../versions/key-versions.ts';
import { systemPrincipal } from '../versions/retention.ts';
import { TRASH_BUCKET_NAME, type InternalObjects } from './internal-objects.ts';
import { trashBucketGoneError, trashEntryNotFoundError, trashGoneError, trashKeyTakenError } from './trash.errors.ts';
import type { TrashRepository } from './trash.repository.ts';

export type TrashUsecases = ReturnType<typeof createTrashUsecases>;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Entries one purge pass takes (the sweep runs again on its next tick). */
const PURGE_BATCH = 500;

export interface TrashEntry {
  id: string;
  bucket: string;
  key: string;
  size: number;
  contentType: string | null;
  trashedAt: Date;
  /** When the periodic purge deletes it for good (TRASH_RETENTION_DAYS after deletion). */
  expiresAt: Date;
}

/**
 * The same principal without its key scope: for the trash's own bookkeeping (the internal trash
 * bucket, which no key scope names) once the caller's scope was checked for the file itself.
 * The actor is kept, so events still name who did it.
 */
const unscoped = (principal: Principal): Principal => ({ accountId: principal.accountId, actor: principal.actor, clientAddress: principal.clientAddress });

/**
 * The trash: deletes through the dashboard and the REST API are undoable for TRASH_RETENTION_DAYS.
 * - Versioned bucket (Enabled): the delete is an S3 delete marker; the entry remembers it, restore
 *   deletes the marker (S3 clients see the same picture), purge deletes the versions it hid.
 * - Unversioned or Suspended bucket: the object is moved (copied, then deleted) into the account's
 *   internal trash bucket, a bucket row no door lists or resolves, whose usage counts toward the
 *   account's quota like any bucket row. Restore copies it back (409 when the key holds a file
 *   again in a bucket that would lose it), purge deletes it.
 * Every step goes through an objects service (scope, quota, ACLs, events): the file's own
 * `object.deleted` carries `detail.trashed`, a restore journals `object.restored`.
 */
export function createTrashUsecases(deps: {
  objects: ObjectsService;
  internal: InternalObjects;
  repository: TrashRepository;
  /** The account's bucket row by name (to record the row id: a bucket re-created under the name is another bucket). */
  resolveBucket: (accountId: string, name: string) => Promise<BucketRow | undefined>;
  /** Creates the backend bucket behind an account's internal trash bucket. */
  backend: Pick<StorageBackend, 'createBucket' | 'deleteBucket'>;
  backendBucketPrefix: string;
  /** Told when the trash bucket row is created: caches of the account's buckets (its quota's usage sum) drop theirs. */
  onBucketCreated: () => void;
  retentionDays: number;
  clock: Clock;
  logger?: Logger;
}) {
  const { objects, internal, repository, clock } = deps;
  const retentionMs = deps.retentionDays * DAY_MS;

  const toEntry = (row: TrashRow): TrashEntry => ({
    id: row.id,
    bucket: row.bucket,
    key: row.key,
    size: row.size,
    contentType: row.contentType,
    trashedAt: row.trashedAt,
    expiresAt: new Date(row.trashedAt.getTime() + retentionMs),
  });

  const requireScope = (principal: Principal, action: 'read' | 'write', bucket: string, key: string) => {
    if (!scopeAllows(scopeOf(principal), { action, bucket, key })) throw new ScopeDeniedError();
  };

  /** The account's trash bucket, created on first use (a concurrent creation wins, ours is undone). */
  async function ensureTrashBucket(userId: string): Promise<void> {
    if (await repository.internalBucket(userId, TRASH_BUCKET_NAME)) return;
    const backendName = `${deps.backendBucketPrefix}${newBackendBucketSuffix()}`;
    await deps.backend.createBucket(backendName);
    try {
      await repository.insertInternalBucket({ id: newId(), userId, name: TRASH_BUCKET_NAME, backendName });
    } catch (error) {
      await deps.backend.deleteBucket(backendName).catch(() => undefined);
      if (!(await repository.internalBucket(userId, TRASH_BUCKET_NAME).catch(() => undefined))) throw error;
    }
    // Ours or a concurrent creator's (maybe in another process): either way it is new to the caches.
    deps.onBucketCreated();
  }

  /** The entry's bucket name, while the bucket row it was trashed from still exists. */
  const bucketOf = (principal: Principal, row: TrashRow): Promise<string | undefined> => objects.bucketNameById(principal, row.bucketId);

  /**
   * Takes the entry for one restore or purge: a concurrent restore and purge of the same entry
   * (two requests, or a request and the sweep) must not both act, or a purge that listed the key
   * before the restore removed its marker deletes the file the restore just brought back. The
   * loser sees the entry gone. `release` puts it back when the action failed.
   */
  const claim = (row: TrashRow): Promise<boolean> => repository.remove(row.id);
  const release = (row: TrashRow) => repository.insert(row);

  /** Deletes what an entry holds, for good, and the entry; false when a concurrent restore or purge took it first. */
  async function purgeRow(principal: Principal, row: TrashRow): Promise<boolean> {
    if (!(await claim(row))) return false;
    try {
      await deleteHeld(principal, row);
    } catch (error) {
      await release(row);
      throw error;
    }
    return true;
  }

  async function deleteHeld(principal: Principal, row: TrashRow): Promise<void> {
    if (row.location === 'moved') {
      await internal.objects.deleteObject(unscoped(principal), { bucket: TRASH_BUCKET_NAME, key: row.trashKey! });
    } else {
      const bucket = await bucketOf(principal, row);
      if (bucket !== undefined) {
        // The marker and the versions it hid, down to the next older marker (another entry's, if trashed before).
        const entries = await listKeyVersions(objects, principal, bucket, row.key);
        const start = entries.findIndex((entry) => entry.versionId === row.versionId);
        if (start >= 0) {
          for (let index = start; index < entries.length; index++) {
            const entry = entries[index]!;
            if (index > start && entry.deleteMarker) break;
            await objects.deleteObject(principal, { bucket, key: row.key, versionId: entry.versionId, eventDetail: { purged: true, trashId: row.id } });
          }
        }
      }
    }
  }

  /** Whether the object is there, certainly gone, or unknown (the look itself failed). */
  const presence = (principal: Principal, bucket: string, key: string): Promise<'there' | 'gone' | 'unknown'> =>
    objects.headObject(unscoped(principal), { bucket, key }).then(
      () => 'there' as const,
      (error: unknown) => (isS3Error(error, 'NoSuchKey') ? ('gone' as const) : ('unknown' as const)),
    );

  /** Restores what the entry holds into `bucket` (the entry already claimed). */
  async function bringBack(principal: Principal, row: TrashRow, bucket: string): Promise<void> {
    const restoring = internal.restoring({ trashId: row.id });
    if (row.location === 'marker') {
      await restoring.deleteObject(principal, { bucket, key: row.key, versionId: row.versionId! });
      // Removing the marker brings back only what is still under it: the hidden version may have
      // been deleted by id through S3 meanwhile. Then the entry holds nothing; say so, not 200.
      if ((await presence(principal, bucket, row.key)) === 'gone') {
        throw trashGoneError(row.key);
      }
    } else {
      const present = await objects.headObject(unscoped(principal), { bucket, key: row.key }).then(
        () => true,
        (error: unknown) => {
          if (isS3Error(error, 'NoSuchKey')) return false;
          throw error;
        },
      );
      if (present && (await objects.getBucketVersioning(unscoped(principal), bucket)) !== 'Enabled') throw trashKeyTakenError(row.key);
      await restoring.copyObject(unscoped(principal), {
        bucket,
        key: row.key,
        source: { bucket: TRASH_BUCKET_NAME, key: row.trashKey! },
        metadataDirective: 'COPY',
        taggingDirective: 'COPY',
        moving: true,
      });
      await internal.objects.deleteObject(unscoped(principal), { bucket: TRASH_BUCKET_NAME, key: row.trashKey! });
    }
  }

  const rowOf = async (principal: Principal, id: string): Promise<TrashRow> => {
    const row = await repository.find(principal.accountId, id);
    // A key sees only entries its scope could read: like another account's, the others do not exist.
    if (!row || !scopeAllows(scopeOf(principal), { action: 'read', bucket: row.bucket, key: row.key })) throw trashEntryNotFoundError();
    return row;
  };

  return {
    retentionDays: deps.retentionDays,

    /**
     * Moves a file to the trash (files API DELETE). A missing file is NoSuchKey, as the file API's
     * delete always answered. The caller's key must be allowed to write the file.
     */
    async moveToTrash(principal: Principal, input: { bucket: string; key: string; signal?: AbortSignal }): Promise<TrashEntry> {
      requireScope(principal, 'write', input.bucket, input.key);
      // Size and type for the listing; the write scope was checked, a write-only key may still trash.
      const info = await objects.headObject(unscoped(principal), { bucket: input.bucket, key: input.key, signal: input.signal });
      const bucketRow = await deps.resolveBucket(principal.accountId, input.bucket);
      if (!bucketRow) throw trashEntryNotFoundError();
      const status = await objects.getBucketVersioning(unscoped(principal), input.bucket);
      const id = newId();
      const row: TrashRow = {
        id,
        userId: principal.accountId,
        bucketId: bucketRow.id,
        bucket: input.bucket,
        key: input.key,
        size: info.size,
        contentType: info.contentType ?? null,
        trashedAt: clock.now(),
        location: status === 'Enabled' ? 'marker' : 'moved',
        versionId: null,
        trashKey: null,
      };
      if (status === 'Enabled') {
        const result = await objects.deleteObject(principal, { bucket: input.bucket, key: input.key, signal: input.signal, eventDetail: { trashed: true, trashId: id } });
        await repository.insert({ ...row, versionId: result.versionId ?? null });
        return toEntry(row);
      }
      await ensureTrashBucket(principal.accountId);
      // Recorded first: a crash after the copy leaves an entry that purges the copy, never an unaccounted object.
      const moved = { ...row, trashKey: id };
      await repository.insert(moved);
      let copied = false;
      try {
        await internal.objects.copyObject(unscoped(principal), {
          bucket: TRASH_BUCKET_NAME,
          key: id,
          source: { bucket: input.bucket, key: input.key },
          metadataDirective: 'COPY',
          taggingDirective: 'COPY',
          signal: input.signal,
          // A move: a full account can still delete into its trash.
          moving: true,
        });
        copied = true;
        await objects.deleteObject(principal, { bucket: input.bucket, key: input.key, mustExist: true, eventDetail: { trashed: true, trashId: id } });
      } catch (error) {
        // The delete may have committed before it failed (e.g. settling the quota afterwards): then
        // the copy is the only one left and the entry must keep it. Undo the move only while the
        // original is certainly still there; unsure (the look failed too), keep both: a duplicate at worst.
        // NoSuchKey: the original was gone before this delete (a concurrent delete took it), so this copy is surplus.
        if (copied && !isS3Error(error, 'NoSuchKey')) {
          const original = await presence(principal, input.bucket, input.key);
          if (original === 'gone') return toEntry(moved);
          if (original === 'unknown') throw error;
        }
        if (copied) await internal.objects.deleteObject(unscoped(principal), { bucket: TRASH_BUCKET_NAME, key: id }).catch(() => undefined);
        await repository.remove(id);
        throw error;
      }
      return toEntry(moved);
    },

    /** The account's trash, newest first (an access key sees the entries its scope could read). */
    async list(principal: Principal): Promise<TrashEntry[]> {
      const scope = scopeOf(principal);
      return (await repository.listForUser(principal.accountId)).filter((row) => scopeAllows(scope, { action: 'read', bucket: row.bucket, key: row.key })).map(toEntry);
    },

    /** Brings a file back where it was deleted from (`object.restored`). */
    async restore(principal: Principal, id: string): Promise<TrashEntry> {
      const row = await rowOf(principal, id);
      requireScope(principal, 'write', row.bucket, row.key);
      const bucket = await bucketOf(principal, row);
      if (bucket === undefined) throw trashBucketGoneError(row.bucket);
      if (!(await claim(row))) throw trashEntryNotFoundError();
      try {
        await bringBack(principal, row, bucket);
      } catch (error) {
        // Nothing came back and nothing is left to hold: the entry stays gone. Otherwise it can be retried.
        if (!(error instanceof AppError && error.code === 'trash.gone')) await release(row);
        throw error;
      }
      return toEntry(row);
    },

    /** Deletes one entry for good. */
    async purge(principal: Principal, id: string): Promise<void> {
      const row = await rowOf(principal, id);
      requireScope(principal, 'write', row.bucket, row.key);
      if (!(await purgeRow(principal, row))) throw trashEntryNotFoundError();
    },

    /** Deletes every entry the caller may write, for good; answers how many. */
    async empty(principal: Principal): Promise<number> {
      const scope = scopeOf(principal);
      let purged = 0;
      for (const row of await repository.listForUser(principal.accountId)) {
        if (!scopeAllows(scope, { action: 'write', bucket: row.bucket, key: row.key })) continue;
        if (await purgeRow(principal, row)) purged++;
      }
      return purged;
    },

    /** The periodic purge: entries older than TRASH_RETENTION_DAYS, as each account's system actor. */
    async purgeExpired(): Promise<number> {
      const cutoff = new Date(clock.now().getTime() - retentionMs);
      let purged = 0;
      for (const row of await repository.expired(cutoff, PURGE_BATCH)) {
        try {
          if (await purgeRow(systemPrincipal(row.userId, 'trash'), row)) purged++;
        } catch (error) {
          deps.logger?.warn('trash: purging an expired entry failed; the next sweep retries', { trashId: row.id, error: (error as Error).message });
        }
      }
      return purged;
    },
  };
}
