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
  function table(keys: string[]) {
    const rows = keys.map((k) => ({ key: utf8(k) })).sort((a, b) => Buffer.compare(a.key, b.key));
    let calls = 0;
    let rowsRead = 0;
    const fetch = (cursor: ScanCursor<{ key: Buffer }>, upper: Buffer | undefined, limit: number) => {
      calls++;
      const out = rows
        .filter((r) => {
          const from = cursor.kind === 'key' ? cursor.key : cursor.row.key;
          const c = Buffer.compare(r.key, from);
          const lowerOk = cursor.kind === 'key' && cursor.inclusive ? c >= 0 : c > 0;
          return lowerOk && (!upper || Buffer.compare(r.key, upper) < 0);
        })
        .slice(0, limit);
      rowsRead += out.length;
      return out;
    };
    return { fetch, stats: () => ({ calls, rowsRead }) };
  }

  it('skips a huge common prefix with one query instead of reading its keys', () => {
    const keys = ['a', 'z'];
    for (let i = 0; i < 10_000; i++) keys.push(`big/${i}`);
    const { fetch, stats } = table(keys);
    const out = delimitedWalk({ prefix: Buffer.alloc(0), delimiter: utf8('/'), max: 1000, fetch });
    expect(out.rows.map((r) => r.key.toString())).toEqual(['a', 'z']);
    expect(out.commonPrefixes.map((p) => p.toString())).toEqual(['big/']);
    expect(out.isTruncated).toBe(false);
    expect(stats().calls).toBeLessThanOrEqual(3);
    expect(stats().rowsRead).toBeLessThan(1100);
  });

  it('reads at most max+1 rows without a delimiter', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    const { fetch, stats } = table(keys);
    const out = delimitedWalk({ prefix: utf8('k'), max: 100, marker: utf8('k00050'), fetch });
    expect(out.rows.length).toBe(100);
    expect(out.rows[0].key.toString()).toBe('k00051');
    expect(out.isTruncated).toBe(true);
    expect(out.last).toEqual({ kind: 'row', row: { key: utf8('k00150') } });
    expect(stats()).toEqual({ calls: 1, rowsRead: 101 });
  });

  it('returns nothing and is not truncated for max 0', () => {
    const { fetch, stats } = table(['a']);
    expect(delimitedWalk({ prefix: Buffer.alloc(0), max: 0, fetch })).toEqual({ rows: [], commonPrefixes: [], isTruncated: false });
    expect(stats().calls).toBe(0);
  });
});
