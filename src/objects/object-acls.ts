import { and, eq, inArray, sql } from 'drizzle-orm';
import { publicNameTakenError } from '../buckets/buckets.errors.ts';
import type { BucketsRepository } from '../buckets/buckets.repository.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { BucketRow } from '../db/schema.ts';
import type { CannedAcl, NonPrivateAcl } from './acl.ts';

export type ObjectAclStore = ReturnType<typeof createObjectAclStore>;

/**
 * The pseudo key under which a multipart upload keeps the ACL its CreateMultipartUpload asked for
 * until completion applies it (AWS applies it to the completed object). NUL never occurs in the
 * keys clients write (XML cannot carry it), and only the bucket's owner can create either.
 */
export const uploadAclKey = (uploadId: string): string => `\u0000upload\u0000${uploadId}`;

/**
 * Where a write in flight keeps the key's ACL it took away (see `hold`), so that its failure can put
 * it back. NUL-prefixed like `uploadAclKey`; one row per key: whichever write started last owns it.
 */
export const heldAclKey = (key: string): string => `\u0000held\u0000${key}`;

/** Whether `next` grants at least everything `current` grants (public-read ⊇ authenticated-read). */
const covers = (next: CannedAcl | undefined, current: NonPrivateAcl): boolean => next === current || next === 'public-read';

/** Keys per statement of a DeleteObjects batch (far below either dialect's bound-parameter limit). */
const KEY_BATCH = 500;

function* batches(keys: string[]): Generator<string[]> {
  for (let start = 0; start < keys.length; start += KEY_BATCH) yield keys.slice(start, start + KEY_BATCH);
}

/**
 * Object ACLs beside the objects, in the metadata database (`object_acls`, sparse: only
 * non-private rows), so they work the same on every storage backend. The objects service keeps
 * them in step with every write and delete, whichever door it came through.
 *
 * Cost: a write that sets no ACL must not pay a query. `mayHaveAcls` answers from an in-memory set
 * of the buckets that claim a public name (`buckets.public_name`), a superset of those with rows
 * (a row is only ever inserted in the transaction that claims). The answer must be exact, not
 * eventually so: a private overwrite that skipped clearing another process's fresh ACL row would
 * leave the new bytes public. On SQLite the set is reloaded when `PRAGMA data_version` says
 * another process committed (one pragma per write, no table read); without such a counter
 * (PostgreSQL, shared by gateways on other hosts) a bucket missing from the set is checked with
 * one primary-key read.
 */
