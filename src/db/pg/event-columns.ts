import { bigint } from 'drizzle-orm/pg-core';
import type { Actor } from '../../events/events.ts';
import { cJsonb, cText } from './columns.ts';

/** PostgreSQL twin of src/db/event-columns.ts: the facts of a domain event as columns (events, activity). */
export const eventFactColumns = () => ({
  accountId: cText('account_id').notNull(),
  actorKind: cText('actor_kind').$type<Actor['kind']>().notNull(),
  actorId: cText('actor_id').notNull(),
  clientAddress: cText('client_address'),
  bucket: cText('bucket'),
  /** Object key: byte-wise order and prefix filters as on SQLite. */
  key: cText('key'),
  size: bigint('size', { mode: 'number' }),
  etag: cText('etag'),
  contentType: cText('content_type'),
  versionId: cText('version_id'),
  detail: cJsonb('detail').$type<Record<string, unknown>>(),
});
