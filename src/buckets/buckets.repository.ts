import { and, asc, count, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { buckets, type BucketRow } from '../db/schema.ts';

export type BucketsRepository = ReturnType<typeof createBucketsRepository>;

export function createBucketsRepository({ db }: { db: Db }) {
  // Prepared once: these run on every S3 request.
  const byOwnerAndName = db
    .select()
    .from(buckets)
    .where(and(eq(buckets.userId, sql.placeholder('userId')), eq(buckets.name, sql.placeholder('name'))))
    .prepare();
  const ownedByOther = db
    .select({ id: buckets.id })
    .from(buckets)
    .where(and(eq(buckets.name, sql.placeholder('name')), ne(buckets.userId, sql.placeholder('userId'))))
    .limit(1)
    .prepare();

  const ofOwner = db
    .select()
    .from(buckets)
    .where(eq(buckets.userId, sql.placeholder('userId')))
    .orderBy(asc(buckets.name))
    .prepare();

  return {
    /** Runs `fn` in one (immediate) transaction: a bucket row change and its domain event commit together. */
    transaction<T>(fn: () => T): T {
      return db.transaction(() => fn(), { behavior: 'immediate' });
    },
    insert(bucket: { id: string; userId: string; name: string; backendName: string }): BucketRow {
      return db.insert(buckets).values(bucket).returning().get();
    },
    findByOwnerAndName(userId: string, name: string): BucketRow | undefined {
      return byOwnerAndName.get({ userId, name });
    },
    existsForAnotherOwner(userId: string, name: string): boolean {
      return ownedByOther.get({ userId, name }) !== undefined;
    },
    listForOwner(userId: string): BucketRow[] {
      return ofOwner.all({ userId });
    },
    countForOwner(userId: string): number {
      return db.select({ value: count() }).from(buckets).where(eq(buckets.userId, userId)).get()?.value ?? 0;
    },
    /** False when the row was already gone. */
    delete(id: string): boolean {
      return db.delete(buckets).where(eq(buckets.id, id)).run().changes > 0;
    },
  };
}
