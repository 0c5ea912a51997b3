import { and, asc, count, eq, ne } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { buckets, type BucketRow } from '../db/schema.ts';

export type BucketsRepository = ReturnType<typeof createBucketsRepository>;

export function createBucketsRepository({ db }: { db: Db }) {
  return {
    insert(bucket: { id: string; userId: string; name: string; backendName: string }): BucketRow {
      return db.insert(buckets).values(bucket).returning().get();
    },
    findByOwnerAndName(userId: string, name: string): BucketRow | undefined {
      return db.select().from(buckets).where(and(eq(buckets.userId, userId), eq(buckets.name, name))).get();
    },
    existsForAnotherOwner(userId: string, name: string): boolean {
      return db.select({ id: buckets.id }).from(buckets).where(and(eq(buckets.name, name), ne(buckets.userId, userId))).get() !== undefined;
    },
    listForOwner(userId: string): BucketRow[] {
      return db.select().from(buckets).where(eq(buckets.userId, userId)).orderBy(asc(buckets.name)).all();
    },
    countForOwner(userId: string): number {
      return db.select({ value: count() }).from(buckets).where(eq(buckets.userId, userId)).get()?.value ?? 0;
    },
    delete(id: string): void {
      db.delete(buckets).where(eq(buckets.id, id)).run();
    },
  };
}
