import { and, asc, eq, gt, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { eventCursors, events, type EventRow } from '../db/schema.ts';
import { eventColumns, type Actor, type DomainEvent, type DomainEventType, type EventLog, type EventQuery, type StoredEvent } from './events.ts';

export type EventLogRepository = ReturnType<typeof createEventLogRepository>;

/**
 * The event log and the subscribers' cursors in the metadata database (tables `events`,
 * `event_cursors`). `appendSync` runs on the caller's connection, so a use case that changes a
 * bucket or key row appends its event inside the same transaction (db.transaction). `onAppend`
 * hears of every append that added something (it wakes the dispatcher, which defers its reads
 * past the caller's transaction).
 */
export function createEventLogRepository({ db, onAppend }: { db: Db; onAppend?: () => void }): EventLog & {
  /** Idempotent by event id (INSERT OR IGNORE); returns how many were new. Synchronous: usable inside a transaction. */
  appendSync(events: DomainEvent[]): number;
  /** The last seq in the log (0 when empty). */
  lastSeq(): number;
  cursor(subscriber: string): number;
  /** Moves a subscriber's cursor forward (never back: a slower concurrent writer cannot rewind it). */
  setCursor(subscriber: string, seq: number): void;
} {
  const insert = db
    .insert(events)
    .values({
      id: sql.placeholder('id'),
      type: sql.placeholder('type'),
      time: sql.placeholder('time'),
      accountId: sql.placeholder('accountId'),
      actorKind: sql.placeholder('actorKind'),
      actorId: sql.placeholder('actorId'),
      clientAddress: sql.placeholder('clientAddress'),
      bucket: sql.placeholder('bucket'),
      key: sql.placeholder('key'),
      size: sql.placeholder('size'),
      etag: sql.placeholder('etag'),
      contentType: sql.placeholder('contentType'),
      versionId: sql.placeholder('versionId'),
      detail: sql.placeholder('detail'),
    })
    .onConflictDoNothing({ target: events.id })
    .prepare();
  const cursorOf = db
    .select({ seq: eventCursors.seq })
    .from(eventCursors)
    .where(eq(eventCursors.subscriber, sql.placeholder('subscriber')))
    .prepare();

  const appendSync = (list: DomainEvent[]): number => {
    let added = 0;
    for (const event of list) {
      // `detail` is serialised by the column's JSON mapping, placeholders included.
      const result = insert.run({ id: event.id, time: event.time, ...eventColumns(event) });
      added += result.changes;
    }
    if (added > 0) onAppend?.();
    return added;
  };

  return {
    appendSync,
    async append(list) {
      if (list.length === 0) return;
      // One transaction: a batch is all in the log or none of it (a relay retries the whole batch).
      db.transaction(() => void appendSync(list), { behavior: 'immediate' });
    },

    async read(query: EventQuery): Promise<StoredEvent[]> {
      const where: SQL[] = [];
      if (query.afterSeq !== undefined) where.push(gt(events.seq, query.afterSeq));
      if (query.accountId !== undefined) where.push(eq(events.accountId, query.accountId));
      if (query.types !== undefined) where.push(inArray(events.type, query.types));
      if (query.bucket !== undefined) where.push(eq(events.bucket, query.bucket));
      // instr() = 1 is an exact, case-sensitive prefix test (LIKE folds ASCII case).
      if (query.keyPrefix !== undefined && query.keyPrefix !== '') where.push(sql`instr(${events.key}, ${query.keyPrefix}) = 1`);
      // ISO 8601 strings of one format order like the instants they name.
      if (query.from !== undefined) where.push(gte(events.time, query.from.toISOString()));
      if (query.to !== undefined) where.push(lte(events.time, query.to.toISOString()));
      const rows = db
        .select()
        .from(events)
        .where(where.length > 0 ? and(...where) : undefined)
        .orderBy(asc(events.seq))
        .limit(Math.max(0, Math.floor(query.limit)))
        .all();
      return rows.map(toStoredEvent);
    },

    lastSeq(): number {
      return (
        db
          .select({ seq: sql<number>`coalesce(max(${events.seq}), 0)` })
          .from(events)
          .get()?.seq ?? 0
      );
    },

    cursor(subscriber: string): number {
      return cursorOf.get({ subscriber })?.seq ?? 0;
    },

    setCursor(subscriber: string, seq: number): void {
      db.insert(eventCursors)
        .values({ subscriber, seq, updatedAt: new Date() })
        .onConflictDoUpdate({
          target: eventCursors.subscriber,
          set: { seq: sql`max(${eventCursors.seq}, excluded.seq)`, updatedAt: sql`excluded.updated_at` },
        })
        .run();
    },
  };
}

function toStoredEvent(row: EventRow): StoredEvent {
  const event: StoredEvent = {
    seq: row.seq,
    id: row.id,
    type: row.type as DomainEventType,
    time: row.time,
    accountId: row.accountId,
    actor: { kind: row.actorKind as Actor['kind'], id: row.actorId },
  };
  if (row.clientAddress !== null) event.clientAddress = row.clientAddress;
  if (row.bucket !== null) event.bucket = row.bucket;
  if (row.key !== null) event.key = row.key;
  if (row.size !== null) event.size = row.size;
  if (row.etag !== null) event.etag = row.etag;
  if (row.contentType !== null) event.contentType = row.contentType;
  if (row.versionId !== null) event.versionId = row.versionId;
  if (row.detail !== null) event.detail = row.detail;
  return event;
}
