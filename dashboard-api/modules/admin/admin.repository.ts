import { and, asc, countDistinct, eq, gt, isNotNull, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../../src/db/database.ts';
import { accessKeys, buckets, users, type UserRow } from '../../../src/db/schema.ts';

export type AdminRepository = ReturnType<typeof createAdminRepository>;

/** A user with the counts the admin list shows, read in one query. */
export interface UserWithCounts {
  user: UserRow;
  /** Live (unrevoked) access keys. */
  keyCount: number;
  bucketCount: number;
}

/** An access key as the admin sees it: never its secret. */
export interface AdminKeyRow {
  id: string;
  name: string;
  accessKeyId: string;
  userId: string;
  userEmail: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export type KeyStatusFilter = 'live' | 'revoked' | 'all';

/**
 * Cross-account reads for the admin routes. Pages are in creation order (rowid: ids are random
 * UUIDs and several rows can share a millisecond); a cursor is the id of the previous page's last
 * row, so it stays valid however many rows are added after it.
 */
export function createAdminRepository({ db }: { db: Db }) {
  const userRowid = sql`${users}.rowid`;
  // Joined and grouped (at most 5 live keys x 10 buckets rows per user) rather than correlated
  // subqueries: drizzle leaves columns unqualified in a single-table select, which a subquery
  // would resolve against its own table.
  const usersWithCounts = () =>
    db
      .select({ user: users, keyCount: countDistinct(accessKeys.id), bucketCount: countDistinct(buckets.id) })
      .from(users)
      .leftJoin(accessKeys, and(eq(accessKeys.userId, users.id), isNull(accessKeys.revokedAt)))
      // The account's own buckets: its internal trash bucket is no bucket it made.
      .leftJoin(buckets, and(eq(buckets.userId, users.id), eq(buckets.internal, false)))
      .groupBy(users.id)
      .$dynamic();
  const keyRowid = sql`${accessKeys}.rowid`;

  const userRowidOf = (id: string): number | undefined => db.select({ rowid: sql<number>`rowid` }).from(users).where(eq(users.id, id)).get()?.rowid;
  const keyRowidOf = (id: string): number | undefined => db.select({ rowid: sql<number>`rowid` }).from(accessKeys).where(eq(accessKeys.id, id)).get()?.rowid;

  const keyColumns = {
    id: accessKeys.id,
    name: accessKeys.name,
    accessKeyId: accessKeys.accessKeyId,
    userId: accessKeys.userId,
    userEmail: users.email,
    createdAt: accessKeys.createdAt,
    revokedAt: accessKeys.revokedAt,
  };

  return {
    /** Whether `id` names a user, so an unknown cursor can be told from the end of the list. */
    userExists: (id: string) => userRowidOf(id) !== undefined,
    keyExists: (id: string) => keyRowidOf(id) !== undefined,

    /** Up to `limit` users after the user `after` (exclusive), oldest first. */
    listUsers(options: { limit: number; after?: string }): UserWithCounts[] {
      const afterRowid = options.after === undefined ? undefined : userRowidOf(options.after);
      if (options.after !== undefined && afterRowid === undefined) return [];
      return usersWithCounts()
        .where(afterRowid === undefined ? undefined : gt(userRowid, afterRowid))
        .orderBy(asc(userRowid))
        .limit(options.limit)
        .all();
    },

    findUser(id: string): UserWithCounts | undefined {
      return usersWithCounts().where(eq(users.id, id)).get();
    },

    /** Up to `limit` keys of every account (or one, with `userId`) after the key `after`, oldest first. */
    listKeys(options: { limit: number; after?: string; userId?: string; status: KeyStatusFilter }): AdminKeyRow[] {
      const afterRowid = options.after === undefined ? undefined : keyRowidOf(options.after);
      if (options.after !== undefined && afterRowid === undefined) return [];
      const conditions: (SQL | undefined)[] = [
        afterRowid === undefined ? undefined : gt(keyRowid, afterRowid),
        options.userId === undefined ? undefined : eq(accessKeys.userId, options.userId),
        options.status === 'live' ? isNull(accessKeys.revokedAt) : options.status === 'revoked' ? isNotNull(accessKeys.revokedAt) : undefined,
      ];
      return db
        .select(keyColumns)
        .from(accessKeys)
        .innerJoin(users, eq(users.id, accessKeys.userId))
        .where(and(...conditions))
        .orderBy(asc(keyRowid))
        .limit(options.limit)
        .all();
    },

    findKey(id: string): AdminKeyRow | undefined {
      return db.select(keyColumns).from(accessKeys).innerJoin(users, eq(users.id, accessKeys.userId)).where(eq(accessKeys.id, id)).get();
    },
  };
}
