import { and, asc, desc, eq, lte } from 'drizzle-orm';
import type { DatabaseHandle } from '../db/database.ts';
import type { BucketRow } from '../db/schema.ts';
import type { TrashRow } from '../db/versions.schema.ts';

export type TrashRepository = ReturnType<typeof createTrashRepository>;

/** The trash table and the accounts' internal trash buckets (src/db/versions.schema.ts, `buckets.internal`). */
export function createTrashRepository({ database }: { database: DatabaseHandle }) {
  const { trash, buckets } = database.tables;
  return {
    insert(row: TrashRow): Promise<void> {
      return database.query(async (db) => void (await db.insert(trash).values(row)));
    },
    /** The account's entry (another account's id is undefined, as a missing one). */
    find(userId: string, id: string): Promise<TrashRow | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select()
              .from(trash)
              .where(and(eq(trash.id, id), eq(trash.userId, userId)))
              .limit(1)
          )[0],
      );
    },
    listForUser(userId: string): Promise<TrashRow[]> {
      return database.query(async (db) => db.select().from(trash).where(eq(trash.userId, userId)).orderBy(desc(trash.trashedAt), asc(trash.id)));
    },
    /** Entries trashed at or before `cutoff`, oldest first (the purge). */
    expired(cutoff: Date, limit: number): Promise<TrashRow[]> {
      return database.query(async (db) => db.select().from(trash).where(lte(trash.trashedAt, cutoff)).orderBy(asc(trash.trashedAt)).limit(limit));
    },
    /** The delete markers trash entries hold on a key of a versioned bucket (retention keeps them and what they hid). */
    heldMarkers(bucketId: string, key: string): Promise<Set<string>> {
      return database.query(async (db) => {
        const rows = await db
          .select({ versionId: trash.versionId })
          .from(trash)
          .where(and(eq(trash.bucketId, bucketId), eq(trash.key, key), eq(trash.location, 'marker')));
        return new Set(rows.flatMap((row) => (row.versionId === null ? [] : [row.versionId])));
      });
    },
    /** False when another caller removed it first (a concurrent restore or purge). */
    remove(id: string): Promise<boolean> {
      return database.query(async (db) => (await db.delete(trash).where(eq(trash.id, id)).returning({ id: trash.id })).length > 0);
    },

    /** The account's internal trash bucket, if it has one yet. */
    internalBucket(userId: string, name: string): Promise<BucketRow | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select()
              .from(buckets)
              .where(and(eq(buckets.userId, userId), eq(buckets.name, name), eq(buckets.internal, true)))
              .limit(1)
          )[0],
      );
    },
    /** Inserts the internal bucket row; throws on a concurrent insert of the same (account, name). */
    insertInternalBucket(row: { id: string; userId: string; name: string; backendName: string }): Promise<BucketRow> {
      return database.query(
        async (db) =>
          (
            await db
              .insert(buckets)
              .values({ ...row, internal: true })
              .returning()
          )[0]!,
      );
    },
  };
}
