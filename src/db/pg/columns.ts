import { customType, timestamp } from 'drizzle-orm/pg-core';

/**
 * PostgreSQL text cannot hold U+0000, which SQLite text can: object keys are whatever a client
 * sent, and the object ACL store's own pseudo keys (`uploadAclKey`, `heldAclKey`) start with NUL.
 * So values are escaped on the way in and unescaped on the way out, with U+0001 as the escape:
 * U+0000 → U+0001 U+0001, U+0001 → U+0001 U+0002. Every other string (backslashes included) is
 * stored as is, so raw SQL comparing with ordinary values still matches. The code is prefix-free
 * and order-preserving (U+0001 U+0001 < U+0001 U+0002 < U+0002 < …): byte-wise order, equality
 * and prefix tests on escaped values agree with those on the originals, as on SQLite.
 */
export function escapeText(value: string): string {
  if (!value.includes('\u0000') && !value.includes('\u0001')) return value;
  // U+0001 first: the escapes written for U+0000 must not be escaped again.
  return value.replaceAll('\u0001', '\u0001\u0002').replaceAll('\u0000', '\u0001\u0001');
}

export function unescapeText(value: string): string {
  if (!value.includes('\u0001')) return value;
  let text = '';
  for (let at = 0; at < value.length; at++) {
    const char = value[at];
    if (char !== '\u0001') text += char;
    else text += value[++at] === '\u0001' ? '\u0000' : '\u0001';
  }
  return text;
}

/**
 * `text COLLATE "C"`: compares and orders byte-wise (code point order for UTF-8), as every SQLite
 * text column does (BINARY collation). A database's default collation (en_US.UTF-8, …) orders
 * 'a' before 'B' and ignores punctuation at first, which would change S3 listing order,
 * continuation tokens and prefix ranges between the two dialects. Also what lets a
 * `LIKE 'prefix%'` or range scan use a plain b-tree index. Values may hold U+0000 (`escapeText`);
 * raw SQL that binds a value for such a column must escape it the same way.
 */
export const cText = customType<{ data: string; driverData: string }>({
  dataType: () => 'text COLLATE "C"',
  toDriver: escapeText,
  fromDriver: unescapeText,
});

/** `map` applied to every string of a JSON value, object keys included. */
function mapJsonStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapJsonStrings(item, map));
  // What JSON.stringify would write for it (a Date becomes its ISO string).
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return mapJsonStrings((value as { toJSON(): unknown }).toJSON(), map);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [map(key), mapJsonStrings(item, map)]));
  return value;
}

/**
 * `jsonb` whose strings may hold U+0000 (jsonb refuses `\u0000`; SQLite's JSON text keeps it):
 * event details carry names clients chose. Strings are escaped as `escapeText` does; nothing
 * queries inside these documents, so the escape stays invisible to SQL.
 */
export const cJsonb = customType<{ data: unknown; driverData: unknown }>({
  dataType: () => 'jsonb',
  toDriver: (value) => JSON.stringify(mapJsonStrings(value, escapeText)),
  // node-postgres parses jsonb itself; a string would be the document's text.
  fromDriver: (value) => mapJsonStrings(typeof value === 'string' ? JSON.parse(value) : value, unescapeText),
});

/** An epoch-ms instant as a Date, like SQLite's `integer({ mode: 'timestamp_ms' })`: millisecond precision, UTC. */
export const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });
