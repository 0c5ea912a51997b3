import { and, asc, desc, eq, lte } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { buckets, type BucketRow } from '../db/schema.ts';
import { trash, type TrashRow } from '../db/versions.schema.ts';

export type TrashRepository = ReturnType<typeof createTrashRepository>;

/** The trash table and the accounts' internal trash buckets (src/db/versions.schema.ts, `buckets.internal`). */
export function createTrashRepository({ db }: { db: Db }) {
  return {
    insert(row: TrashRow): void {
      db.insert(trash).values(row).run();
    },
    /** The account's entry (another account's id is undefined, as a missing one). */
    find(userId: string, id: string): TrashRow | undefined {
      return db
        .select()
        .from(trash)
        .where(and(eq(trash.id, id), eq(trash.userId, userId)))
        .get();
    },
    listForUser(userId: string): TrashRow[] {
      return db.select().from(trash).where(eq(trash.userId, userId)).orderBy(desc(trash.trashedAt), asc(trash.id)).all();
    },
    /** Entries trashed at or before `cutoff`, oldest first (the purge). */
    expired(cutoff: Date, limit: number): TrashRow[] {
      return db.select().from(trash).where(lte(trash.trashedAt, cutoff)).orderBy(asc(trash.trashedAt)).limit(limit).all();
    },
    /** The delete markers trash entries hold on a key of a versioned bucket (retention keeps them and what they hid). */
    heldMarkers(bucketId: string, key: string): Set<string> {
      const rows = db
        .select({ versionId: trash.versionId })
        .from(trash)
        .where(and(eq(trash.bucketId, bucketId), eq(trash.key, key), eq(trash.location, 'marker')))
        .all();
      return new Set(rows.flatMap((row) => (row.versionId === null ? [] : [row.versionId])));
    },
    /** False when another caller removed it first (a concurrent restore or purge). */
    remove(id: string): boolean {
      return db.delete(trash).where(eq(trash.id, id)).run().changes > 0;
    },

    /** The account's internal trash bucket, if it has one yet. */
    internalBucket(userId: string, name: string): BucketRow | undefined {
      return db
        .select()
        .from(buckets)
        .where(and(eq(buckets.userId, userId), eq(buckets.name, name), eq(buckets.internal, true)))
        .get();
    },
    /** Inserts the internal bucket row; throws on a concurrent insert of the same (account, name). */
    insertInternalBucket(row: { id: string; userId: string; name: string; backendName: string }): BucketRow {
      return db
        .insert(buckets)
        .values({ ...row, internal: true })
        .returning()
        .get();
    },
  };
}
