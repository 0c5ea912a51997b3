import { integer, text } from 'drizzle-orm/sqlite-core';
import type { Actor } from '../events/events.ts';

/**
 * The facts of a domain event as table columns, shared by every table that stores events (the
 * event log, the activity log) so they cannot drift apart; `eventColumns()` in
 * src/events/events.ts fills them.
 */
export const eventFactColumns = () => ({
  accountId: text('account_id').notNull(),
  actorKind: text('actor_kind').$type<Actor['kind']>().notNull(),
  actorId: text('actor_id').notNull(),
  clientAddress: text('client_address'),
  bucket: text('bucket'),
  key: text('key'),
  size: integer('size'),
  etag: text('etag'),
  contentType: text('content_type'),
  versionId: text('version_id'),
  detail: text('detail', { mode: 'json' }).$type<Record<string, unknown>>(),
});
