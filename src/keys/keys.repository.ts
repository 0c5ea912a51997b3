import { and, asc, count, desc, eq, isNull } from 'drizzle-orm';
import type { DatabaseHandle } from '../db/database.ts';
import type { AccessKeyRow } from '../db/schema.ts';
import type { KeyPermission } from './key-scope.ts';

export type KeysRepository = ReturnType<typeof createKeysRepository>;

export interface ActiveKeyRecord {
  keyId: string;
  accessKeyId: string;
  userId: string;
  secretEncrypted: string;
  scopeBuckets: string[] | null;
  scopePrefix: string | null;
  permission: KeyPermission;
  expiresAt: Date | null;
}

export interface RevokedKey {
  id: string;
  userId: string;
  accessKeyId: string;
  name: string;
}

export function createKeysRepository({ database }: { database: DatabaseHandle }) {
  const { accessKeys, users } = database.tables;
  const activeKeyColumns = {
    keyId: accessKeys.id,
    accessKeyId: accessKeys.accessKeyId,
    userId: accessKeys.userId,
    secretEncrypted: accessKeys.secretEncrypted,
    scopeBuckets: accessKeys.scopeBuckets,
    scopePrefix: accessKeys.scopePrefix,
    permission: accessKeys.permission,
    expiresAt: accessKeys.expiresAt,
  };
  const activeCondition = and(isNull(accessKeys.revokedAt), eq(users.status, 'active'));
  const revokedColumns = { id: accessKeys.id, userId: accessKeys.userId, accessKeyId: accessKeys.accessKeyId, name: accessKeys.name };

  return {
    /** Runs `fn` in one transaction: a key row change and its domain event commit together. */
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return database.transaction(fn);
    },
    /** Inside a transaction: serialises the account's key creations (count, then insert). */
    lockAccountKeys(userId: string): Promise<void> {
      return database.lock(`keys:${userId}`);
    },
    insert(key: {
      id: string;
      userId: string;
      accessKeyId: string;
      secretEncrypted: string;
      name: string;
      scopeBuckets?: string[] | null;
      scopePrefix?: string | null;
      permission?: KeyPermission;
      expiresAt?: Date | null;
    }): Promise<AccessKeyRow> {
      return database.query(async (db) => (await db.insert(accessKeys).values(key).returning())[0]!);
    },
    /** Revokes by public access key id; returns the key revoked, undefined when no live key matched. */
    revoke(accessKeyId: string, at: Date): Promise<RevokedKey | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .update(accessKeys)
              .set({ revokedAt: at })
              .where(and(eq(accessKeys.accessKeyId, accessKeyId), isNull(accessKeys.revokedAt)))
              .returning(revokedColumns)
          )[0],
      );
    },
    /** Revokes a live key by its row id, only when it belongs to `userId`; returns the key revoked, if any. */
    revokeOwned(userId: string, id: string, at: Date): Promise<RevokedKey | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .update(accessKeys)
              .set({ revokedAt: at })
              .where(and(eq(accessKeys.id, id), eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
              .returning(revokedColumns)
          )[0],
      );
    },
    /** The account's live (unrevoked) keys, oldest first (insertion order breaks ties within a millisecond; ids are random). */
    listForUser(userId: string): Promise<AccessKeyRow[]> {
      return database.query(async (db) =>
        db
          .select()
          .from(accessKeys)
          .where(and(eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
          .orderBy(asc(accessKeys.createdAt), database.sql.insertionOrder(accessKeys)),
      );
    },
    countLiveForUser(userId: string): Promise<number> {
      return database.query(
        async (db) =>
          (
            await db
              .select({ value: count() })
              .from(accessKeys)
              .where(and(eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
          )[0]?.value ?? 0,
      );
    },
    /** A key usable for authentication: not revoked, owner active (expiry is the key store's check, against its clock). */
    findActive(accessKeyId: string): Promise<ActiveKeyRecord | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select(activeKeyColumns)
              .from(accessKeys)
              .innerJoin(users, eq(users.id, accessKeys.userId))
              .where(and(eq(accessKeys.accessKeyId, accessKeyId), activeCondition))
              .limit(1)
          )[0],
      );
    },
    /** The sealed secret of the newest key, revoked or not (the start-up check of the master key). */
    newestSealedSecret(): Promise<string | undefined> {
      return database.query(async (db) => (await db.select({ secret: accessKeys.secretEncrypted }).from(accessKeys).orderBy(desc(accessKeys.createdAt)).limit(1))[0]?.secret);
    },
    listActive(): Promise<ActiveKeyRecord[]> {
      return database.query(async (db) => db.select(activeKeyColumns).from(accessKeys).innerJoin(users, eq(users.id, accessKeys.userId)).where(activeCondition));
    },
  };
}
