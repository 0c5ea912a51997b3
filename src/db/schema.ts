import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { eventFactColumns } from './event-columns.ts';

const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch('subsec') * 1000)`);

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** Stored lower-cased: emails are unique case-insensitively. */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    isAdmin: integer('is_admin', { mode: 'boolean' }).notNull().default(false),
    status: text('status', { enum: ['active', 'deactivated'] })
      .notNull()
      .default('active'),
    /** Storage quota in bytes; null means the configured default (DEFAULT_QUOTA_BYTES). */
    quotaBytes: integer('quota_bytes'),
    createdAt: createdAt(),
  },
  (table) => [uniqueIndex('users_email_unique').on(table.email)],
);

export const accessKeys = sqliteTable(
  'access_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    accessKeyId: text('access_key_id').notNull(),
    /** AES-256-GCM under the master key (src/crypto/secret-box.ts). */
    secretEncrypted: text('secret_encrypted').notNull(),
    name: text('name').notNull().default(''),
    createdAt: createdAt(),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
    /** Scope (src/keys/key-scope.ts): JSON array of the account's bucket names; null means every bucket. */
    scopeBuckets: text('scope_buckets', { mode: 'json' }).$type<string[]>(),
    /** Object-key prefix the key is confined to; null means any key. */
    scopePrefix: text('scope_prefix'),
    permission: text('permission', { enum: ['read', 'write', 'readwrite'] })
      .notNull()
      .default('readwrite'),
    /** The key stops authenticating at this instant; null means never. */
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
  },
  (table) => [uniqueIndex('access_keys_access_key_id_unique').on(table.accessKeyId), index('access_keys_user_id_idx').on(table.userId)],
);

export const buckets = sqliteTable(
  'buckets',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The name the account sees; unique per account only. */
    name: text('name').notNull(),
    /** The globally unique name in the storage backend. */
    backendName: text('backend_name').notNull(),
    createdAt: createdAt(),
    /** Canned ACL: who besides the owner may list the bucket (public-read: anyone; authenticated-read: any account). */
    acl: text('acl', { enum: ['private', 'public-read', 'authenticated-read'] })
      .notNull()
      .default('private'),
    /** The bucket's CORS configuration (JSON array of rules, AWS's semantics); null when none is set. */
    cors: text('cors', { mode: 'json' }).$type<unknown[]>(),
    /**
     * Whether this bucket claims its name in the one namespace anonymous (and other accounts')
     * requests address, because it or an object in it is readable beyond its owner. Private names
     * are per account; at most one bucket may claim a name publicly (partial unique index).
     */
    publicName: integer('public_name', { mode: 'boolean' }).notNull().default(false),
    /**
     * A bucket the server keeps for the account (the trash of unversioned buckets, src/trash/):
     * counted in the account's usage like any bucket row, but never listed, counted against
     * MAX_BUCKETS_PER_ACCOUNT or resolved by name from a door (buckets.repository.ts).
     */
    internal: integer('internal', { mode: 'boolean' }).notNull().default(false),
  },
  (table) => [
    uniqueIndex('buckets_user_name_unique').on(table.userId, table.name),
    uniqueIndex('buckets_public_name_unique').on(table.name).where(sql`public_name = 1`),
    uniqueIndex('buckets_backend_name_unique').on(table.backendName),
    index('buckets_name_idx').on(table.name),
  ],
);

/**
 * Object ACLs other than `private` (the default, never stored): sparse, so the common private
 * object costs nothing. The objects service clears a key's row when the object is replaced or
 * deleted, whichever door did it.
 */
export const objectAcls = sqliteTable(
  'object_acls',
  {
    bucketId: text('bucket_id')
      .notNull()
      .references(() => buckets.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    acl: text('acl', { enum: ['public-read', 'authenticated-read'] }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.bucketId, table.key] })],
);

/**
 * Dashboard sign-in sessions. Only the SHA-256 of the random cookie token is stored, so a copy of
 * the database does not hand out live sessions. Expiry is absolute (SESSION_TTL_MS after sign-in).
 */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Hex SHA-256 of the base64url cookie token. */
    tokenHash: text('token_hash').notNull(),
    createdAt: createdAt(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (table) => [uniqueIndex('sessions_token_hash_unique').on(table.tokenHash), index('sessions_user_id_idx').on(table.userId), index('sessions_expires_at_idx').on(table.expiresAt)],
);

/**
 * The domain event log (src/events/events.ts): every change, whichever door it came through, in
 * `seq` order. AUTOINCREMENT so a seq is never reused even after rows are pruned: subscribers'
 * cursors stay valid. `id` is unique: appends are idempotent (the relay may move one journaled
 * event twice after a crash, several processes may relay at once).
 */
export const events = sqliteTable(
  'events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    id: text('id').notNull(),
    type: text('type').notNull(),
    /** ISO 8601, as the event carries it. */
    time: text('time').notNull(),
    ...eventFactColumns(),
  },
  (table) => [
    uniqueIndex('events_id_unique').on(table.id),
    // An account's events after a cursor; and the bucket / key-prefix filters within it.
    index('events_account_seq_idx').on(table.accountId, table.seq),
    index('events_account_bucket_seq_idx').on(table.accountId, table.bucket, table.seq),
  ],
);

/** Each subscriber's position in the event log: the last `seq` it handled. */
export const eventCursors = sqliteTable('event_cursors', {
  subscriber: text('subscriber').primaryKey(),
  seq: integer('seq').notNull().default(0),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(sql`(unixepoch('subsec') * 1000)`),
});

export type UserRow = typeof users.$inferSelect;
export type AccessKeyRow = typeof accessKeys.$inferSelect;
export type BucketRow = typeof buckets.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type ObjectAclRow = typeof objectAcls.$inferSelect;
