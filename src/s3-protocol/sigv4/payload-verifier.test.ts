import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumOf } from '../../checksums/checksums.ts';
import { S3Error, type S3ErrorCode } from '../../errors/s3-errors.ts';
import { createPayloadVerifier, decodeChecksumValue, type PayloadVerifierOptions } from './payload-verifier.ts';

const DATA = randomBytes(1_000_003);
const SHA = createHash('sha256').update(DATA).digest('hex');

function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

/** Runs DATA (in 64 KiB pieces) through a verifier; resolves with what reached downstream. */
async function run(options: PayloadVerifierOptions, data = DATA, pieceSize = 65536) {
  const verifier = createPayloadVerifier(options);
  const received: Buffer[] = [];
  let error: unknown;
  try {
    await pipeline(Readable.from(pieces(data, pieceSize)), verifier, async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) received.push(c);
    });
  } catch (e) {
    error = e;
  }
  return { verifier, received: Buffer.concat(received), error };
}

function expectCode(error: unknown, code: S3ErrorCode) {
  expect(error).toBeInstanceOf(S3Error);
  expect((error as S3Error).code, (error as Error).message).toBe(code);
}

describe('createPayloadVerifier', () => {
  it('passes every byte through when the sha256 matches', async () => {
    const { received, error, verifier } = await run({ expectedSha256: SHA.toUpperCase(), expectedLength: DATA.length });
    expect(error).toBeUndefined();
    expect(received.equals(DATA)).toBe(true);
    expect(verifier.computedSha256).toBe(SHA);
    expect(verifier.receivedLength).toBe(DATA.length);
  });

  it('wrong sha256 → XAmzContentSHA256Mismatch and the last chunk never goes downstream', async () => {
    const { received, error } = await run({ expectedSha256: 'a'.repeat(64) });
    expectCode(error, 'XAmzContentSHA256Mismatch');
    expect((error as S3Error).details.S3ComputedContentSHA256).toBe(SHA);
    expect(received.length).toBeLessThan(DATA.length);
    expect(received.equals(DATA.subarray(0, received.length))).toBe(true);
  });

  it('holds back the last chunk even with a slow, length-aware consumer', async () => {
    // The consumer ends its own work as soon as it has seen `expected` bytes — like a remote
    // PUT with Content-Length. It must never get there when verification fails.
    const verifier = createPayloadVerifier({ expectedSha256: 'b'.repeat(64) });
    let total = 0;
    let completed = false;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        if (total === DATA.length) completed = true;
        setImmediate(cb);
      },
    });
    await expect(pipeline(Readable.from(pieces(DATA, 1000)), verifier, sink)).rejects.toThrow(S3Error);
    expect(completed).toBe(false);
    expect(total).toBeLessThanOrEqual(DATA.length - (DATA.length % 1000 || 1000));
  });

  it('a single-chunk body is withheld entirely on failure', async () => {
    const { received, error } = await run({ expectedSha256: 'c'.repeat(64) }, DATA.subarray(0, 100), 100);
    expectCode(error, 'XAmzContentSHA256Mismatch');
    expect(received.length).toBe(0);
  });

  it('empty chunks do not release the held bytes', async () => {
    const verifier = createPayloadVerifier({ expectedSha256: 'd'.repeat(64) });
    const received: Buffer[] = [];
    const source = Readable.from([DATA.subarray(0, 10), Buffer.alloc(0), Buffer.alloc(0)]);
    await expect(
      pipeline(source, verifier, async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) received.push(c);
      }),
    ).rejects.toThrow(S3Error);
    expect(Buffer.concat(received).length).toBe(0);
  });

  for (const algorithm of ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const) {
    it(`${algorithm}: verifies a header checksum and exposes the computed value`, async () => {
      const expected = checksumOf(algorithm, DATA).toString('base64');
      const ok = await run({ checksum: { algorithm, expected } });
      expect(ok.error).toBeUndefined();
      expect(ok.verifier.computedChecksum).toBe(expected);
      expect(ok.received.equals(DATA)).toBe(true);

      const wrong = checksumOf(algorithm, Buffer.from('other')).toString('base64');
      const bad = await run({ checksum: { algorithm, expected: wrong } });
      expectCode(bad.error, 'BadDigest');
      expect((bad.error as S3Error).message).toContain(algorithm);
      expect(bad.received.length).toBeLessThan(DATA.length);
    });
  }

  it('computes a checksum without an expected value', async () => {
    const { verifier, error } = await run({ checksum: { algorithm: 'CRC32' } });
    expect(error).toBeUndefined();
    expect(verifier.computedChecksum).toBe(checksumOf('CRC32', DATA).toString('base64'));
  });

  it('malformed checksum values → InvalidRequest, synchronously for headers', () => {
    for (const value of ['', 'AAAA', 'AAAAAAA=', '!!!!!!==', 'AAAAAAAAAAA=']) {
      try {
        createPayloadVerifier({ checksum: { algorithm: 'CRC32', expected: value } });
        throw new Error('accepted ' + value);
      } catch (error) {
        expectCode(error, 'InvalidRequest');
        expect((error as Error).message).toBe('Value for x-amz-checksum-crc32 header is invalid.');
      }
    }
    expect(decodeChecksumValue('SHA256', checksumOf('SHA256', DATA).toString('base64'))?.length).toBe(32);
    expect(decodeChecksumValue('SHA256', checksumOf('SHA1', DATA).toString('base64'))).toBeUndefined();
  });

  it('trailer checksums: verified at the end, malformed or missing → InvalidRequest', async () => {
    const crc = checksumOf('CRC32', DATA).toString('base64');
    expect((await run({ checksum: { algorithm: 'CRC32' }, trailerChecksum: () => crc })).error).toBeUndefined();
    expectCode((await run({ checksum: { algorithm: 'CRC32' }, trailerChecksum: () => 'AAAAAA==' })).error, 'BadDigest');
    expectCode((await run({ checksum: { algorithm: 'CRC32' }, trailerChecksum: () => 'nope' })).error, 'InvalidRequest');
    expectCode((await run({ checksum: { algorithm: 'CRC32' }, trailerChecksum: () => undefined })).error, 'InvalidRequest');
  });

  it('Content-MD5: verified, malformed → InvalidDigest, MD5 exposed', async () => {
    const md5 = createHash('md5').update(DATA).digest();
    const ok = await run({ contentMd5: md5.toString('base64') });
    expect(ok.error).toBeUndefined();
    expect(ok.verifier.computedMd5Hex).toBe(md5.toString('hex'));
    expectCode((await run({ contentMd5: createHash('md5').update('x').digest('base64') })).error, 'BadDigest');
    expect(() => createPayloadVerifier({ contentMd5: 'short' })).toThrow(S3Error);
    expect((await run({ computeMd5: true })).verifier.computedMd5Hex).toBe(md5.toString('hex'));
  });

  it('length: short or long bodies → IncompleteBody', async () => {
    expectCode((await run({ expectedLength: DATA.length + 1 })).error, 'IncompleteBody');
    const long = await run({ expectedLength: DATA.length - 1 });
    expectCode(long.error, 'IncompleteBody');
    expect(long.received.length).toBeLessThan(DATA.length);
  });

  // Throughput is measured by `npm run bench`, not asserted here.
  it('streams a large body through sha256 + crc32 in many chunks and passes every byte on', async () => {
    const block = randomBytes(1 << 20);
    const blocks = Array.from({ length: 64 }, () => block);
    const hash = createHash('sha256');
    for (const b of blocks) hash.update(b);
    const verifier = createPayloadVerifier({ expectedSha256: hash.digest('hex'), checksum: { algorithm: 'CRC32' }, expectedLength: 64 << 20 });
    let total = 0;
    await pipeline(Readable.from(blocks), verifier, async (s: AsyncIterable<Buffer>) => {
      for await (const c of s) total += c.length;
    });
    expect(total).toBe(64 << 20);
  });
});
