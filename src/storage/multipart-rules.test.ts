import { describe, expect, it } from 'vitest';
import { compositeChecksum } from '../checksums/checksums.ts';
import { S3Error } from '../errors/s3-errors.ts';
import {
  MAX_PART_NUMBER,
  MIN_PART_SIZE,
  checkPartNumber,
  clampListMax,
  completedChecksum,
  compareKeys,
  multipartEtag,
  pageOfUploads,
  sameEtag,
  sortUploads,
  validateCompletion,
  type StoredPart,
} from './multipart-rules.ts';

const MiB = 1024 * 1024;
const etag = (n: number) => `"${n.toString(16).padStart(32, '0')}"`;
const part = (partNumber: number, size: number, extra: Partial<StoredPart> = {}): StoredPart => ({ partNumber, etag: etag(partNumber), size, ...extra });

function s3Code(run: () => unknown): { code: string; details?: Record<string, string> } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    return { code: (error as S3Error).code, details: (error as S3Error).details };
  }
  throw new Error('expected an S3Error');
}

describe('validateCompletion', () => {
  const stored = [part(1, 5 * MiB), part(2, 1 * MiB), part(3, 10)];

  it('returns the stored parts in the requested order, the last one may be small', () => {
    const used = validateCompletion(
      [
        { partNumber: 1, etag: etag(1) },
        { partNumber: 3, etag: etag(3) },
      ],
      stored,
    );
    expect(used.map((p) => p.partNumber)).toEqual([1, 3]);
  });

  it('refuses an empty part list as MalformedXML', () => {
    expect(s3Code(() => validateCompletion([], stored)).code).toBe('MalformedXML');
  });

  it("checks in S3's order: InvalidPartOrder before InvalidPart before EntityTooSmall", () => {
    // Unordered AND an unknown part AND a small part: order wins.
    expect(
      s3Code(() =>
        validateCompletion(
          [
            { partNumber: 2, etag: etag(2) },
            { partNumber: 9, etag: etag(9) },
            { partNumber: 1, etag: 'x' },
          ],
          stored,
        ),
      ).code,
    ).toBe('InvalidPartOrder');
    // A repeated number is out of order too.
    expect(
      s3Code(() =>
        validateCompletion(
          [
            { partNumber: 1, etag: etag(1) },
            { partNumber: 1, etag: etag(1) },
          ],
          stored,
        ),
      ).code,
    ).toBe('InvalidPartOrder');
    // Ordered, but part 2 is too small for a non-last part and part 9 was never uploaded: InvalidPart.
    const invalid = s3Code(() =>
      validateCompletion(
        [
          { partNumber: 2, etag: etag(2) },
          { partNumber: 9, etag: etag(9) },
        ],
        stored,
      ),
    );
    expect(invalid).toEqual({ code: 'InvalidPart', details: { PartNumber: '9', ETag: etag(9) } });
    const small = s3Code(() =>
      validateCompletion(
        [
          { partNumber: 2, etag: etag(2) },
          { partNumber: 3, etag: etag(3) },
        ],
        stored,
      ),
    );
    expect(small).toEqual({ code: 'EntityTooSmall', details: { PartNumber: '2', ETag: etag(2), ProposedSize: String(MiB), MinSizeAllowed: String(MIN_PART_SIZE) } });
  });

  it('honours a smaller configured minimum', () => {
    expect(
      validateCompletion(
        [
          { partNumber: 2, etag: etag(2) },
          { partNumber: 3, etag: etag(3) },
        ],
        stored,
        MiB,
      ),
    ).toHaveLength(2);
  });

  it('matches ETags quoted or not, in either case, and refuses another ETag', () => {
    const bare = etag(1).slice(1, -1);
    expect(validateCompletion([{ partNumber: 1, etag: bare }], stored)).toHaveLength(1);
    expect(validateCompletion([{ partNumber: 1, etag: ` "${bare.toUpperCase()}" ` }], stored)).toHaveLength(1);
    expect(s3Code(() => validateCompletion([{ partNumber: 1, etag: etag(2) }], stored)).code).toBe('InvalidPart');
  });

  it('refuses a part whose stated checksum differs from the stored one', () => {
    const withChecksum = [part(1, 10, { checksum: { algorithm: 'CRC32', value: 'AAAAAA==', type: 'FULL_OBJECT' } })];
    expect(validateCompletion([{ partNumber: 1, etag: etag(1), checksum: 'AAAAAA==' }], withChecksum)).toHaveLength(1);
    expect(s3Code(() => validateCompletion([{ partNumber: 1, etag: etag(1), checksum: 'BBBBBB==' }], withChecksum))).toEqual({ code: 'InvalidPart', details: { PartNumber: '1' } });
  });
});

