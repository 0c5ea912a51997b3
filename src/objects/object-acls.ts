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
        removeOne.run({ bucketId: bucket.id, key });
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

    clear(bucketId: string, key: string): void {
      removeOne.run({ bucketId, key });
    },

    clearMany(bucketId: string, keys: string[]): void {
      for (let start = 0; start < keys.length; start += CLEAR_BATCH) {
        db.delete(objectAcls)
          .where(and(eq(objectAcls.bucketId, bucketId), inArray(objectAcls.key, keys.slice(start, start + CLEAR_BATCH))))
          .run();
      }
    },

    /** Releases the bucket's public name when nothing in it is public any more (optional tidiness: names go back to their owners' private use). */
    releaseIfUnused(bucketId: string): void {
      if (!bucketsRepository.transaction(() => bucketsRepository.releasePublicNameIfUnused(bucketId))) return;
      claimed?.delete(bucketId);
      deps.onClaim?.();
    },
  };
}
