import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { DatabaseHandle } from '../../../src/db/database.ts';
import type { ShareRow, shares } from '../../../src/db/shares.schema.ts';

export type SharesRepository = ReturnType<typeof createSharesRepository>;
export type NewShare = typeof shares.$inferInsert;

/** The `shares` table (src/db/shares.schema.ts). */
export function createSharesRepository({ database }: { database: DatabaseHandle }) {
  const { shares } = database.tables;
  const first = <T>(rows: T[]): T | undefined => rows[0];
  return {
    /** Runs `fn` in one transaction: a share row change and its domain event commit together. */
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return database.transaction(fn);
    },
    insert(share: NewShare): Promise<ShareRow> {
      return database.query(async (db) => (await db.insert(shares).values(share).returning())[0]!);
    },
    findByCode(code: string): Promise<ShareRow | undefined> {
      return database.query(async (db) => first(await db.select().from(shares).where(eq(shares.code, code)).limit(1)));
    },
    findById(id: string): Promise<ShareRow | undefined> {
      return database.query(async (db) => first(await db.select().from(shares).where(eq(shares.id, id)).limit(1)));
    },
    listByOwner(ownerId: string): Promise<ShareRow[]> {
      return database.query(async (db) => db.select().from(shares).where(eq(shares.ownerId, ownerId)).orderBy(desc(shares.createdAt)));
    },
    update(id: string, ownerId: string, changes: Partial<Pick<ShareRow, 'passwordHash' | 'expiresAt' | 'maxDownloads' | 'active'>>): Promise<ShareRow | undefined> {
      return database.query(async (db) =>
        first(
          await db
            .update(shares)
            .set(changes)
            .where(and(eq(shares.id, id), eq(shares.ownerId, ownerId)))
            .returning(),
        ),
      );
    },
    countView(id: string): Promise<void> {
      return database.query(
        async (db) =>
          void (await db
            .update(shares)
            .set({ views: sql`${shares.views} + 1` })
            .where(eq(shares.id, id))),
      );
    },
    /**
     * Takes one download, atomically in SQL: the row's own conditions (active, not expired, under
     * its limit) are checked by the UPDATE that increments, so concurrent downloads through any
     * number of processes sharing the database can never pass the limit. Undefined: none left.
     */
    claimDownload(id: string, nowMs: number): Promise<ShareRow | undefined> {
      return database.query(async (db) =>
        first(
          await db
            .update(shares)
            .set({ downloads: sql`${shares.downloads} + 1` })
            .where(
              and(
                eq(shares.id, id),
                eq(shares.active, true),
                or(isNull(shares.expiresAt), gt(shares.expiresAt, new Date(nowMs))),
                sql`(${shares.maxDownloads} IS NULL OR ${shares.downloads} < ${shares.maxDownloads})`,
              ),
            )
            .returning(),
        ),
      );
    },
  };
}
