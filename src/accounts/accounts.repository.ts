import { eq } from 'drizzle-orm';
import type { DatabaseHandle } from '../db/database.ts';
import type { UserRow } from '../db/schema.ts';

export type AccountsRepository = ReturnType<typeof createAccountsRepository>;

export function createAccountsRepository({ database }: { database: DatabaseHandle }) {
  const { users } = database.tables;
  return {
    /** Runs `fn` in one transaction (an account row and what goes with it: its sessions, its first key). */
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return database.transaction(fn);
    },
    insert(user: { id: string; email: string; passwordHash: string; isAdmin: boolean }): Promise<UserRow> {
      return database.query(async (db) => (await db.insert(users).values(user).returning())[0]!);
    },
    findByEmail(email: string): Promise<UserRow | undefined> {
      return database.query(async (db) => (await db.select().from(users).where(eq(users.email, email.toLowerCase())).limit(1))[0]);
    },
    findById(id: string): Promise<UserRow | undefined> {
      return database.query(async (db) => (await db.select().from(users).where(eq(users.id, id)).limit(1))[0]);
    },
    listAll(): Promise<UserRow[]> {
      return database.query(async (db) => db.select().from(users));
    },
    setPasswordHash(id: string, passwordHash: string): Promise<void> {
      return database.query(async (db) => void (await db.update(users).set({ passwordHash }).where(eq(users.id, id))));
    },
    setQuota(id: string, quotaBytes: number | null): Promise<void> {
      return database.query(async (db) => void (await db.update(users).set({ quotaBytes }).where(eq(users.id, id))));
    },
    setStatus(id: string, status: UserRow['status']): Promise<void> {
      return database.query(async (db) => void (await db.update(users).set({ status }).where(eq(users.id, id))));
    },
  };
}
