import type { Clock } from '../clock.ts';
import type { BucketRow } from '../db/schema.ts';
import { isS3Error } from '../errors/s3-errors.ts';
import type { Logger } from '../logger.ts';
import type { ObjectsService } from '../objects/objects.service.ts';
import type { Principal } from '../objects/principal.ts';
import type { ObjectVersionEntry } from '../storage/storage-backend.ts';
import { entriesToPrune, listKeyVersions, type RetentionPolicy } from './key-versions.ts';
import type { RetentionSettings, VersionsRepository } from './versions.repository.ts';

export type Retention = ReturnType<typeof createRetention>;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Versions a sweep reads per listing page. */
const SWEEP_PAGE = 1000;

/** The account acting through the server's own jobs (retention, trash purge): unrestricted within the account, `system` in events. */
export const systemPrincipal = (accountId: string, job: string): Principal => ({ accountId, actor: { kind: 'system', id: job } });

/**
 * Version retention (Time Machine): per bucket at most `maxVersions` versions per key and no
 * noncurrent version older than `maxAgeDays` (bucket_retention, else the TIME_MACHINE_* defaults).
 * Pruning deletes versions for good through the objects service (quota settled, `object.deleted`
 * events with `detail.retention`), as the account's system actor. It runs after each write (the
 * `time-machine` event subscriber: any door, S3 included) and over every bucket in the periodic sweep.
 */
export function createRetention(deps: {
  objects: ObjectsService;
  repository: VersionsRepository;
  defaults: RetentionSettings;
  clock: Clock;
  logger?: Logger;
  /** The key's delete markers that trash entries hold (src/trash/): what they hid stays restorable until the trash purges it. */
  heldMarkers?: (bucketId: string, key: string) => Promise<ReadonlySet<string>>;
}) {
  const { objects, repository, clock } = deps;

  const settingsOf = async (bucketId: string): Promise<RetentionSettings> => (await repository.retention(bucketId)) ?? deps.defaults;
  const policyOf = async (bucketId: string): Promise<RetentionPolicy> => {
    const settings = await settingsOf(bucketId);
    return { maxVersions: settings.maxVersions, maxAgeMs: settings.maxAgeDays * DAY_MS };
  };

  /**
   * Numbers the key's versions before any is pruned (src/versions/versions.repository.ts): a version
   * written through S3 and pruned before anyone listed it still took its number, so the numbers the
   * Time Machine API shows stay the write order (v3..v12 after 12 writes with 10 kept), never reused.
   */
  const numberVersions = async (bucket: BucketRow, entries: ObjectVersionEntry[]) => {
    const versions = entries.filter((entry) => !entry.deleteMarker);
    if (versions.length > 0)
      await repository.numberVersions(
        bucket.id,
        entries[0]!.key,
        versions.reverse().map((entry) => ({ versionId: entry.versionId, modifiedAt: entry.lastModified.getTime() })),
      );
  };

  async function prune(principal: Principal, bucket: BucketRow, entries: ObjectVersionEntry[], policy: RetentionPolicy): Promise<number> {
    await numberVersions(bucket, entries);
    // Only a key with a delete marker can be in the trash: other keys cost no lookup.
    const held = deps.heldMarkers && entries.some((entry) => entry.deleteMarker) ? await deps.heldMarkers(bucket.id, entries[0]!.key) : undefined;
    let pruned = 0;
    for (const entry of entriesToPrune(entries, policy, clock.now(), held)) {
      await objects.deleteObject(principal, { bucket: bucket.name, key: entry.key, versionId: entry.versionId, eventDetail: { retention: true } });
      pruned++;
    }
    return pruned;
  }

  const retention = {
    settingsOf,

    /** Applies the bucket's retention to one key (after a write to it). A bucket gone meanwhile prunes nothing. */
    async pruneKey(accountId: string, bucket: BucketRow, key: string): Promise<number> {
      const principal = systemPrincipal(accountId, 'time-machine');
      try {
        const entries = await listKeyVersions(objects, principal, bucket.name, key);
        return await prune(principal, bucket, entries, await policyOf(bucket.id));
      } catch (error) {
        if (isS3Error(error, 'NoSuchBucket')) return 0;
        throw error;
      }
    },

    /** Applies retention to every key of one bucket (the sweep); unversioned buckets cost one state lookup. */
    async sweepBucket(bucket: BucketRow): Promise<number> {
      const principal = systemPrincipal(bucket.userId, 'time-machine');
      if ((await objects.getBucketVersioning(principal, bucket.name)) === 'Unversioned') return 0;
      const policy = await policyOf(bucket.id);
      let pruned = 0;
      let keyMarker: string | undefined;
      let versionIdMarker: string | undefined;
      let pending: ObjectVersionEntry[] = [];
      for (;;) {
        const page = await objects.listObjectVersions(principal, { bucket: bucket.name, keyMarker, versionIdMarker, maxKeys: SWEEP_PAGE });
        for (const entry of page.entries) {
          if (pending.length > 0 && pending[0]!.key !== entry.key) {
            pruned += await prune(principal, bucket, pending, policy);
            pending = [];
          }
          pending.push(entry);
        }
        if (!page.isTruncated) break;
        keyMarker = page.nextKeyMarker;
        versionIdMarker = page.nextVersionIdMarker;
      }
      if (pending.length > 0) pruned += await prune(principal, bucket, pending, policy);
      return pruned;
    },

    /** The sweep over every bucket; a failing bucket is logged and the others still swept. */
    async sweepAll(): Promise<number> {
      let pruned = 0;
      for (const bucket of await repository.allBuckets()) {
        try {
          pruned += await retention.sweepBucket(bucket);
        } catch (error) {
          if (isS3Error(error, 'NoSuchBucket')) continue;
          deps.logger?.warn('time machine: retention sweep of a bucket failed', { bucketId: bucket.id, error: (error as Error).message });
        }
      }
      return pruned;
    },
  };
  return retention;
}
