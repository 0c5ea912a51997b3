import { bigint, index, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { cText, instant } from './columns.ts';
import { buckets, users } from './schema.ts';

/** PostgreSQL twin of src/db/versions.schema.ts (Time Machine and trash). */

export const bucketRetention = pgTable('bucket_retention', {
  bucketId: cText('bucket_id')
    .primaryKey()
    .references(() => buckets.id, { onDelete: 'cascade' }),
  maxVersions: bigint('max_versions', { mode: 'number' }).notNull(),
  maxAgeDays: bigint('max_age_days', { mode: 'number' }).notNull(),
});

export const versionCounters = pgTable(
  'version_counters',
  {
    bucketId: cText('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    key: cText('key').notNull(),
    lastNumber: bigint('last_number', { mode: 'number' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key] })],
);

export const versionNumbers = pgTable(
  'version_numbers',
  {
    bucketId: cText('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    key: cText('key').notNull(),
    versionId: cText('version_id').notNull(),
    /** Epoch ms as a plain number, as in SQLite (not a timestamp column there). */
    modifiedAt: bigint('modified_at', { mode: 'number' }).notNull(),
    number: bigint('number', { mode: 'number' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key, table.versionId] })],
);

export const trash = pgTable(
  'trash',
  {
    id: cText('id').primaryKey(),
    userId: cText('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bucketId: cText('bucket_id').notNull(),
    bucket: cText('bucket').notNull(),
    key: cText('key').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    contentType: cText('content_type'),
    trashedAt: instant('trashed_at').notNull(),
    location: text('location', { enum: ['marker', 'moved'] }).notNull(),
    versionId: cText('version_id'),
    trashKey: cText('trash_key'),
  },
  (table) => [
    index('trash_user_idx').on(table.userId, table.trashedAt),
    index('trash_trashed_at_idx').on(table.trashedAt),
    index('trash_bucket_key_idx').on(table.bucketId, table.key),
  ],
);
