import { describe, expect, it } from 'vitest';
import { decodeVersionId, encodeVersionId } from './version-ids.ts';

describe('Time Machine version ids', () => {
  it('round-trip bucket id, key and S3 version id, for any key', () => {
    for (const key of ['docs/report.pdf', 'été/à z.bin', 'a'.repeat(1024)]) {
      const id = encodeVersionId('3f0c7a8e-bucket', key, 'null');
      expect(id).toMatch(/^ver_[A-Za-z0-9_-]+$/);
      expect(decodeVersionId(id)).toEqual({ bucketId: '3f0c7a8e-bucket', key, s3VersionId: 'null' });
    }
  });

  it('refuse anything encodeVersionId could not have produced', () => {
    const id = encodeVersionId('b', 'k', 'v1');
    for (const bad of ['', 'ver_', id.slice(4), `${id}=`, `${id.slice(0, -1)}*`, 'ver_AQ', `ver_${Buffer.from([2, 1, 98, 1, 118, 107]).toString('base64url')}`]) {
      expect(decodeVersionId(bad), bad).toBeUndefined();
    }
  });
});
