import { sql } from 'drizzle-orm';
import { bigint, boolean, index, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { cJsonb, cText, instant } from './columns.ts';
import { eventFactColumns } from './event-columns.ts';

/**
 * The PostgreSQL twin of src/db/schema.ts: same tables, columns, keys and indexes, and the same
 * JavaScript values per row (repositories are typed with the SQLite schema and run on both).
 * Mapping: timestamp_ms → timestamptz(3) (Date), boolean → boolean, JSON text → jsonb, integers →
 * bigint (number; SQLite integers are 64-bit), free text → text COLLATE "C" (byte order as
 * SQLite's BINARY), enums → text. schema-parity.test.ts fails when the two drift apart.
 */

const createdAt = () => instant('created_at').notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: cText('id').primaryKey(),
    email: cText('email').notNull(),
    passwordHash: cText('password_hash').notNull(),
    isAdmin: boolean('is_admin').notNull().default(false),
    status: text('status', { enum: ['active', 'deactivated'] })
      .notNull()
      .default('active'),
    quotaBytes: bigint('quota_bytes', { mode: 'number' }),
    createdAt: createdAt(),
  },
  (table) => [uniqueIndex('users_email_unique').on(table.email)],
);

export const accessKeys = pgTable(
  'access_keys',
  {
    id: cText('id').primaryKey(),
    userId: cText('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    accessKeyId: cText('access_key_id').notNull(),
    secretEncrypted: cText('secret_encrypted').notNull(),
    name: cText('name').notNull().default(''),
    createdAt: createdAt(),
    revokedAt: instant('revoked_at'),
    scopeBuckets: cJsonb('scope_buckets').$type<string[]>(),
    scopePrefix: cText('scope_prefix'),
    permission: text('permission', { enum: ['read', 'write', 'readwrite'] })
      .notNull()
      .default('readwrite'),
    expiresAt: instant('expires_at'),
  },
  (table) => [uniqueIndex('access_keys_access_key_id_unique').on(table.accessKeyId), index('access_keys_user_id_idx').on(table.userId)],
);

export const buckets = pgTable(
  'buckets',
  {
    id: cText('id').primaryKey(),
    userId: cText('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: cText('name').notNull(),
    backendName: cText('backend_name').notNull(),
    createdAt: createdAt(),
    acl: text('acl', { enum: ['private', 'public-read', 'authenticated-read'] })
      .notNull()
      .default('private'),
    cors: cJsonb('cors').$type<unknown[]>(),
    publicName: boolean('public_name').notNull().default(false),
    internal: boolean('internal').notNull().default(false),
  },
  (table) => [
    uniqueIndex('buckets_user_name_unique').on(table.userId, table.name),
    uniqueIndex('buckets_public_name_unique').on(table.name).where(sql`public_name = true`),
    uniqueIndex('buckets_backend_name_unique').on(table.backendName),
    index('buckets_name_idx').on(table.name),
  ],
);

export const objectAcls = pgTable(
  'object_acls',
  {
    bucketId: cText('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    /** Object key: may hold any Unicode but U+0000 (PostgreSQL text cannot). */
    key: cText('key').notNull(),
    acl: text('acl', { enum: ['public-read', 'authenticated-read'] }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key] })],
);

export const sessions = pgTable(
  'sessions',
  {
    id: cText('id').primaryKey(),
    userId: cText('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: cText('token_hash').notNull(),
    createdAt: createdAt(),
    expiresAt: instant('expires_at').notNull(),
  },
  (table) => [uniqueIndex('sessions_token_hash_unique').on(table.tokenHash), index('sessions_user_id_idx').on(table.userId), index('sessions_expires_at_idx').on(table.expiresAt)],
);

/**
 * The domain event log. `seq` is an identity (never reused, like AUTOINCREMENT). Unlike SQLite,
 * whose writers are serialised, concurrent PostgreSQL transactions may COMMIT out of seq order: a
 * reader paging by `seq > cursor` can pass a lower seq that is not committed yet.
 */
export const events = pgTable(
  'events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    id: cText('id').notNull(),
    type: cText('type').notNull(),
    time: cText('time').notNull(),
    ...eventFactColumns(),
  },
  (table) => [
    uniqueIndex('events_id_unique').on(table.id),
    index('events_account_seq_idx').on(table.accountId, table.seq),
    index('events_account_bucket_seq_idx').on(table.accountId, table.bucket, table.seq),
  ],
);

export const eventCursors = pgTable('event_cursors', {
  subscriber: cText('subscriber').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull().default(0),
  updatedAt: instant('updated_at').notNull().defaultNow(),
});
