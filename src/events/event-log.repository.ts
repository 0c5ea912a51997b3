import { and, asc, eq, gt, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import { preparedInsertValues, preparedOnSqlite, type Db, type DatabaseHandle } from '../db/database.ts';
import type { EventRow } from '../db/schema.ts';
import { eventColumns, type Actor, type DomainEvent, type DomainEventType, type EventLog, type EventQuery, type StoredEvent } from './events.ts';

export type EventLogRepository = ReturnType<typeof createEventLogRepository>;

/**
 * The event log and the subscribers' cursors in the metadata database (tables `events`,
 * `event_cursors`). `append` joins the caller's transaction when there is one
 * (DatabaseHandle.transaction), so a use case that changes a bucket or key row appends its
 * event in the same commit. `onAppend` hears of every append that added something, once the
 * transaction has committed (it wakes the dispatcher; on PostgreSQL, other processes' too).
 */
export function createEventLogRepository({ database, onAppend }: { database: DatabaseHandle; onAppend?: () => void }): EventLog & {
  /** Idempotent by event id (insert or ignore); returns how many were new. */
  append(events: DomainEvent[]): Promise<number>;
  /** The last seq in the log (0 when empty). */
  lastSeq(): Promise<number>;
  cursor(subscriber: string): Promise<number>;
  /** Moves a subscriber's cursor forward (never back: a slower concurrent writer cannot rewind it). */
  setCursor(subscriber: string, seq: number): Promise<void>;
  /** Every stored cursor, in one read (the dispatcher asks for its subscribers' together). */
  cursors(): Promise<Map<string, number>>;
  /** Moves several cursors forward in one statement (one write transaction), each never back. */
  setCursors(advances: ReadonlyMap<string, number>): Promise<void>;
  claim(subscriber: string): Promise<(() => Promise<void>) | undefined>;
} {
  const { events, eventCursors } = database.tables;
  const placeholder = sql.placeholder;

  // The queries every write pays for (the relay's append, the dispatcher's reads and cursors),
  // prepared once on SQLite (preparedOnSqlite); the same builders run per call on PostgreSQL.
  const appendOne = (db: Db, row: Record<keyof ReturnType<typeof eventRow>, unknown>) =>
    db
      .insert(events)
      // `detail` is serialised by the column's JSON mapping (the prepared append's placeholders take it serialised: EVENT_INSERT).
      .values(row as ReturnType<typeof eventRow>)
      .onConflictDoNothing({ target: events.id })
      .returning({ seq: events.seq });
  const appendPrepared = preparedOnSqlite(database, (db) => appendOne(db, EVENT_INSERT.placeholders as Record<keyof ReturnType<typeof eventRow>, unknown>).prepare());
  const readAfter = (db: Db, afterSeq: unknown, limit: unknown) =>
    db
      .select()
      .from(events)
      .where(gt(events.seq, afterSeq as number))
      .orderBy(asc(events.seq))
      .limit(limit as number);
  const readAfterPrepared = preparedOnSqlite(database, (db) => readAfter(db, placeholder('afterSeq'), placeholder('limit')).prepare());
  const cursorOf = (db: Db, subscriber: unknown) =>
    db
      .select({ seq: eventCursors.seq })
      .from(eventCursors)
      .where(eq(eventCursors.subscriber, subscriber as string))
      .limit(1);
  const cursorPrepared = preparedOnSqlite(database, (db) => cursorOf(db, placeholder('subscriber')).prepare());
  const allCursors = (db: Db) => db.select({ subscriber: eventCursors.subscriber, seq: eventCursors.seq }).from(eventCursors);
  const allCursorsPrepared = preparedOnSqlite(database, (db) => allCursors(db).prepare());
  // Advances as one multi-row upsert that never moves a cursor back: one statement, one write
  // transaction (WAL frames, locks) for several subscribers instead of one each.
  const advanceMany = (db: Db, rows: { subscriber: unknown; seq: unknown; updatedAt: unknown }[]) =>
    db
      .insert(eventCursors)
      .values(rows as { subscriber: string; seq: number; updatedAt: Date }[])
      .onConflictDoUpdate({
        target: eventCursors.subscriber,
        set: { seq: database.sql.greatest(eventCursors.seq, sql`excluded.seq`), updatedAt: sql`excluded.updated_at` },
      });
  /** SQLite: the upsert of n rows, prepared once per n (n is at most the number of subscribers). */
  const advanceManyPrepared = new Map<number, { run(values: Record<string, unknown>): unknown }>();
  const preparedAdvanceOf = (db: Db, count: number) => {
    let prepared = advanceManyPrepared.get(count);
    if (prepared === undefined) {
      const rows = Array.from({ length: count }, (_, index) => ({ subscriber: placeholder(`s${index}`), seq: placeholder(`q${index}`), updatedAt: placeholder(`t${index}`) }));
      prepared = advanceMany(db, rows).prepare();
      advanceManyPrepared.set(count, prepared);
    }
    return prepared;
  };

  function setCursors(advances: ReadonlyMap<string, number>): Promise<void> {
    if (advances.size === 0) return Promise.resolve();
    const updatedAt = new Date();
    return database.query(async (db) => {
      if (database.dialect === 'sqlite') {
        const values: Record<string, unknown> = {};
        let index = 0;
        for (const [subscriber, seq] of advances) {
          values[`s${index}`] = subscriber;
          values[`q${index}`] = seq;
          values[`t${index}`] = updatedAt;
          index++;
        }
        preparedAdvanceOf(db, advances.size).run(values);
        return;
      }
      await advanceMany(
        db,
        [...advances].map(([subscriber, seq]) => ({ subscriber, seq, updatedAt })),
      );
    });
  }

  return {
    append(list) {
      if (list.length === 0) return Promise.resolve(0);
      // One transaction: a batch is all in the log or none of it (a relay retries the whole batch).
      return database.transaction(async () => {
        // Appends commit in seq order: a dispatcher reads `seq > cursor`, so a seq committed after
        // a higher one would be skipped for good. SQLite's single writer gives that order; on
        // PostgreSQL concurrent transactions would commit out of it, so appends take turns (a
        // transaction-scoped lock, held until the commit of the change the events belong to).
        await database.lock('events.append');
        const inserted = await database.query(async (db) => {
          // SQLite: the prepared single-row insert once per event, all in this transaction.
          if (appendPrepared) return list.reduce((count, event) => count + appendPrepared(db).all(EVENT_INSERT.bind(eventRow(event))).length, 0);
          return (await db.insert(events).values(list.map(eventRow)).onConflictDoNothing({ target: events.id }).returning({ seq: events.seq })).length;
        });
        if (inserted > 0 && onAppend) database.afterCommit(onAppend);
        return inserted;
      });
    },

    read(query: EventQuery): Promise<StoredEvent[]> {
      const limit = Math.max(0, Math.floor(query.limit));
      // The dispatcher's read (everything after its cursor): prepared on SQLite.
      const { afterSeq, limit: _limit, ...filters } = query;
      if (readAfterPrepared && afterSeq !== undefined && Object.values(filters).every((value) => value === undefined)) {
        return database.query(async (db) => readAfterPrepared(db).all({ afterSeq, limit }).map(toStoredEvent));
      }
      const where: SQL[] = [];
      if (query.afterSeq !== undefined) where.push(gt(events.seq, query.afterSeq));
      if (query.accountId !== undefined) where.push(eq(events.accountId, query.accountId));
      if (query.types !== undefined) where.push(inArray(events.type, query.types));
      if (query.bucket !== undefined) where.push(eq(events.bucket, query.bucket));
      if (query.keyPrefix !== undefined && query.keyPrefix !== '') where.push(database.sql.startsWith(events.key, query.keyPrefix));
      // ISO 8601 strings of one format order like the instants they name.
      if (query.from !== undefined) where.push(gte(events.time, query.from.toISOString()));
      if (query.to !== undefined) where.push(lte(events.time, query.to.toISOString()));
      return database.query(async (db) => {
        const rows = await db
          .select()
          .from(events)
          .where(where.length > 0 ? and(...where) : undefined)
          .orderBy(asc(events.seq))
          .limit(limit);
        return rows.map(toStoredEvent);
      });
    },

    lastSeq(): Promise<number> {
      return database.query(async (db) => Number((await db.select({ seq: sql<number>`coalesce(max(${events.seq}), 0)` }).from(events))[0]?.seq ?? 0));
    },

    cursor(subscriber: string): Promise<number> {
      return database.query(async (db) => (cursorPrepared ? cursorPrepared(db).all({ subscriber }) : await cursorOf(db, subscriber))[0]?.seq ?? 0);
    },

    /** One process at a time delivers a subscriber (gateways sharing PostgreSQL): see DatabaseHandle.tryHold. */
    claim(subscriber: string) {
      return database.tryHold(`dispatch:${subscriber}`);
    },

    cursors(): Promise<Map<string, number>> {
      return database.query(async (db) => {
        const rows = allCursorsPrepared ? allCursorsPrepared(db).all() : await allCursors(db);
        return new Map(rows.map((row) => [row.subscriber, Number(row.seq)]));
      });
    },

    setCursors,

    setCursor(subscriber: string, seq: number): Promise<void> {
      return setCursors(new Map([[subscriber, seq]]));
    },
  };
}

/** An event as a row of `events` (every column named, as a prepared insert's placeholders need). */
function eventRow(event: DomainEvent) {
  return { id: event.id, time: event.time, ...eventColumns(event) };
}
const EVENT_ROW_FIELDS = Object.keys(eventRow({ id: '', time: '', type: 'object.created', accountId: '', actor: { kind: 'system', id: '' } } as DomainEvent)) as (keyof ReturnType<
  typeof eventRow
>)[];
/** The prepared append's values (see appendPrepared). */
const EVENT_INSERT = preparedInsertValues(EVENT_ROW_FIELDS, 'detail');

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