describe('part numbers, sizes and ETags', () => {
  it('accepts part numbers 1..10000 only', () => {
    expect(() => checkPartNumber(1)).not.toThrow();
    expect(() => checkPartNumber(MAX_PART_NUMBER)).not.toThrow();
    for (const bad of [0, -1, 10_001, 1.5, Number.NaN]) expect(s3Code(() => checkPartNumber(bad)).code).toBe('InvalidArgument');
  });

  it('clamps page sizes to 0..1000', () => {
    expect([clampListMax(-5), clampListMax(7.9), clampListMax(5000), clampListMax(Number.NaN)]).toEqual([0, 7, 1000, 1000]);
  });

  it('computes the multipart ETag from the binary part MD5s', () => {
    // AWS's documented example: the ETag of a one-part upload of an empty part.
    expect(multipartEtag([{ etag: '"d41d8cd98f00b204e9800998ecf8427e"' }])).toBe('"59adb24ef3cdbe0297f05b395827453f-1"');
    expect(sameEtag('"ABC"', 'abc')).toBe(true);
  });

  it('forms a composite checksum only when every part has one of the declared algorithm', () => {
    const crc = (value: string) => ({ algorithm: 'CRC32' as const, value, type: 'FULL_OBJECT' as const });
    const parts = [part(1, 1, { checksum: crc('AAAAAA==') }), part(2, 1, { checksum: crc('AAAAAQ==') })];
    expect(completedChecksum('CRC32', parts)).toEqual({ algorithm: 'CRC32', value: compositeChecksum('CRC32', ['AAAAAA==', 'AAAAAQ==']), type: 'COMPOSITE' });
    expect(completedChecksum(undefined, parts)).toBeUndefined();
    expect(completedChecksum('SHA256', parts)).toBeUndefined();
    expect(completedChecksum('CRC32', [parts[0]!, part(3, 1)])).toBeUndefined();
  });
});

describe('multipart upload listing order and markers', () => {
  const up = (key: string, uploadId: string) => ({ key, uploadId, initiated: new Date(0) });
  // '\u{1F600}' sorts after '\uFFFD' in UTF-8 bytes, before it in UTF-16 units.
  const all = sortUploads([up('b', 'b1'), up('a/2', 'a2'), up('\u{1F600}', 'e1'), up('a/1', 'a1'), up('\uFFFD', 'f1'), up('b', 'b2'), up('c', 'c1')]);

  it('sorts by key bytes, uploads of one key kept in initiation order', () => {
    expect(all.map((u) => u.uploadId)).toEqual(['a1', 'a2', 'b1', 'b2', 'c1', 'f1', 'e1']);
    expect(compareKeys('\uFFFD', '\u{1F600}')).toBeLessThan(0);
  });

  it('pages with next markers, resuming after an upload id or after a whole key', () => {
    const first = pageOfUploads(all, { bucket: 'x', maxUploads: 3 });
    expect(first).toMatchObject({ isTruncated: true, nextKeyMarker: 'b', nextUploadIdMarker: 'b1' });
    expect(first.uploads.map((u) => u.uploadId)).toEqual(['a1', 'a2', 'b1']);
    const second = pageOfUploads(all, { bucket: 'x', maxUploads: 3, keyMarker: 'b', uploadIdMarker: 'b1' });
    expect(second.uploads.map((u) => u.uploadId)).toEqual(['b2', 'c1', 'f1']);
    // A key marker alone skips every upload of that key.
    expect(pageOfUploads(all, { bucket: 'x', maxUploads: 10, keyMarker: 'b' }).uploads.map((u) => u.uploadId)).toEqual(['c1', 'f1', 'e1']);
  });

  it('rolls keys up to common prefixes with a delimiter, skipping a prefix the marker is inside', () => {
    const page = pageOfUploads(all, { bucket: 'x', maxUploads: 2, delimiter: '/' });
    expect(page).toMatchObject({ commonPrefixes: ['a/'], isTruncated: true, nextKeyMarker: 'b', nextUploadIdMarker: 'b1' });
    const after = pageOfUploads(all, { bucket: 'x', maxUploads: 10, delimiter: '/', keyMarker: 'a/1' });
    expect(after.commonPrefixes).toEqual([]);
    expect(after.uploads.map((u) => u.uploadId)).toEqual(['b1', 'b2', 'c1', 'f1', 'e1']);
    expect(pageOfUploads(all, { bucket: 'x', maxUploads: 10, prefix: 'a/' }).uploads.map((u) => u.key)).toEqual(['a/1', 'a/2']);
  });
});
