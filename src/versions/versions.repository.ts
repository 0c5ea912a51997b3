import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { buckets, type BucketRow } from '../db/schema.ts';
import { bucketRetention, versionCounters, versionNumbers } from '../db/versions.schema.ts';

export type VersionsRepository = ReturnType<typeof createVersionsRepository>;

export interface RetentionSettings {
  maxVersions: number;
  maxAgeDays: number;
}

/** Retention settings and the Time Machine's version numbers (src/db/versions.schema.ts). */
export function createVersionsRepository({ db }: { db: Db }) {
  return {
    retention(bucketId: string): RetentionSettings | undefined {
      return db
        .select({ maxVersions: bucketRetention.maxVersions, maxAgeDays: bucketRetention.maxAgeDays })
        .from(bucketRetention)
        .where(eq(bucketRetention.bucketId, bucketId))
        .get();
    },

    setRetention(bucketId: string, settings: RetentionSettings): void {
      db.insert(bucketRetention)
        .values({ bucketId, ...settings })
        .onConflictDoUpdate({ target: bucketRetention.bucketId, set: settings })
        .run();
    },

    /** Every bucket a sweep visits: the accounts' own buckets (internal ones are never versioned). */
    allBuckets(): BucketRow[] {
      return db.select().from(buckets).where(eq(buckets.internal, false)).all();
    },

    /**
     * The number of each of the key's versions (`versions` oldest first, the key's complete list):
     * versions seen before keep theirs, new ones get the next numbers of the key's counter (which
     * never goes back, so a number is never reused), and rows of versions no longer listed are
     * dropped. One immediate transaction: two callers numbering the same key agree.
     */
    numberVersions(bucketId: string, key: string, versions: readonly { versionId: string; modifiedAt: number }[]): Map<string, number> {
      return db.transaction(
        (tx) => {
          const known = new Map(
            tx
              .select()
              .from(versionNumbers)
              .where(and(eq(versionNumbers.bucketId, bucketId), eq(versionNumbers.key, key)))
              .all()
              .map((row) => [row.versionId, row]),
          );
          let last =
            tx
              .select({ last: versionCounters.lastNumber })
              .from(versionCounters)
              .where(and(eq(versionCounters.bucketId, bucketId), eq(versionCounters.key, key)))
              .get()?.last ?? 0;
          const numbers = new Map<string, number>();
          for (const version of versions) {
            const row = known.get(version.versionId);
            known.delete(version.versionId);
            // The same id with other content is a `null` version replaced while Suspended: a new version.
            if (row && row.modifiedAt === version.modifiedAt) {
              numbers.set(version.versionId, row.number);
              continue;
            }
            last += 1;
            numbers.set(version.versionId, last);
            tx.insert(versionNumbers)
              .values({ bucketId, key, versionId: version.versionId, modifiedAt: version.modifiedAt, number: last })
              .onConflictDoUpdate({ target: [versionNumbers.bucketId, versionNumbers.key, versionNumbers.versionId], set: { modifiedAt: version.modifiedAt, number: last } })
              .run();
          }
          for (const gone of known.keys()) {
            tx.delete(versionNumbers)
              .where(and(eq(versionNumbers.bucketId, bucketId), eq(versionNumbers.key, key), eq(versionNumbers.versionId, gone)))
              .run();
          }
          tx.insert(versionCounters)
            .values({ bucketId, key, lastNumber: last })
            .onConflictDoUpdate({ target: [versionCounters.bucketId, versionCounters.key], set: { lastNumber: last } })
            .run();
          return numbers;
        },
        { behavior: 'immediate' },
      );
    },
  };
}
