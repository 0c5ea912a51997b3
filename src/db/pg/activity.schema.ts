import { bigint, index, pgTable } from 'drizzle-orm/pg-core';
import type { DomainEventType } from '../../events/events.ts';
import { cText, instant } from './columns.ts';
import { eventFactColumns } from './event-columns.ts';

/** PostgreSQL twin of src/db/activity.schema.ts. */
export const activity = pgTable(
  'activity',
  {
    eventId: cText('event_id').primaryKey(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: cText('type').$type<DomainEventType>().notNull(),
    time: instant('time').notNull(),
    ...eventFactColumns(),
  },
  (table) => [
    index('activity_account_seq_idx').on(table.accountId, table.seq),
    index('activity_account_time_idx').on(table.accountId, table.time),
    index('activity_account_bucket_key_idx').on(table.accountId, table.bucket, table.key),
    index('activity_seq_idx').on(table.seq),
  ],
);
