import { and, asc, count, desc, eq, isNotNull, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { buckets, objectAcls, type BucketRow } from '../db/schema.ts';

export type BucketsRepository = ReturnType<typeof createBucketsRepository>;

/** Buckets of one name whose CORS rules a credential-less preflight may consult (see BucketsUsecases.corsForPreflight). */
export const MAX_CORS_CANDIDATES = 64;

export function createBucketsRepository({ db }: { db: Db }) {
  // Prepared once: these run on every S3 request. Internal buckets (the trash) are never resolved by name.
  const byOwnerAndName = db
    .select()
    .from(buckets)
    .where(and(eq(buckets.userId, sql.placeholder('userId')), eq(buckets.name, sql.placeholder('name')), eq(buckets.internal, false)))
    .prepare();
  const ownedByOther = db
    .select({ id: buckets.id })
    .from(buckets)
    .where(and(eq(buckets.name, sql.placeholder('name')), ne(buckets.userId, sql.placeholder('userId')), eq(buckets.internal, false)))
    .limit(1)
    .prepare();

  const ofOwner = db
    .select()
    .from(buckets)
    .where(eq(buckets.userId, sql.placeholder('userId')))
    .orderBy(asc(buckets.name))
    .prepare();

  // CORS preflights carry no credentials: the buckets of a name that have CORS rules, the public name's holder first.
  const corsByName = db
    .select({ cors: buckets.cors, publicName: buckets.publicName })
    .from(buckets)
    .where(and(eq(buckets.name, sql.placeholder('name')), isNotNull(buckets.cors)))
    .orderBy(desc(buckets.publicName), asc(buckets.id))
    .limit(MAX_CORS_CANDIDATES)
    .prepare();

  // Anonymous requests resolve names here (cached by the use cases).
  const publicByName = db
    .select()
    .from(buckets)
    .where(and(eq(buckets.name, sql.placeholder('name')), eq(buckets.publicName, true)))
    .prepare();
  const publicIds = db.select({ id: buckets.id }).from(buckets).where(eq(buckets.publicName, true)).prepare();

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
    /** Every bucket row of the account, internal ones included (usage and quotas count them). */
    listForOwner(userId: string): BucketRow[] {
      return ofOwner.all({ userId });
    },
    /** The account's own buckets (MAX_BUCKETS_PER_ACCOUNT): internal ones are not. */
    countForOwner(userId: string): number {
      return (
        db
          .select({ value: count() })
          .from(buckets)
          .where(and(eq(buckets.userId, userId), eq(buckets.internal, false)))
          .get()?.value ?? 0
      );
    },
    /** Sets (or with null removes) a bucket's CORS rules; false when the row is gone. */
    setCors(id: string, cors: unknown[] | null): boolean {
      return db.update(buckets).set({ cors }).where(eq(buckets.id, id)).run().changes > 0;
    },
    corsCandidatesByName(name: string): { cors: unknown[] | null; publicName: boolean }[] {
      return corsByName.all({ name });
    },
    /** The bucket holding `name` in the public namespace (`public_name`), if any: what anonymous and other accounts' requests address. */
    findPublicByName(name: string): BucketRow | undefined {
      return publicByName.get({ name });
    },
    /** Ids of the buckets that claim a public name: a superset of the buckets with object ACL rows (src/objects/object-acls.ts). */
    publicBucketIds(): string[] {
      return publicIds.all().map((row) => row.id);
    },
    /**
     * Claims the bucket's name in the public namespace. False when another bucket holds it (the
     * partial unique index decides, so two accounts racing for a name cannot both win). Call inside a transaction.
     */
    claimPublicName(id: string, name: string): boolean {
      const holder = publicByName.get({ name });
      if (holder) return holder.id === id;
      try {
        db.update(buckets).set({ publicName: true }).where(eq(buckets.id, id)).run();
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
        throw error;
      }
    },
    /** Gives the public name back once nothing in the bucket is readable beyond its owner (private ACL, no object ACL rows). */
    releasePublicNameIfUnused(id: string): boolean {
      return (
        db
          .update(buckets)
          .set({ publicName: false })
          .where(and(eq(buckets.id, id), eq(buckets.acl, 'private'), sql`NOT EXISTS (SELECT 1 FROM ${objectAcls} WHERE ${objectAcls.bucketId} = ${id})`))
          .run().changes > 0
      );
    },
    setAcl(id: string, acl: BucketRow['acl']): boolean {
      return db.update(buckets).set({ acl }).where(eq(buckets.id, id)).run().changes > 0;
    },
    /** False when the row was already gone. */
    delete(id: string): boolean {
      return db.delete(buckets).where(eq(buckets.id, id)).run().changes > 0;
    },
  };
}
