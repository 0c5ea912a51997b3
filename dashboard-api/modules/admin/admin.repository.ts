import { and, asc, countDistinct, eq, gt, isNotNull, isNull, or, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { DatabaseHandle, Db } from '../../../src/db/database.ts';
import type { UserRow } from '../../../src/db/schema.ts';

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
 * Cross-account reads for the admin routes. Pages are in creation order (created_at, then the
 * id: ids are random UUIDs and several rows can share a millisecond); a cursor is the id of the
 * previous page's last row, so it stays valid however many rows are added after it.
 */
export function createAdminRepository({ database }: { database: DatabaseHandle }) {
  const { accessKeys, buckets, users } = database.tables;
  // Joined and grouped (at most 5 live keys x 10 buckets rows per user) rather than correlated
  // subqueries: drizzle leaves columns unqualified in a single-table select, which a subquery
  // would resolve against its own table.
  const usersWithCounts = (db: Db) =>
    db
      .select({ user: users, keyCount: countDistinct(accessKeys.id), bucketCount: countDistinct(buckets.id) })
      .from(users)
      .leftJoin(accessKeys, and(eq(accessKeys.userId, users.id), isNull(accessKeys.revokedAt)))
      // The account's own buckets: its internal trash bucket is no bucket it made.
      .leftJoin(buckets, and(eq(buckets.userId, users.id), eq(buckets.internal, false)))
      .groupBy(users.id)
      .$dynamic();

  /** Rows after (createdAt, id) in (createdAt, id) order. */
  const after = (createdAt: SQLiteColumn, id: SQLiteColumn, position: { createdAt: Date; id: string }) =>
    or(gt(createdAt, position.createdAt), and(eq(createdAt, position.createdAt), gt(id, position.id)));
  const positionOf = (table: typeof users | typeof accessKeys, id: string): Promise<{ createdAt: Date; id: string } | undefined> =>
    database.query(async (db) => (await db.select({ createdAt: table.createdAt, id: table.id }).from(table).where(eq(table.id, id)).limit(1))[0]);

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
    userExists: async (id: string) => (await positionOf(users, id)) !== undefined,
    keyExists: async (id: string) => (await positionOf(accessKeys, id)) !== undefined,

    /** Up to `limit` users after the user `after` (exclusive), oldest first. */
    async listUsers(options: { limit: number; after?: string }): Promise<UserWithCounts[]> {
      const position = options.after === undefined ? undefined : await positionOf(users, options.after);
      if (options.after !== undefined && position === undefined) return [];
      return database.query(async (db) =>
        usersWithCounts(db)
          .where(position === undefined ? undefined : after(users.createdAt, users.id, position))
          .orderBy(asc(users.createdAt), asc(users.id))
          .limit(options.limit),
      );
    },

    findUser(id: string): Promise<UserWithCounts | undefined> {
      return database.query(async (db) => (await usersWithCounts(db).where(eq(users.id, id)).limit(1))[0]);
    },

    /** Up to `limit` keys of every account (or one, with `userId`) after the key `after`, oldest first. */
    async listKeys(options: { limit: number; after?: string; userId?: string; status: KeyStatusFilter }): Promise<AdminKeyRow[]> {
      const position = options.after === undefined ? undefined : await positionOf(accessKeys, options.after);
      if (options.after !== undefined && position === undefined) return [];
      const conditions: (SQL | undefined)[] = [
        position === undefined ? undefined : after(accessKeys.createdAt, accessKeys.id, position),
        options.userId === undefined ? undefined : eq(accessKeys.userId, options.userId),
        options.status === 'live' ? isNull(accessKeys.revokedAt) : options.status === 'revoked' ? isNotNull(accessKeys.revokedAt) : undefined,
      ];
      return database.query(async (db) =>
        db
          .select(keyColumns)
          .from(accessKeys)
          .innerJoin(users, eq(users.id, accessKeys.userId))
          .where(and(...conditions))
          .orderBy(asc(accessKeys.createdAt), asc(accessKeys.id))
          .limit(options.limit),
      );
    },

    findKey(id: string): Promise<AdminKeyRow | undefined> {
      return database.query(
        async (db) => (await db.select(keyColumns).from(accessKeys).innerJoin(users, eq(users.id, accessKeys.userId)).where(eq(accessKeys.id, id)).limit(1))[0],
      );
    },
  };
}
