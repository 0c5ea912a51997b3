import { bigint, boolean, index, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { cText, instant } from './columns.ts';
import { users } from './schema.ts';

/** PostgreSQL twin of src/db/shares.schema.ts. */
export const shares = pgTable(
  'shares',
  {
    id: cText('id').primaryKey(),
    code: cText('code').notNull(),
    ownerId: cText('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    accessKeyId: cText('access_key_id'),
    bucketId: cText('bucket_id').notNull(),
    bucket: cText('bucket').notNull(),
    /** Object key or prefix: byte-wise like SQLite; cannot hold U+0000. */
    objectKey: cText('object_key').notNull(),
    kind: text('kind', { enum: ['object', 'prefix'] }).notNull(),
    fileName: cText('file_name').notNull(),
    passwordHash: cText('password_hash'),
    expiresAt: instant('expires_at'),
    maxDownloads: bigint('max_downloads', { mode: 'number' }),
    downloads: bigint('downloads', { mode: 'number' }).notNull().default(0),
    views: bigint('views', { mode: 'number' }).notNull().default(0),
    active: boolean('active').notNull().default(true),
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (table) => [uniqueIndex('shares_code_unique').on(table.code), index('shares_owner_idx').on(table.ownerId, table.createdAt)],
);
