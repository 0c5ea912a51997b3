import { and, eq, gt, lte } from 'drizzle-orm';
import type { DatabaseHandle } from '../../../src/db/database.ts';
import type { SessionRow, UserRow } from '../../../src/db/schema.ts';

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;

/** Dashboard sessions, looked up by the SHA-256 of their cookie token (the token itself is never stored). */
export function createSessionsRepository({ database }: { database: DatabaseHandle }) {
  const { sessions, users } = database.tables;
  return {
    insert(session: { id: string; userId: string; tokenHash: string; createdAt: Date; expiresAt: Date }): Promise<SessionRow> {
      return database.query(async (db) => (await db.insert(sessions).values(session).returning())[0]!);
    },
    /** The unexpired session with this token hash, with its user. */
    findActiveByTokenHash(tokenHash: string, now: Date): Promise<{ session: SessionRow; user: UserRow } | undefined> {
      return database.query(
        async (db) =>
          (
            await db
              .select({ session: sessions, user: users })
              .from(sessions)
              .innerJoin(users, eq(users.id, sessions.userId))
              .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)))
              .limit(1)
          )[0],
      );
    },
    deleteByTokenHash(tokenHash: string): Promise<void> {
      return database.query(async (db) => void (await db.delete(sessions).where(eq(sessions.tokenHash, tokenHash))));
    },
    deleteAllForUser(userId: string): Promise<number> {
      return database.query(async (db) => (await db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id })).length);
    },
    deleteExpired(now: Date): Promise<number> {
      return database.query(async (db) => (await db.delete(sessions).where(lte(sessions.expiresAt, now)).returning({ id: sessions.id })).length);
    },
    countForUser(userId: string): Promise<number> {
      return database.query(async (db) => (await db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId))).length);
    },
  };
}
