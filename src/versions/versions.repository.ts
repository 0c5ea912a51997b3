import { and, eq } from 'drizzle-orm';
import type { DatabaseHandle } from '../db/database.ts';
import type { BucketRow } from '../db/schema.ts';

export type VersionsRepository = ReturnType<typeof createVersionsRepository>;

export interface RetentionSettings {
  maxVersions: number;
  maxAgeDays: number;
}

/** Retention settings and the Time Machine's version numbers (src/db/versions.schema.ts). */
export function createVersionsRepository({ database }: { database: DatabaseHandle }) {
  const { buckets, bucketRetention, versionCounters, versionNumbers } = database.tables;
  return {
    retention(bucketId: string): Promise<RetentionSettings | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select({ maxVersions: bucketRetention.maxVersions, maxAgeDays: bucketRetention.maxAgeDays })
              .from(bucketRetention)
              .where(eq(bucketRetention.bucketId, bucketId))
              .limit(1)
          )[0],
      );
    },

    setRetention(bucketId: string, settings: RetentionSettings): Promise<void> {
      return database.query(
        async (db) =>
          void (await db
            .insert(bucketRetention)
            .values({ bucketId, ...settings })
            .onConflictDoUpdate({ target: bucketRetention.bucketId, set: settings })),
      );
    },

    /** Every bucket a sweep visits: the accounts' own buckets (internal ones are never versioned). */
    allBuckets(): Promise<BucketRow[]> {
      return database.query(async (db) => db.select().from(buckets).where(eq(buckets.internal, false)));
    },

    /**
     * The number of each of the key's versions (`versions` oldest first, the key's complete list):
     * versions seen before keep theirs, new ones get the next numbers of the key's counter (which
     * never goes back, so a number is never reused), and rows of versions no longer listed are
     * dropped. One transaction holding the key's lock: two callers numbering the same key agree.
     */
    numberVersions(bucketId: string, key: string, versions: readonly { versionId: string; modifiedAt: number }[]): Promise<Map<string, number>> {
      const ofKey = and(eq(versionNumbers.bucketId, bucketId), eq(versionNumbers.key, key));
      return database.transaction(async () => {
        await database.lock(`versions:${bucketId}:${key}`);
        return database.query(async (tx) => {
          const known = new Map((await tx.select().from(versionNumbers).where(ofKey)).map((row) => [row.versionId, row]));
          let last =
            (
              await tx
                .select({ last: versionCounters.lastNumber })
                .from(versionCounters)
                .where(and(eq(versionCounters.bucketId, bucketId), eq(versionCounters.key, key)))
                .limit(1)
            )[0]?.last ?? 0;
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
            await tx
              .insert(versionNumbers)
              .values({ bucketId, key, versionId: version.versionId, modifiedAt: version.modifiedAt, number: last })
              .onConflictDoUpdate({ target: [versionNumbers.bucketId, versionNumbers.key, versionNumbers.versionId], set: { modifiedAt: version.modifiedAt, number: last } });
          }
          for (const gone of known.keys()) {
            await tx.delete(versionNumbers).where(and(ofKey, eq(versionNumbers.versionId, gone)));
          }
          await tx
            .insert(versionCounters)
            .values({ bucketId, key, lastNumber: last })
            .onConflictDoUpdate({ target: [versionCounters.bucketId, versionCounters.key], set: { lastNumber: last } });
          return numbers;
        });
      });
    },
  };
}
