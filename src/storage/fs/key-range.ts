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

/**
 * Index operations (rows read + range scans started) a walk does before it lets the event loop
 * run other requests. A page costs at most about 2 × its entries (one row per entry plus one seek
 * per common prefix), so this splits a 1,000-entry page into a few sub-millisecond slices.
 */
export const WALK_BATCH = 256;

function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface DelimitedWalkOptions<R extends { key: Buffer }> {
  prefix: Buffer;
  delimiter?: Buffer;
  /** Exclusive marker (StartAfter / key-marker). Common prefixes at or before it are not repeated. */
  marker?: Buffer;
  /** Overrides the cursor derived from `marker` (e.g. key-marker + upload-id-marker). */
  initialCursor?: ScanCursor<R>;
  max: number;
  /**
   * Rows in table order starting at `cursor`, below `upper` (exclusive) when given, at most
   * `limit`, produced lazily: the walk pulls only the rows it uses and abandons the iterator (which
   * must then release its statement) as soon as it jumps past a common prefix or pauses.
   */
  scan(cursor: ScanCursor<R>, upper: Buffer | undefined, limit: number): Iterable<R>;
  /** Index operations between pauses (default WALK_BATCH). */
  batch?: number;
  /** Lets other work run between batches (default: the next setImmediate turn). */
  pause?: () => Promise<void>;
}

export interface DelimitedWalkResult<R> {
  rows: R[];
  commonPrefixes: Buffer[];
  isTruncated: boolean;
  last?: { kind: 'row'; row: R } | { kind: 'prefix'; prefix: Buffer };
}

/**
 * Walks rows in key order, rolling keys up into common prefixes. A common prefix is emitted once
 * and the scan then jumps past everything under it with one seek (key >= increment(CP)), reading
 * none of its other keys: a page of N entries reads at most N + 1 rows and starts at most
 * N + 1 scans (plus one per pause), whatever the folders hold. Scans are consumed lazily because
 * a prefetched batch would be wasted at every jump (fetching a page of rows per common prefix
 * made a 1,000-prefix page read a million rows). Every WALK_BATCH operations the walk closes its
 * scan and yields to the event loop, so no request holds it for long; the cursor makes resuming
 * exact, and writes landing in between are seen or not, as between pages.
 */
export async function delimitedWalk<R extends { key: Buffer }>(options: DelimitedWalkOptions<R>): Promise<DelimitedWalkResult<R>> {
  const { prefix, delimiter, marker, max } = options;
  const batch = Math.max(1, options.batch ?? WALK_BATCH);
  const pause = options.pause ?? nextTick;
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
  let work = 0;
  for (;;) {
    if (work >= batch) {
      // No scan is open here: other requests may use the same statements meanwhile.
      await pause();
      work = 0;
    }
    work++;
    let resume = false;
    for (const row of options.scan(cursor, upper, max - count + 1)) {
      work++;
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
        resume = true;
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
      if (work >= batch) {
        resume = true;
        break;
      }
    }
    // A scan that ran out without a jump or pause reached the end of the range: with its limit
    // of max - count + 1, a full one would have returned "truncated" above.
    if (!resume) return result;
  }
}
