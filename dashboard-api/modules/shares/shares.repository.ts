import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/database.ts';
import { shares, type ShareRow } from '../../../src/db/shares.schema.ts';

export type SharesRepository = ReturnType<typeof createSharesRepository>;
export type NewShare = typeof shares.$inferInsert;

/** The `shares` table (src/db/shares.schema.ts). Synchronous (better-sqlite3), so calls compose inside `transaction`. */
export function createSharesRepository({ db }: { db: Db }) {
  return {
    /** Runs `fn` in one immediate transaction: a share row change and its domain event commit together. */
    transaction<T>(fn: () => T): T {
      return db.transaction(() => fn(), { behavior: 'immediate' });
    },
    insert(share: NewShare): ShareRow {
      return db.insert(shares).values(share).returning().get();
    },
    findByCode(code: string): ShareRow | undefined {
      return db.select().from(shares).where(eq(shares.code, code)).get();
    },
    findById(id: string): ShareRow | undefined {
      return db.select().from(shares).where(eq(shares.id, id)).get();
    },
    listByOwner(ownerId: string): ShareRow[] {
      return db.select().from(shares).where(eq(shares.ownerId, ownerId)).orderBy(desc(shares.createdAt)).all();
    },
    update(id: string, ownerId: string, changes: Partial<Pick<ShareRow, 'passwordHash' | 'expiresAt' | 'maxDownloads' | 'active'>>): ShareRow | undefined {
      return db
        .update(shares)
        .set(changes)
        .where(and(eq(shares.id, id), eq(shares.ownerId, ownerId)))
        .returning()
        .get();
    },
    countView(id: string): void {
      db.update(shares)
        .set({ views: sql`${shares.views} + 1` })
        .where(eq(shares.id, id))
        .run();
    },
    /**
     * Takes one download, atomically in SQL: the row's own conditions (active, not expired, under
     * its limit) are checked by the UPDATE that increments, so concurrent downloads through any
     * number of processes sharing the database can never pass the limit. Undefined: none left.
     */
    claimDownload(id: string, nowMs: number): ShareRow | undefined {
      return db
        .update(shares)
        .set({ downloads: sql`${shares.downloads} + 1` })
        .where(
          and(
            eq(shares.id, id),
            eq(shares.active, true),
            sql`(${shares.expiresAt} IS NULL OR ${shares.expiresAt} > ${nowMs})`,
            sql`(${shares.maxDownloads} IS NULL OR ${shares.downloads} < ${shares.maxDownloads})`,
          ),
        )
        .returning()
        .get();
    },
  };
}
