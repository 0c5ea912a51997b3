import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { eventFactColumns } from './event-columns.ts';
import type { DomainEventType } from '../events/events.ts';

/**
 * The activity log (dashboard-api/modules/activity): one row per domain event, written by the
 * `activity` subscriber of the event log. Kept in its own schema file (drizzle.config.ts lists
 * every schema file) so the feature owns its table. No foreign key to users: an account's history
 * outlives a deleted account for the administrator, and the subscriber never waits on other rows.
 */
export const activity = sqliteTable(
  'activity',
  {
    /** The domain event id: the primary key makes redelivery (at-least-once) an ignored insert. */
    eventId: text('event_id').primaryKey(),
    /** The event log's sequence number: the list order (newest first) and the cursor. */
    seq: integer('seq').notNull(),
    type: text('type').$type<DomainEventType>().notNull(),
    /** Epoch ms, so `from`/`to` filters compare numbers. */
    time: integer('time', { mode: 'timestamp_ms' }).notNull(),
    ...eventFactColumns(),
  },
  (table) => [
    // The account's list, newest first, and its time-window filter.
    index('activity_account_seq_idx').on(table.accountId, table.seq),
    index('activity_account_time_idx').on(table.accountId, table.time),
    // The bucket and key-prefix filters.
    index('activity_account_bucket_key_idx').on(table.accountId, table.bucket, table.key),
    // The administrator's list across every account.
    index('activity_seq_idx').on(table.seq),
  ],
);

export type ActivityRow = typeof activity.$inferSelect;
export type NewActivityRow = typeof activity.$inferInsert;
