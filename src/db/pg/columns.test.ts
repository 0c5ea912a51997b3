import { describe, expect, test } from 'vitest';
import { escapeText, unescapeText } from './columns.ts';

/** The U+0000 escape of PostgreSQL text columns: byte order and prefixes must agree with the unescaped strings (as SQLite compares them). */

/** Every string of up to `length` characters over a small alphabet holding the escape's own characters (156 for 3). */
function strings(length: number): string[] {
  const alphabet = ['\u0000', '\u0001', '\u0002', 'a', '\\'];
  const all = [''];
  let level = [''];
  for (let size = 1; size <= length; size++) {
    level = level.flatMap((shorter) => alphabet.map((char) => shorter + char));
    all.push(...level);
  }
  return all;
}

const all = strings(3);
const compare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('escapeText', () => {
  test('leaves ordinary strings (backslashes, unicode) as they are', () => {
    for (const text of ['', 'a/b', 'dir\\\\sub', 'été 😀', '%_']) expect(escapeText(text)).toBe(text);
  });

  test('holds no U+0000, and round-trips', () => {
    for (const text of all) {
      expect(escapeText(text).includes('\u0000')).toBe(false);
      expect(unescapeText(escapeText(text))).toBe(text);
    }
  });

  test('keeps byte order and prefixes', () => {
    for (const a of all) {
      for (const b of all) {
        expect(Math.sign(compare(escapeText(a), escapeText(b)))).toBe(Math.sign(compare(a, b)));
        expect(escapeText(a).startsWith(escapeText(b))).toBe(a.startsWith(b));
      }
    }
  });
});
