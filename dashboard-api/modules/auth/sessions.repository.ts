import { and, eq, gt, lte } from 'drizzle-orm';
import type { Db } from '../../../src/db/database.ts';
import { sessions, users, type SessionRow, type UserRow } from '../../../src/db/schema.ts';

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;

/** Dashboard sessions, looked up by the SHA-256 of their cookie token (the token itself is never stored). */
export function createSessionsRepository({ db }: { db: Db }) {
  return {
    insert(session: { id: string; userId: string; tokenHash: string; createdAt: Date; expiresAt: Date }): SessionRow {
      return db.insert(sessions).values(session).returning().get();
    },
    /** The unexpired session with this token hash, with its user. */
    findActiveByTokenHash(tokenHash: string, now: Date): { session: SessionRow; user: UserRow } | undefined {
      return db
        .select({ session: sessions, user: users })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)))
        .get();
    },
    deleteByTokenHash(tokenHash: string): void {
      db.delete(sessions).where(eq(sessions.tokenHash, tokenHash)).run();
    },
    deleteAllForUser(userId: string): number {
      return db.delete(sessions).where(eq(sessions.userId, userId)).run().changes;
    },
    deleteExpired(now: Date): number {
      return db.delete(sessions).where(lte(sessions.expiresAt, now)).run().changes;
    },
    countForUser(userId: string): number {
      return db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId)).all().length;
    },
  };
}