export function createObjectAclStore(deps: {
  database: DatabaseHandle;
  bucketsRepository: BucketsRepository;
  /** SQLite's `PRAGMA data_version`: changes when another connection committed. */
  dataVersion?: () => number;
  onClaim?: () => void;
}) {
  const { database, bucketsRepository } = deps;
  const { objectAcls } = database.tables;
  const keyIs = (bucketId: string, key: string) => and(eq(objectAcls.bucketId, bucketId), eq(objectAcls.key, key));
  const aclOf = (bucketId: string, key: string): Promise<NonPrivateAcl | undefined> =>
    database.query(async (db) => (await db.select({ acl: objectAcls.acl }).from(objectAcls).where(keyIs(bucketId, key)).limit(1))[0]?.acl);
  const removeOne = (bucketId: string, key: string) => database.query(async (db) => void (await db.delete(objectAcls).where(keyIs(bucketId, key))));
  const removeWithHold = (bucketId: string, key: string) =>
    database.query(async (db) => void (await db.delete(objectAcls).where(and(eq(objectAcls.bucketId, bucketId), inArray(objectAcls.key, [key, heldAclKey(key)])))));
  const upsert = (bucketId: string, key: string, acl: NonPrivateAcl) =>
    database.query(
      async (db) =>
        void (await db
          .insert(objectAcls)
          .values({ bucketId, key, acl })
          .onConflictDoUpdate({ target: [objectAcls.bucketId, objectAcls.key], set: { acl: sql`excluded.acl` } })),
    );

  let claimed: Set<string> | undefined;
  let seenVersion = -1;
  // Claims this process made: a reload that read the table before one of them committed must not
  // drop it from `claimed` (on SQLite nothing else would bring it back until another process commits).
  const claimedHere = new Set<string>();
  const claimedBuckets = async (): Promise<Set<string>> => {
    const version = deps.dataVersion?.() ?? 0;
    if (claimed === undefined || version !== seenVersion) {
      const loaded = new Set(await bucketsRepository.publicBucketIds());
      for (const id of claimedHere) loaded.add(id);
      claimed = loaded;
      seenVersion = version;
    }
    return claimed;
  };
  const noteClaim = (bucketId: string) => {
    claimedHere.add(bucketId);
    claimed?.add(bucketId);
  };

  return {
    /** False only when the bucket certainly has no object ACL row (then a private write needs no query). */
    async mayHaveAcls(bucketId: string): Promise<boolean> {
      const known = await claimedBuckets();
      if (known.has(bucketId)) return true;
      if (deps.dataVersion !== undefined) return false;
      if (!(await bucketsRepository.claimsPublicName(bucketId))) return false;
      known.add(bucketId);
      return true;
    },

    get(bucketId: string, key: string): Promise<NonPrivateAcl | undefined> {
      return aclOf(bucketId, key);
    },

    /**
     * Stores `acl` for the key: private removes the row; a non-private ACL claims the bucket's name
     * in the public namespace in the same transaction (publicNameTakenError when another account's
     * public bucket holds it).
     */
    async set(bucket: Pick<BucketRow, 'id' | 'name'>, key: string, acl: CannedAcl): Promise<void> {
      if (acl === 'private') return removeWithHold(bucket.id, key);
      const known = await claimedBuckets();
      const newlyClaimed = !known.has(bucket.id);
      await bucketsRepository.transaction(async () => {
        await bucketsRepository.lockPublicName(bucket.id);
        if (!(await bucketsRepository.claimPublicName(bucket.id, bucket.name))) throw publicNameTakenError(bucket.name);
        await upsert(bucket.id, key, acl);
        // An ACL set now is the key's truth: a failing write in flight must not restore an older one over it.
        await removeOne(bucket.id, heldAclKey(key));
      });
      noteClaim(bucket.id);
      // Name resolutions cached by the use cases must see the new claim.
      if (newlyClaimed) deps.onClaim?.();
    },

    /** The bucket's public name before anything is stored (a write asking for a public ACL). */
    async claim(bucket: Pick<BucketRow, 'id' | 'name'>): Promise<void> {
      const known = await claimedBuckets();
      if (known.has(bucket.id)) return;
      await bucketsRepository.transaction(async () => {
        if (!(await bucketsRepository.claimPublicName(bucket.id, bucket.name))) throw publicNameTakenError(bucket.name);
      });
      noteClaim(bucket.id);
      deps.onClaim?.();
    },

    /** The key is private from now on (a delete, a committed private write, PutObjectAcl private): any hold on it is dropped too. */
    clear(bucketId: string, key: string): Promise<void> {
      return removeWithHold(bucketId, key);
    },

    async clearMany(bucketId: string, keys: string[]): Promise<void> {
      for (const batch of batches(keys.flatMap((key) => [key, heldAclKey(key)]))) {
        await database.query(async (db) => void (await db.delete(objectAcls).where(and(eq(objectAcls.bucketId, bucketId), inArray(objectAcls.key, batch)))));
      }
    },

    /** Which of `keys` have an ACL row (DeleteObjects: one query per batch, not one per key). */
    async keysWithAcl(bucketId: string, keys: string[]): Promise<Set<string>> {
      const found = new Set<string>();
      for (const batch of batches(keys)) {
        const rows = await database.query(async (db) =>
          db
            .select({ key: objectAcls.key })
            .from(objectAcls)
            .where(and(eq(objectAcls.bucketId, bucketId), inArray(objectAcls.key, batch))),
        );
        for (const row of rows) found.add(row.key);
      }
      return found;
    },

    /**
     * Before a write reaches the backend: when the key's ACL grants more than the write's own
     * (`next`), the row is moved aside under `heldAclKey`, so the new bytes are never readable
     * beyond what their ACL grants, not even between commit and `applyAfterWrite`. Any hold an
     * earlier write still in flight left is dropped: that write's failure must not reopen the key
     * over this write's bytes. Answers whether this write now holds the key's ACL.
     */
    hold(bucketId: string, key: string, next: CannedAcl | undefined): Promise<boolean> {
      const held = heldAclKey(key);
      return bucketsRepository.transaction(async () => {
        const current = await aclOf(bucketId, key);
        if (current !== undefined && !covers(next, current)) {
          await removeOne(bucketId, key);
          await upsert(bucketId, held, current);
          return true;
        }
        await removeOne(bucketId, held);
        return false;
      });
    },

    /**
     * A write that held the key's ACL failed without replacing the object: the ACL goes back, unless
     * something happened to the key meanwhile (another write started, an ACL was set, a delete), which
     * dropped the hold, or an ACL row is already there. Answers whether it was restored.
     */
    restore(bucketId: string, key: string): Promise<boolean> {
      const held = heldAclKey(key);
      return bucketsRepository.transaction(async () => {
        const acl = await aclOf(bucketId, held);
        if (acl === undefined) return false;
        await removeOne(bucketId, held);
        if ((await aclOf(bucketId, key)) !== undefined) return false;
        await upsert(bucketId, key, acl);
        return true;
      });
    },

    /** A write that held the key's ACL committed (or gave up restoring it): the held row goes. */
    dropHold(bucketId: string, key: string): Promise<void> {
      return removeOne(bucketId, heldAclKey(key));
    },

    /** Releases the bucket's public name when nothing in it is public any more (optional tidiness: names go back to their owners' private use). */
    async releaseIfUnused(bucketId: string): Promise<void> {
      const released = await bucketsRepository.transaction(async () => {
        await bucketsRepository.lockPublicName(bucketId);
        return bucketsRepository.releasePublicNameIfUnused(bucketId);
      });
      if (!released) return;
      claimedHere.delete(bucketId);
      claimed?.delete(bucketId);
      deps.onClaim?.();
    },
  };
}
