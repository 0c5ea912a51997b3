import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { users } from './schema.ts';

/**
 * Share links (dashboard-api/modules/shares): a public code that serves one object, or every
 * object under a prefix as a zip, on behalf of its owner. Kept in its own schema file (listed in
 * drizzle.config.ts) so the feature owns its table.
 */
export const shares = sqliteTable(
  'shares',
  {
    id: text('id').primaryKey(),
    /** The public code in `/s/{code}`: random (72 bits, base64url) or a validated custom slug. */
    code: text('code').notNull(),
    ownerId: text('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /**
     * The access key that created the share, when one did: downloads then act with that key
     * (its scope, and nothing once it is revoked or expired). Null: created in a dashboard session,
     * downloads act as the account.
     */
    accessKeyId: text('access_key_id'),
    /** The bucket row the share was created for: a bucket deleted and re-created under the same name is not it. */
    bucketId: text('bucket_id').notNull(),
    /** The account's name for that bucket (what the objects service resolves). */
    bucket: text('bucket').notNull(),
    /** The object key, or for `prefix` shares the prefix (ending in `/`). */
    objectKey: text('object_key').notNull(),
    kind: text('kind', { enum: ['object', 'prefix'] }).notNull(),
    fileName: text('file_name').notNull(),
    /** scrypt (src/crypto/passwords.ts); null: no password. */
    passwordHash: text('password_hash'),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    maxDownloads: integer('max_downloads'),
    /** Counted atomically in SQL (`downloads < max_downloads` in the UPDATE itself). */
    downloads: integer('downloads').notNull().default(0),
    views: integer('views').notNull().default(0),
    active: integer('active', { mode: 'boolean' }).notNull().default(true),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch('subsec') * 1000)`),
  },
  (table) => [uniqueIndex('shares_code_unique').on(table.code), index('shares_owner_idx').on(table.ownerId, table.createdAt)],
);

export type ShareRow = typeof shares.$inferSelect;
