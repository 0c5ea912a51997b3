import { and, desc, eq, gte, inArray, lt, or, type SQL } from 'drizzle-orm';
import { preparedInsertValues, preparedOnSqlite, type DatabaseHandle } from '../../../src/db/database.ts';
import type { ActivityRow, NewActivityRow } from '../../../src/db/activity.schema.ts';
import type { DomainEventType } from '../../../src/events/events.ts';

export type ActivityRepository = ReturnType<typeof createActivityRepository>;

/** A position in the list: the last row of the previous page (seq, then event id, both descending). */
export interface ActivityPosition {
  seq: number;
  eventId: string;
}

export interface ActivityFilter {
  /** Absent only for the administrator's list across every account. */
  accountId?: string;
  bucket?: string;
  keyPrefix?: string;
  types?: DomainEventType[];
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

/** Every column of an activity row: a prepared insert names each (the rows of toActivityRow have them all). */
const ACTIVITY_ROW_FIELDS = [
  'eventId',
  'seq',
  'type',
  'time',
  'accountId',
  'actorKind',
  'actorId',
  'clientAddress',
  'bucket',
  'key',
  'size',
  'etag',
  'contentType',
  'versionId',
  'detail',
] as const satisfies readonly (keyof NewActivityRow)[];

const ACTIVITY_INSERT = preparedInsertValues(ACTIVITY_ROW_FIELDS, 'detail');

/** Rows per INSERT: 15 columns each stays far below either dialect's bound-parameter limit. */
const INSERT_CHUNK = 200;

export function createActivityRepository({ database }: { database: DatabaseHandle }) {
  const { activity } = database.tables;
  // Every write's event lands here: on SQLite one prepared single-row insert, run per row in the
  // batch's transaction, instead of a multi-row INSERT rebuilt by the query builder each batch.
  const insertOne = preparedOnSqlite(database, (db) =>
    db
      .insert(activity)
      .values(ACTIVITY_INSERT.placeholders as unknown as NewActivityRow)
      .onConflictDoNothing()
      .prepare(),
  );
  return {
    /** Inserts the rows in one transaction; a row whose event id is already stored is skipped. */
    insertIgnoringDuplicates(rows: NewActivityRow[]): Promise<void> {
      return database.transaction(async () => {
        if (insertOne) {
          await database.query(async (db) => {
            // A column a row leaves out is NULL, as in the multi-row insert (no activity column has a default).
            for (const row of rows) insertOne(db).run(ACTIVITY_INSERT.bind(row));
          });
          return;
        }
        for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
          const chunk = rows.slice(start, start + INSERT_CHUNK);
          await database.query(async (db) => db.insert(activity).values(chunk).onConflictDoNothing());
        }
      });
    },

    /** Up to `limit` rows matching `filter` after `after` (exclusive), newest (highest seq) first. */
    list(filter: ActivityFilter, options: { limit: number; after?: ActivityPosition }): Promise<ActivityRow[]> {
      const { after } = options;
      const prefix = filter.keyPrefix;
      const conditions: (SQL | undefined)[] = [
        filter.accountId === undefined ? undefined : eq(activity.accountId, filter.accountId),
        filter.bucket === undefined ? undefined : eq(activity.bucket, filter.bucket),
        // Not LIKE: it is case-insensitive and treats % and _ as wildcards. The `>=` bound lets the
        // (account, bucket, key) index start at the prefix; the dialect's exact prefix test decides
        // (not substr/length: SQLite's length() stops at a NUL, and PostgreSQL stores NUL escaped).
        prefix === undefined || prefix === '' ? undefined : and(gte(activity.key, prefix), database.sql.startsWith(activity.key, prefix)),
        filter.types === undefined ? undefined : inArray(activity.type, filter.types),
        filter.from === undefined ? undefined : gte(activity.time, filter.from),
        filter.to === undefined ? undefined : lt(activity.time, filter.to),
        after === undefined ? undefined : or(lt(activity.seq, after.seq), and(eq(activity.seq, after.seq), lt(activity.eventId, after.eventId))),
      ];
      return database.query(async (db) =>
        db
          .select()
          .from(activity)
          .where(and(...conditions))
          .orderBy(desc(activity.seq), desc(activity.eventId))
          .limit(options.limit),
      );
    },
  };
}
