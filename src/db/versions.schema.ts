import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { buckets, users } from './schema.ts';

/**
 * Time Machine (src/versions/) and trash (src/trash/) tables. The bucket's versioning STATE lives
 * in the storage backend (fs index, the store); these hold only what the backend has no notion of:
 * retention settings, the dashboard's version numbers and the trash entries.
 */

/** Per-bucket retention; no row: the defaults (TIME_MACHINE_MAX_VERSIONS, TIME_MACHINE_MAX_AGE_DAYS). */
export const bucketRetention = sqliteTable('bucket_retention', {
  bucketId: text('bucket_id')
    .primaryKey()
    .references(() => buckets.id, { onDelete: 'cascade' }),
  /** Versions kept per key, the current one included. */
  maxVersions: integer('max_versions').notNull(),
  /** Noncurrent versions are pruned this many days after they stopped being current. */
  maxAgeDays: integer('max_age_days').notNull(),
});

/**
 * The last version number handed out per key: numbers never repeat, even after retention pruned
 * the versions that held them (the key's rows in `version_numbers` are then gone).
 */
export const versionCounters = sqliteTable(
  'version_counters',
  {
    bucketId: text('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    lastNumber: integer('last_number').notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key] })],
);

/**
 * The number of each version the Time Machine API has seen (assigned oldest first, on first
 * sight, whichever door wrote the version). `modifiedAt` tells a `null` version replaced in a
 * Suspended bucket (same id, new content) from the one that was numbered.
 */
export const versionNumbers = sqliteTable(
  'version_numbers',
  {
    bucketId: text('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    versionId: text('version_id').notNull(),
    modifiedAt: integer('modified_at').notNull(),
    number: integer('number').notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key, table.versionId] })],
);

/**
 * Files deleted through the dashboard or the REST API. `marker`: in a versioned bucket, the delete
 * marker `versionId` hides the key (restore deletes the marker). `moved`: from an unversioned (or
 * suspended) bucket the object was moved to the account's internal trash bucket under `trashKey`.
 * No foreign key to the source bucket: a moved file outlives its bucket (restore then answers 409).
 */
export const trash = sqliteTable(
  'trash',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    bucketId: text('bucket_id').notNull(),
    /** The account's name for the bucket when the file was trashed. */
    bucket: text('bucket').notNull(),
    key: text('key').notNull(),
    size: integer('size').notNull(),
    contentType: text('content_type'),
    trashedAt: integer('trashed_at', { mode: 'timestamp_ms' }).notNull(),
    location: text('location', { enum: ['marker', 'moved'] }).notNull(),
    /** `marker`: the delete marker's version id. */
    versionId: text('version_id'),
    /** `moved`: the key in the internal trash bucket. */
    trashKey: text('trash_key'),
  },
  (table) => [
    index('trash_user_idx').on(table.userId, table.trashedAt),
    index('trash_trashed_at_idx').on(table.trashedAt),
    // heldMarkers: the entries that hold a key's delete markers, looked up by retention for keys with a marker.
    index('trash_bucket_key_idx').on(table.bucketId, table.key),
  ],
);

export type BucketRetentionRow = typeof bucketRetention.$inferSelect;
export type TrashRow = typeof trash.$inferSelect;
