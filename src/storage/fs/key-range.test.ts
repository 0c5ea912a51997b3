import { describe, expect, it } from 'vitest';
import { byteIncrement, commonPrefixOf, delimitedWalk, utf8, type ScanCursor } from './key-range.ts';

describe('byteIncrement', () => {
  it('returns the smallest string above every extension of the input', () => {
    expect(byteIncrement(utf8('a/'))).toEqual(utf8('a0'));
    expect(byteIncrement(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(byteIncrement(Buffer.from([0xff]))).toBeUndefined();
    expect(byteIncrement(Buffer.alloc(0))).toBeUndefined();
    // Multi-byte UTF-8: increments the last byte, staying above every key with that prefix.
    const e = utf8('é'); // c3 a9
    expect(byteIncrement(e)).toEqual(Buffer.from([0xc3, 0xaa]));
  });
});

describe('commonPrefixOf', () => {
  it('finds the first delimiter after the prefix', () => {
    expect(commonPrefixOf(utf8('a/b/c'), utf8('a/'), utf8('/'))?.toString()).toBe('a/b/');
    expect(commonPrefixOf(utf8('a/b'), utf8('a/'), utf8('/'))).toBeUndefined();
    expect(commonPrefixOf(utf8('a/b'), utf8(''), undefined)).toBeUndefined();
    expect(commonPrefixOf(utf8('x--y--z'), utf8('x'), utf8('--'))?.toString()).toBe('x--');
  });
});

describe('delimitedWalk', () => {
  /**
   * An in-memory table whose scans are lazy like the SQLite ones: it counts rows actually pulled,
   * scans started, and scans still open (a pause with an open scan would let another request hit
   * a busy statement).
   */
  function table(keys: (string | Buffer)[]) {
    const rows = keys.map((k) => ({ key: typeof k === 'string' ? utf8(k) : k })).sort((a, b) => Buffer.compare(a.key, b.key));
    let calls = 0;
    let rowsRead = 0;
    let open = 0;
    function* scan(cursor: ScanCursor<{ key: Buffer }>, upper: Buffer | undefined, limit: number) {
      calls++;
      open++;
      try {
        const from = cursor.kind === 'key' ? cursor.key : cursor.row.key;
        let emitted = 0;
        for (const r of rows) {
          if (emitted >= limit) return;
          const c = Buffer.compare(r.key, from);
          if (cursor.kind === 'key' && cursor.inclusive ? c < 0 : c <= 0) continue;
          if (upper && Buffer.compare(r.key, upper) >= 0) return;
          rowsRead++;
          emitted++;
          yield r;
        }
      } finally {
        open--;
      }
    }
    return { scan, stats: () => ({ calls, rowsRead }), open: () => open };
  }

  it('skips a huge common prefix with one seek instead of reading its keys', async () => {
    const keys = ['a', 'z'];
    for (let i = 0; i < 10_000; i++) keys.push(`big/${i}`);
    const { scan, stats } = table(keys);
    const out = await delimitedWalk({ prefix: Buffer.alloc(0), delimiter: utf8('/'), max: 1000, scan });
    expect(out.rows.map((r) => r.key.toString())).toEqual(['a', 'z']);
    expect(out.commonPrefixes.map((p) => p.toString())).toEqual(['big/']);
    expect(out.isTruncated).toBe(false);
    expect(stats()).toEqual({ calls: 2, rowsRead: 3 }); // a, big/0 (then a seek past big/), z
  });

  it('reads one row per common prefix: a 1,000-prefix page costs O(entries), not entries × page size', async () => {
    // 2,000 folders of 5 keys: before lazy scans every prefix fetched up to a page (1,001 rows).
    const keys: string[] = [];
    for (let p = 0; p < 2000; p++) for (let k = 0; k < 5; k++) keys.push(`d${String(p).padStart(4, '0')}/${k}`);
    const { scan, stats } = table(keys);
    const out = await delimitedWalk({ prefix: Buffer.alloc(0), delimiter: utf8('/'), max: 1000, scan, pause: async () => {} });
    expect(out.commonPrefixes.length).toBe(1000);
    expect(out.commonPrefixes[999].toString()).toBe('d0999/');
    expect(out.isTruncated).toBe(true);
    // 1,000 entries + the row that shows truncation; one seek per prefix, plus one per pause.
    expect(stats().rowsRead).toBe(1001);
    expect(stats().calls).toBeLessThanOrEqual(1001 + Math.ceil(2002 / 256));
  });

  it('reads at most max+1 rows without a delimiter', async () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    const { scan, stats } = table(keys);
    const out = await delimitedWalk({ prefix: utf8('k'), max: 100, marker: utf8('k00050'), scan });
    expect(out.rows.length).toBe(100);
    expect(out.rows[0].key.toString()).toBe('k00051');
    expect(out.isTruncated).toBe(true);
    expect(out.last).toEqual({ kind: 'row', row: { key: utf8('k00150') } });
    expect(stats()).toEqual({ calls: 1, rowsRead: 101 });
  });

  it('pauses between batches with no scan open, and resumes exactly', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 300; i++) keys.push(`f${String(i).padStart(3, '0')}`, `g${String(i).padStart(3, '0')}/x`, `g${String(i).padStart(3, '0')}/y`);
    const { scan, open } = table(keys);
    let pauses = 0;
    const pause = async () => {
      expect(open()).toBe(0);
      pauses++;
    };
    const out = await delimitedWalk({ prefix: Buffer.alloc(0), delimiter: utf8('/'), max: 1000, scan, batch: 10, pause });
    expect(out.rows.map((r) => r.key.toString())).toEqual(keys.filter((k) => k.startsWith('f')));
    expect(out.commonPrefixes.map((p) => p.toString())).toEqual(keys.filter((k) => k.endsWith('/x')).map((k) => k.slice(0, 5)));
    expect(out.isTruncated).toBe(false);
    expect(pauses).toBeGreaterThan(50);
    expect(open()).toBe(0);
  });

  it('ends the walk at a common prefix with no successor (all 0xff bytes)', async () => {
    const ff = (...bytes: number[]) => Buffer.from(bytes);
    const { scan, open } = table([utf8('a'), ff(0x61, 0xff, 0x01), ff(0x61, 0xff, 0x02), ff(0x62), ff(0xff, 0xff, 0x01), ff(0xff, 0xff, 0xff)]);
    const out = await delimitedWalk({ prefix: Buffer.alloc(0), delimiter: ff(0xff), max: 1000, scan });
    expect(out.rows.map((r) => r.key)).toEqual([utf8('a'), ff(0x62)]);
    // a\xff jumps to `b` (0x61 0xff → 0x62); \xff has no successor, so nothing can follow it.
    expect(out.commonPrefixes).toEqual([ff(0x61, 0xff), ff(0xff)]);
    expect(out.isTruncated).toBe(false);
    expect(open()).toBe(0);
    // Under a prefix of 0xff bytes: no upper bound, and the walk still stops.
    const under = await delimitedWalk({ prefix: ff(0xff), delimiter: ff(0xff), max: 1000, scan });
    expect(under.commonPrefixes).toEqual([ff(0xff, 0xff)]);
    expect(under.rows).toEqual([]);
  });

  it('returns nothing and is not truncated for max 0', async () => {
    const { scan, stats } = table(['a']);
    expect(await delimitedWalk({ prefix: Buffer.alloc(0), max: 0, scan })).toEqual({ rows: [], commonPrefixes: [], isTruncated: false });
    expect(stats().calls).toBe(0);
  });
});
