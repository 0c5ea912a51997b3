import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCursor, decodeFileId, encodeCursor, encodeFileId } from './file-ids.ts';

describe('file ids and cursors', () => {
  it('round-trips bucket id and key, including keys with any characters', () => {
    const bucketId = randomUUID();
    for (const key of ['a', 'photos/cat.jpg', 'ünïcødé/文件.txt', 'spaces and %25 and ?#&', '/leading//double/', 'x'.repeat(1024)]) {
      const id = encodeFileId(bucketId, key);
      expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeFileId(id)).toEqual({ bucketId, key });
    }
  });

  it('gives the same object the same id and different objects different ids', () => {
    const bucketId = randomUUID();
    expect(encodeFileId(bucketId, 'a/b')).toBe(encodeFileId(bucketId, 'a/b'));
    expect(encodeFileId(bucketId, 'a/b')).not.toBe(encodeFileId(bucketId, 'a/c'));
    expect(encodeFileId(bucketId, 'a/b')).not.toBe(encodeFileId(randomUUID(), 'a/b'));
  });

  it('refuses ids it could not have produced', () => {
    const id = encodeFileId(randomUUID(), 'k');
    for (const bad of [
      '',
      'abc',
      `${id}=`,
      `${id}!`,
      id.slice(0, -1),
      Buffer.from([2, 1, 65, 66]).toString('base64url'),
      Buffer.from([1, 0, 65]).toString('base64url'),
      Buffer.from([1, 5, 65]).toString('base64url'),
      Buffer.from([1, 1, 65, 0xff]).toString('base64url'),
    ]) {
      expect(decodeFileId(bad), bad).toBeUndefined();
    }
  });

  it('encodes cursors canonically', () => {
    expect(decodeCursor(encodeCursor('photos/ü.jpg'))).toBe('photos/ü.jpg');
    for (const bad of ['', '***', 'YQ=', Buffer.from([0xff]).toString('base64url')]) expect(decodeCursor(bad), bad).toBeUndefined();
  });
});
