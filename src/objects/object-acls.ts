import { and, eq, inArray, sql } from 'drizzle-orm';
import { publicNameTakenError } from '../buckets/buckets.errors.ts';
import type { BucketsRepository } from '../buckets/buckets.repository.ts';
import type { Db } from '../db/database.ts';
import { objectAcls, type BucketRow } from '../db/schema.ts';
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

/** Statements per DeleteObjects batch (SQLite's bound-parameter limit is far above). */
const CLEAR_BATCH = 500;

/**
 * Object ACLs beside the objects, in the metadata database (`object_acls`, sparse: only
 * non-private rows), so they work the same on every storage backend. The objects service keeps
 * them in step with every write and delete, whichever door it came through.
 *
 * Cost: a write that sets no ACL must not pay a query. `mayHaveAcls` answers from an in-memory set
 * of the buckets that claim a public name (`buckets.public_name`), a superset of those with rows
 * (a row is only ever inserted in the transaction that claims). The set is exact for this
 * process's own writes and reloaded when `PRAGMA data_version` says another process committed
 * (several workers over one DATA_DIR): one pragma per write, no table read.
 */
export function createObjectAclStore(deps: { db: Db; bucketsRepository: BucketsRepository; dataVersion: () => number; onClaim?: () => void }) {
  const { db, bucketsRepository } = deps;
  const byKey = db
    .select({ acl: objectAcls.acl })
    .from(objectAcls)
    .where(and(eq(objectAcls.bucketId, sql.placeholder('bucketId')), eq(objectAcls.key, sql.placeholder('key'))))
    .prepare();
  const removeOne = db
    .delete(objectAcls)
    .where(and(eq(objectAcls.bucketId, sql.placeholder('bucketId')), eq(objectAcls.key, sql.placeholder('key'))))
    .prepare();

  const removeWithHold = db
    .delete(objectAcls)
    .where(and(eq(objectAcls.bucketId, sql.placeholder('bucketId')), inArray(objectAcls.key, [sql.placeholder('key'), sql.placeholder('held')])))
    .prepare();
  const insertOne = db
    .insert(objectAcls)
    .values({ bucketId: sql.placeholder('bucketId'), key: sql.placeholder('key'), acl: sql.placeholder('acl') })
    .onConflictDoUpdate({ target: [objectAcls.bucketId, objectAcls.key], set: { acl: sql`excluded.acl` } })
    .prepare();

  let claimed: Set<string> | undefined;
  let seenVersion = -1;
  const claimedBuckets = (): Set<string> => {
    const version = deps.dataVersion();
    if (claimed === undefined || version !== seenVersion) {
      claimed = new Set(bucketsRepository.publicBucketIds());
      seenVersion = version;
    }
    return claimed;
  };

  return {
    /** False only when the bucket certainly has no object ACL row (then a private write needs no query). */
    mayHaveAcls(bucketId: string): boolean {
      return claimedBuckets().has(bucketId);
    },

    get(bucketId: string, key: string): NonPrivateAcl | undefined {
      return byKey.get({ bucketId, key })?.acl;
    },

    /**
     * Stores `acl` for the key: private removes the row; a non-private ACL claims the bucket's name
     * in the public namespace in the same transaction (publicNameTakenError when another account's
     * public bucket holds it).
     */
    set(bucket: Pick<BucketRow, 'id' | 'name'>, key: string, acl: CannedAcl): void {
      if (acl === 'private') {
        removeWithHold.run({ bucketId: bucket.id, key, held: heldAclKey(key) });
        return;
      }
      const known = claimedBuckets();
      const newlyClaimed = !known.has(bucket.id);
      bucketsRepository.transaction(() => {
        if (!bucketsRepository.claimPublicName(bucket.id, bucket.name)) throw publicNameTakenError(bucket.name);
        db.insert(objectAcls)
          .values({ bucketId: bucket.id, key, acl })
          .onConflictDoUpdate({ target: [objectAcls.bucketId, objectAcls.key], set: { acl } })
          .run();
        // An ACL set now is the key's truth: a failing write in flight must not restore an older one over it.
        removeOne.run({ bucketId: bucket.id, key: heldAclKey(key) });
      });
      known.add(bucket.id);
      // Name resolutions cached by the use cases must see the new claim.
      if (newlyClaimed) deps.onClaim?.();
    },

    /** The bucket's public name before anything is stored (a write asking for a public ACL). */
    claim(bucket: Pick<BucketRow, 'id' | 'name'>): void {
      const known = claimedBuckets();
      if (known.has(bucket.id)) return;
      bucketsRepository.transaction(() => {
        if (!bucketsRepository.claimPublicName(bucket.id, bucket.name)) throw publicNameTakenError(bucket.name);
      });
      known.add(bucket.id);
      deps.onClaim?.();
    },

    /** The key is private from now on (a delete, a committed private write, PutObjectAcl private): any hold on it is dropped too. */
    clear(bucketId: string, key: string): void {
      removeWithHold.run({ bucketId, key, held: heldAclKey(key) });
    },

    clearMany(bucketId: string, keys: string[]): void {
      const all = keys.flatMap((key) => [key, heldAclKey(key)]);
      for (let start = 0; start < all.length; start += CLEAR_BATCH) {
        db.delete(objectAcls)
          .where(and(eq(objectAcls.bucketId, bucketId), inArray(objectAcls.key, all.slice(start, start + CLEAR_BATCH))))
          .run();
      }
    },

    /**
     * Before a write reaches the backend: when the key's ACL grants more than the write's own
     * (`next`), the row is moved aside under `heldAclKey`, so the new bytes are never readable
     * beyond what their ACL grants, not even between commit and `applyAfterWrite`. Any hold an
     * earlier write still in flight left is dropped: that write's failure must not reopen the key
     * over this write's bytes. Answers whether this write now holds the key's ACL.
     */
    hold(bucketId: string, key: string, next: CannedAcl | undefined): boolean {
      const held = heldAclKey(key);
      return bucketsRepository.transaction(() => {
        const current = byKey.get({ bucketId, key })?.acl;
        if (current !== undefined && !covers(next, current)) {
          removeOne.run({ bucketId, key });
          insertOne.run({ bucketId, key: held, acl: current });
          return true;
        }
        removeOne.run({ bucketId, key: held });
        return false;
      });
    },

    /**
     * A write that held the key's ACL failed without replacing the object: the ACL goes back, unless
     * something happened to the key meanwhile (another write started, an ACL was set, a delete), which
     * dropped the hold, or an ACL row is already there. Answers whether it was restored.
     */
    restore(bucketId: string, key: string): boolean {
      const held = heldAclKey(key);
      return bucketsRepository.transaction(() => {
        const acl = byKey.get({ bucketId, key: held })?.acl;
        if (acl === undefined) return false;
        removeOne.run({ bucketId, key: held });
        if (byKey.get({ bucketId, key }) !== undefined) return false;
        insertOne.run({ bucketId, key, acl });
        return true;
      });
    },

    /** A write that held the key's ACL committed (or gave up restoring it): the held row goes. */
    dropHold(bucketId: string, key: string): void {
      removeOne.run({ bucketId, key: heldAclKey(key) });
    },

    /** Releases the bucket's public name when nothing in it is public any more (optional tidiness: names go back to their owners' private use). */
    releaseIfUnused(bucketId: string): void {
      if (!bucketsRepository.transaction(() => bucketsRepository.releasePublicNameIfUnused(bucketId))) return;
      claimed?.delete(bucketId);
      deps.onClaim?.();
    },
  };
}
