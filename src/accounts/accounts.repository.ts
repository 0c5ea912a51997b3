import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { users, type UserRow } from '../db/schema.ts';

export type AccountsRepository = ReturnType<typeof createAccountsRepository>;

export function createAccountsRepository({ db }: { db: Db }) {
  // Prepared once: quota checks read it on every upload.
  const byId = db
    .select()
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .prepare();
  return {
    insert(user: { id: string; email: string; passwordHash: string; isAdmin: boolean }): UserRow {
      return db.insert(users).values(user).returning().get();
    },
    findByEmail(email: string): UserRow | undefined {
      return db.select().from(users).where(eq(users.email, email.toLowerCase())).get();
    },
    findById(id: string): UserRow | undefined {
      return byId.get({ id });
    },
    listAll(): UserRow[] {
      return db.select().from(users).all();
    },
    setPasswordHash(id: string, passwordHash: string): void {
      db.update(users).set({ passwordHash }).where(eq(users.id, id)).run();
    },
    setQuota(id: string, quotaBytes: number | null): void {
      db.update(users).set({ quotaBytes }).where(eq(users.id, id)).run();
    },
    setStatus(id: string, status: UserRow['status']): void {
      db.update(users).set({ status }).where(eq(users.id, id)).run();
    },
  };
}
