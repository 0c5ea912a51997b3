/**
 * Byte-wise key ranges and the delimiter-aware listing walk shared by ListObjects and
 * ListMultipartUploads. Keys are handled as UTF-8 bytes everywhere so that ordering is S3's
 * (UTF-8 binary order), never JavaScript's UTF-16 order.
 */

export function utf8(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

/**
 * The smallest byte string greater than every string that starts with `bytes`; undefined when
 * there is none (empty input or all 0xff), meaning "no upper bound".
 */
export function byteIncrement(bytes: Buffer): Buffer | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(bytes.subarray(0, end));
  out[end - 1] += 1;
  return out;
}

export function startsWith(value: Buffer, prefix: Buffer): boolean {
  return value.length >= prefix.length && value.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** The common prefix `key` rolls up into (prefix + … + first delimiter after the prefix), if any. */
export function commonPrefixOf(key: Buffer, prefix: Buffer, delimiter: Buffer | undefined): Buffer | undefined {
  if (!delimiter || delimiter.length === 0) return undefined;
  const index = key.indexOf(delimiter, prefix.length);
  if (index < 0) return undefined;
  return key.subarray(0, index + delimiter.length);
}

/** Where a scan resumes: at/after a key, or strictly after a previously returned row. */
export type ScanCursor<R> = { kind: 'key'; key: Buffer; inclusive: boolean } | { kind: 'row'; row: R };

export interface DelimitedWalkOptions<R extends { key: Buffer }> {
  prefix: Buffer;
  delimiter?: Buffer;
  /** Exclusive marker (StartAfter / key-marker). Common prefixes at or before it are not repeated. */
  marker?: Buffer;
  /** Overrides the cursor derived from `marker` (e.g. key-marker + upload-id-marker). */
  initialCursor?: ScanCursor<R>;
  max: number;
  /** Rows in table order starting at `cursor`, below `upper` (exclusive) when given, at most `limit`. */
  fetch(cursor: ScanCursor<R>, upper: Buffer | undefined, limit: number): R[];
}

export interface DelimitedWalkResult<R> {
  rows: R[];
  commonPrefixes: Buffer[];
  isTruncated: boolean;
  last?: { kind: 'row'; row: R } | { kind: 'prefix'; prefix: Buffer };
}

/**
 * Walks rows in key order, rolling keys up into common prefixes. A common prefix is emitted once
 * and the scan then jumps past everything under it with one range query (key >= increment(CP)),
 * so a folder with millions of keys costs one query, not a scan.
 */
export function delimitedWalk<R extends { key: Buffer }>(options: DelimitedWalkOptions<R>): DelimitedWalkResult<R> {
  const { prefix, delimiter, marker, max } = options;
  const result: DelimitedWalkResult<R> = { rows: [], commonPrefixes: [], isTruncated: false };
  if (max <= 0) return result;
  const upper = byteIncrement(prefix);
  const hasDelimiter = delimiter !== undefined && delimiter.length > 0;

  const skipPrefix = (cp: Buffer) => marker !== undefined && (cp.compare(marker) <= 0 || startsWith(marker, cp));

  let cursor: ScanCursor<R> | undefined = options.initialCursor;
  if (!cursor) {
    if (marker !== undefined && marker.compare(prefix) >= 0) {
      cursor = { kind: 'key', key: marker, inclusive: false };
      // A marker inside a common prefix: that prefix was already returned, resume after it.
      const cp = startsWith(marker, prefix) ? commonPrefixOf(marker, prefix, delimiter) : undefined;
      if (cp) {
        const next = byteIncrement(cp);
        if (!next) return result;
        cursor = { kind: 'key', key: next, inclusive: true };
      }
    } else {
      cursor = { kind: 'key', key: prefix, inclusive: true };
    }
  }

  let count = 0;
  for (;;) {
    const limit = max - count + 1;
    const rows = options.fetch(cursor, upper, limit);
    let jumped = false;
    for (const row of rows) {
      const cp = hasDelimiter ? commonPrefixOf(row.key, prefix, delimiter) : undefined;
      if (cp) {
        if (!skipPrefix(cp)) {
          if (count === max) {
            result.isTruncated = true;
            return result;
          }
          result.commonPrefixes.push(Buffer.from(cp));
          result.last = { kind: 'prefix', prefix: Buffer.from(cp) };
          count++;
        }
        const next = byteIncrement(cp);
        if (!next) return result;
        cursor = { kind: 'key', key: next, inclusive: true };
        jumped = true;
        break;
      }
      if (count === max) {
        result.isTruncated = true;
        return result;
      }
      result.rows.push(row);
      result.last = { kind: 'row', row };
      count++;
      cursor = { kind: 'row', row };
    }
    if (!jumped && rows.length < limit) return result;
  }
}
