import { customType, timestamp } from 'drizzle-orm/pg-core';

/**
 * `text COLLATE "C"`: compares and orders byte-wise (code point order for UTF-8), as every SQLite
 * text column does (BINARY collation). A database's default collation (en_US.UTF-8, …) orders
 * 'a' before 'B' and ignores punctuation at first, which would change S3 listing order,
 * continuation tokens and prefix ranges between the two dialects. Also what lets a
 * `LIKE 'prefix%'` or range scan use a plain b-tree index.
 */
export const cText = customType<{ data: string; driverData: string }>({
  dataType: () => 'text COLLATE "C"',
});

/** An epoch-ms instant as a Date, like SQLite's `integer({ mode: 'timestamp_ms' })`: millisecond precision, UTC. */
export const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });
