import { and, asc, count, desc, eq, isNotNull, ne, sql } from 'drizzle-orm';
import type { DatabaseHandle } from '../db/database.ts';
import { isUniqueViolation } from '../db/database-errors.ts';
import type { BucketRow } from '../db/schema.ts';

export type BucketsRepository = ReturnType<typeof createBucketsRepository>;

/** Buckets of one name whose CORS rules a credential-less preflight may consult (see BucketsUsecases.corsForPreflight). */
export const MAX_CORS_CANDIDATES = 64;

export function createBucketsRepository({ database }: { database: DatabaseHandle }) {
  const { buckets, objectAcls } = database.tables;
  // Anonymous requests resolve names here (cached by the use cases).
  const findPublicByName = (name: string): Promise<BucketRow | undefined> =>
    database.query(
      async (db) =>
        (
          await db
            .select()
            .from(buckets)
            .where(and(eq(buckets.name, name), eq(buckets.publicName, true)))
            .limit(1)
        )[0],
    );
  const changed = (rows: unknown[]) => rows.length > 0;

  return {
    /** Runs `fn` in one transaction: a bucket row change and its domain event commit together. */
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return database.transaction(fn);
    },
    /**
     * Inside a transaction: holds the account's bucket creations to one at a time until it ends,
     * so the MAX_BUCKETS_PER_ACCOUNT count and the insert cannot interleave (on any gateway).
     */
    lockAccountBuckets(userId: string): Promise<void> {
      return database.lock(`buckets:${userId}`);
    },
    /**
     * Inside a transaction: holds the bucket's public-name claim and release to one transaction at a
     * time until it ends. On PostgreSQL (READ COMMITTED) a release's NOT EXISTS would otherwise miss
     * an object ACL row a concurrent transaction is adding, and give the name back under that row.
     */
    lockPublicName(bucketId: string): Promise<void> {
      return database.lock(`public-name:${bucketId}`);
    },
    insert(bucket: { id: string; userId: string; name: string; backendName: string }): Promise<BucketRow> {
      return database.query(async (db) => (await db.insert(buckets).values(bucket).returning())[0]!);
    },
    /** Internal buckets (the trash) are never resolved by name. */
    findByOwnerAndName(userId: string, name: string): Promise<BucketRow | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select()
              .from(buckets)
              .where(and(eq(buckets.userId, userId), eq(buckets.name, name), eq(buckets.internal, false)))
              .limit(1)
          )[0],
      );
    },
    existsForAnotherOwner(userId: string, name: string): Promise<boolean> {
      return database.query(async (db) =>
        changed(
          await db
            .select({ id: buckets.id })
            .from(buckets)
            .where(and(eq(buckets.name, name), ne(buckets.userId, userId), eq(buckets.internal, false)))
            .limit(1),
        ),
      );
    },
    /** Every bucket row of the account, internal ones included (usage and quotas count them). */
    listForOwner(userId: string): Promise<BucketRow[]> {
      return database.query(async (db) => db.select().from(buckets).where(eq(buckets.userId, userId)).orderBy(asc(buckets.name)));
    },
    /** The account's own buckets (MAX_BUCKETS_PER_ACCOUNT): internal ones are not. */
    countForOwner(userId: string): Promise<number> {
      return database.query(
        async (db) =>
          (
            await db
              .select({ value: count() })
              .from(buckets)
              .where(and(eq(buckets.userId, userId), eq(buckets.internal, false)))
          )[0]?.value ?? 0,
      );
    },
    /** Sets (or with null removes) a bucket's CORS rules; false when the row is gone. */
    setCors(id: string, cors: unknown[] | null): Promise<boolean> {
      return database.query(async (db) => changed(await db.update(buckets).set({ cors }).where(eq(buckets.id, id)).returning({ id: buckets.id })));
    },
    /** CORS preflights carry no credentials: the buckets of a name that have CORS rules, the public name's holder first. */
    corsCandidatesByName(name: string): Promise<{ cors: unknown[] | null; publicName: boolean }[]> {
      return database.query(async (db) =>
        db
          .select({ cors: buckets.cors, publicName: buckets.publicName })
          .from(buckets)
          .where(and(eq(buckets.name, name), isNotNull(buckets.cors)))
          .orderBy(desc(buckets.publicName), asc(buckets.id))
          .limit(MAX_CORS_CANDIDATES),
      );
    },
    /** The bucket holding `name` in the public namespace (`public_name`), if any: what anonymous and other accounts' requests address. */
    findPublicByName,
    /** Ids of the buckets that claim a public name: a superset of the buckets with object ACL rows (src/objects/object-acls.ts). */
    publicBucketIds(): Promise<string[]> {
      return database.query(async (db) => (await db.select({ id: buckets.id }).from(buckets).where(eq(buckets.publicName, true))).map((row) => row.id));
    },
    /** Whether the bucket claims its name in the public namespace (the exact answer behind ObjectAclStore.mayHaveAcls). */
    claimsPublicName(id: string): Promise<boolean> {
      return database.query(async (db) => (await db.select({ publicName: buckets.publicName }).from(buckets).where(eq(buckets.id, id)).limit(1))[0]?.publicName === true);
    },
    /**
     * Claims the bucket's name in the public namespace. False when another bucket holds it (the
     * partial unique index decides, so two accounts racing for a name cannot both win). Call
     * inside a transaction, and end it on false: on PostgreSQL the refused write ends the transaction.
     */
    async claimPublicName(id: string, name: string): Promise<boolean> {
      const holder = await findPublicByName(name);
      if (holder) return holder.id === id;
      try {
        await database.query(async (db) => db.update(buckets).set({ publicName: true }).where(eq(buckets.id, id)));
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    /** Gives the public name back once nothing in the bucket is readable beyond its owner (private ACL, no object ACL rows). */
    releasePublicNameIfUnused(id: string): Promise<boolean> {
      return database.query(async (db) =>
        changed(
          await db
            .update(buckets)
            .set({ publicName: false })
            .where(and(eq(buckets.id, id), eq(buckets.acl, 'private'), sql`NOT EXISTS (SELECT 1 FROM ${objectAcls} WHERE ${objectAcls.bucketId} = ${id})`))
            .returning({ id: buckets.id }),
        ),
      );
    },
    setAcl(id: string, acl: BucketRow['acl']): Promise<boolean> {
      return database.query(async (db) => changed(await db.update(buckets).set({ acl }).where(eq(buckets.id, id)).returning({ id: buckets.id })));
    },
    /** False when the row was already gone. */
    delete(id: string): Promise<boolean> {
      return database.query(async (db) => changed(await db.delete(buckets).where(eq(buckets.id, id)).returning({ id: buckets.id })));
    },
  };
}
