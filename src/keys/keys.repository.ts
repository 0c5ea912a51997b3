import { and, asc, count, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { accessKeys, users, type AccessKeyRow } from '../db/schema.ts';
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

export function createKeysRepository({ db }: { db: Db }) {
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
  const activeByAccessKeyId = db
    .select(activeKeyColumns)
    .from(accessKeys)
    .innerJoin(users, eq(users.id, accessKeys.userId))
    .where(and(eq(accessKeys.accessKeyId, sql.placeholder('accessKeyId')), activeCondition))
    .prepare();

  const revokedColumns = { id: accessKeys.id, userId: accessKeys.userId, accessKeyId: accessKeys.accessKeyId, name: accessKeys.name };

  return {
    /** Runs `fn` in one (immediate) transaction: a key row change and its domain event commit together. */
    transaction<T>(fn: () => T): T {
      return db.transaction(() => fn(), { behavior: 'immediate' });
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
    }): AccessKeyRow {
      return db.insert(accessKeys).values(key).returning().get();
    },
    /** Revokes by public access key id; returns the key revoked, undefined when no live key matched. */
    revoke(accessKeyId: string, at: Date): RevokedKey | undefined {
      return db
        .update(accessKeys)
        .set({ revokedAt: at })
        .where(and(eq(accessKeys.accessKeyId, accessKeyId), isNull(accessKeys.revokedAt)))
        .returning(revokedColumns)
        .get();
    },
    /** Revokes a live key by its row id, only when it belongs to `userId`; returns the key revoked, if any. */
    revokeOwned(userId: string, id: string, at: Date): RevokedKey | undefined {
      return db
        .update(accessKeys)
        .set({ revokedAt: at })
        .where(and(eq(accessKeys.id, id), eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
        .returning(revokedColumns)
        .get();
    },
    /** The account's live (unrevoked) keys, oldest first (rowid breaks ties within a millisecond; ids are random). */
    listForUser(userId: string): AccessKeyRow[] {
      return db
        .select()
        .from(accessKeys)
        .where(and(eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
        .orderBy(asc(accessKeys.createdAt), sql`rowid`)
        .all();
    },
    countLiveForUser(userId: string): number {
      return (
        db
          .select({ value: count() })
          .from(accessKeys)
          .where(and(eq(accessKeys.userId, userId), isNull(accessKeys.revokedAt)))
          .get()?.value ?? 0
      );
    },
    /** A key usable for authentication: not revoked, owner active (expiry is the key store's check, against its clock). */
    findActive(accessKeyId: string): ActiveKeyRecord | undefined {
      return activeByAccessKeyId.get({ accessKeyId });
    },
    listActive(): ActiveKeyRecord[] {
      return db.select(activeKeyColumns).from(accessKeys).innerJoin(users, eq(users.id, accessKeys.userId)).where(activeCondition).all();
    },
  };
}
