import * as activitySchema from './activity.schema.ts';
import * as schema from './schema.ts';
import * as sharesSchema from './shares.schema.ts';
import * as versionsSchema from './versions.schema.ts';

/** Every table of the metadata database on PostgreSQL, under the same names as `sqliteTables` (database.ts). */
export const pgTables = { ...schema, ...activitySchema, ...sharesSchema, ...versionsSchema };
export type PgTables = typeof pgTables;
