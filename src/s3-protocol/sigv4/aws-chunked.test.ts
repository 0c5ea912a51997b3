import { describe, expect, it } from 'vitest';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { S3Error, type S3ErrorCode } from '../../errors/s3-errors.ts';
import { awsChunkedOptionsFor, createAwsChunkedDecoder, type AwsChunkedDecoderOptions } from './aws-chunked.ts';
import { createPayloadVerifier } from './payload-verifier.ts';
import { deriveSigningKey } from './signing-key-cache.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const AMZ_DATE = '20130524T000000Z';
const SCOPE = '20130524/us-east-1/s3/aws4_request';
const SIGNING_KEY = deriveSigningKey(SECRET, '20130524', 'us-east-1', 's3');
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const EMPTY_SHA = createHash('sha256').update('').digest('hex');

/** The body of AWS's "PUT Object" chunked-upload example, with its published signatures. */
function awsExampleBody(): Buffer {
  return Buffer.concat([
    Buffer.from('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'),
    Buffer.alloc(65536, 'a'),
    Buffer.from('\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'),
    Buffer.alloc(1024, 'a'),
    Buffer.from('\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'),
  ]);
}

const EXAMPLE_OPTIONS: AwsChunkedDecoderOptions = {
  mode: 'signed',
  signingKey: SIGNING_KEY,
  seedSignature: SEED,
  amzDate: AMZ_DATE,
  scope: SCOPE,
  decodedContentLength: 66560,
};

/** Splits `data` into pieces of random sizes in [min, max]. */
function randomPieces(data: Buffer, min: number, max: number, seed = 1): Buffer[] {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = Math.min(data.length - i, min + Math.floor(random() * (max - min + 1)));
    pieces.push(Buffer.from(data.subarray(i, i + n)));
    i += n;
  }
  return pieces;
}

async function decode(stream: Transform, pieces: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

async function expectFailure(promise: Promise<unknown>, code: S3ErrorCode): Promise<S3Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code, (error as Error).message).toBe(code);
    return error as S3Error;
  }
  throw new Error(`expected ${code}`);
}

function hmacHex(data: string): string {
  return createHmac('sha256', SIGNING_KEY).update(data).digest('hex');
}

/** Independent encoder for the tests: signed chunks, optional (signed) trailers. */
function encode(
  chunks: Buffer[],
  options: {
    signed: boolean;
    trailers?: [string, string][];
    signTrailers?: boolean;
    trailerSignature?: (real: string) => string;
  },
): Buffer {
  const parts: Buffer[] = [];
  let previous = SEED;
  for (const chunk of [...chunks, Buffer.alloc(0)]) {
    if (options.signed) {
      previous = hmacHex(['AWS4-HMAC-SHA256-PAYLOAD', AMZ_DATE, SCOPE, previous, EMPTY_SHA, createHash('sha256').update(chunk).digest('hex')].join('\n'));
      parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`));
    } else {
      parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`));
    }
    if (chunk.length > 0) parts.push(chunk, Buffer.from('\r\n'));
  }
  for (const [name, value] of options.trailers ?? []) parts.push(Buffer.from(`${name}:${value}\r\n`));
  if (options.signTrailers) {
    const canonical = [...(options.trailers ?? [])]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([n, v]) => `${n}:${v}\n`)
      .join('');
    const real = hmacHex(['AWS4-HMAC-SHA256-TRAILER', AMZ_DATE, SCOPE, previous, createHash('sha256').update(canonical).digest('hex')].join('\n'));
    parts.push(Buffer.from(`x-amz-trailer-signature:${options.trailerSignature ? options.trailerSignature(real) : real}\r\n`));
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

function crc32Base64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data) >>> 0);
  return out.toString('base64');
}

// ---------------------------------------------------------------------------------------------

describe('AWS chunked upload example', () => {
  it('decodes the published body and accepts its chunk signatures', async () => {
    const body = awsExampleBody();
    expect(body.length).toBe(66824); // Content-Length of the example
    const decoder = createAwsChunkedDecoder(EXAMPLE_OPTIONS);
    const out = await decode(decoder, [body]);
    expect(out.equals(Buffer.alloc(66560, 'a'))).toBe(true);
    expect(decoder.decodedLength).toBe(66560);
    expect(decoder.trailers).toEqual({});
  });

  it('gives identical output for random 1–17 byte writes and for 1-byte writes', async () => {
    const body = awsExampleBody();
    for (const seed of [1, 2, 3]) {
      const out = await decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), randomPieces(body, 1, 17, seed));
      expect(out.equals(Buffer.alloc(66560, 'a'))).toBe(true);
    }
    const ones = await decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), randomPieces(body, 1, 1));
    expect(ones.length).toBe(66560);
  });

  it('rejects one flipped data byte in either chunk', async () => {
    for (const offset of [88 + 100, 88 + 65536 + 2 + 86 + 5]) {
      const body = awsExampleBody();
      expect(body[offset]).toBe(0x61);
      body[offset] = 0x62;
      await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), randomPieces(body, 1000, 9000)), 'SignatureDoesNotMatch');
    }
  });

  it('rejects a wrong seed, a wrong chunk signature and a wrong final signature', async () => {
    await expectFailure(decode(createAwsChunkedDecoder({ ...EXAMPLE_OPTIONS, seedSignature: 'f'.repeat(64) }), [awsExampleBody()]), 'SignatureDoesNotMatch');
    const text = awsExampleBody().toString('latin1');
    for (const sig of ['ad80c730', '0055627c', 'b6c6ea8a']) {
      const tampered = Buffer.from(text.replace(sig, '00000000'), 'latin1');
      await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [tampered]), 'SignatureDoesNotMatch');
    }
    // Signature missing altogether.
    const unsigned = Buffer.from(text.replace(';chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', ''), 'latin1');
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [unsigned]), 'InvalidRequest');
  });

  it('streams chunk data before the chunk is complete', async () => {
    const decoder = createAwsChunkedDecoder(EXAMPLE_OPTIONS);
    const seen: number[] = [];
    decoder.on('data', (d: Buffer) => seen.push(d.length));
    const body = awsExampleBody();
    await new Promise<void>((resolve) => decoder.write(body.subarray(0, 88 + 30_000), () => resolve()));
    expect(seen.reduce((a, b) => a + b, 0)).toBe(30_000);
    decoder.destroy();
  });
});

describe('framing errors', () => {
  const body = awsExampleBody();

  it('truncated bodies → IncompleteBody', async () => {
    for (const cut of [10, 88, 1000, 65624, body.length - 2, body.length - 1]) {
      await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [body.subarray(0, cut)]), 'IncompleteBody');
    }
  });

  it('decoded length different from x-amz-decoded-content-length → IncompleteBody', async () => {
    await expectFailure(decode(createAwsChunkedDecoder({ ...EXAMPLE_OPTIONS, decodedContentLength: 66561 }), [body]), 'IncompleteBody');
    await expectFailure(decode(createAwsChunkedDecoder({ ...EXAMPLE_OPTIONS, decodedContentLength: 1000 }), [body]), 'IncompleteBody');
  });

  it('data longer than its declared chunk size → IncompleteBody', async () => {
    const text = body.toString('latin1').replace('10000;', 'ffff;');
    await expectFailure(decode(createAwsChunkedDecoder({ ...EXAMPLE_OPTIONS, decodedContentLength: undefined }), [Buffer.from(text, 'latin1')]), 'IncompleteBody');
  });

  it('garbage, oversized lines, bytes after the end → InvalidRequest', async () => {
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [Buffer.from('zz;chunk-signature=x\r\n')]), 'InvalidRequest');
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [Buffer.from('10\n')]), 'InvalidRequest');
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), randomPieces(Buffer.alloc(100_000, 'x'), 100, 1000)), 'InvalidRequest');
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [body, Buffer.from('x')]), 'InvalidRequest');
    // Trailers are not allowed on a plain signed stream.
    const withTrailer = Buffer.concat([body.subarray(0, body.length - 2), Buffer.from('x-amz-checksum-crc32:AAAAAA==\r\n\r\n')]);
    await expectFailure(decode(createAwsChunkedDecoder(EXAMPLE_OPTIONS), [withTrailer]), 'InvalidRequest');
  });
});

describe('unsigned payload with a checksum trailer', () => {
  const payload = randomBytes(200_000);
  const chunks = [payload.subarray(0, 65536), payload.subarray(65536, 131072), payload.subarray(131072)];

  it('decodes, exposes the trailer and the verifier checks it', async () => {
    const crc = crc32Base64(payload);
    const body = encode(chunks, { signed: false, trailers: [['x-amz-checksum-crc32', crc]] });
    const decoder = createAwsChunkedDecoder({ mode: 'unsigned-trailer', decodedContentLength: payload.length, expectTrailer: ['x-amz-checksum-crc32'] });
    const verifier = createPayloadVerifier({
      checksum: { algorithm: 'CRC32' },
      trailerChecksum: () => decoder.trailers['x-amz-checksum-crc32'],
      expectedLength: payload.length,
    });
    const out: Buffer[] = [];
    await pipeline(Readable.from(randomPieces(body, 1, 5000)), decoder, verifier, async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) out.push(c);
    });
    expect(Buffer.concat(out).equals(payload)).toBe(true);
    expect(decoder.trailers).toEqual({ 'x-amz-checksum-crc32': crc });
    expect(verifier.computedChecksum).toBe(crc);
  });

  it('a wrong trailer checksum → BadDigest, and the last bytes are never released', async () => {
    const body = encode(chunks, { signed: false, trailers: [['x-amz-checksum-crc32', 'AAAAAA==']] });
    const decoder = createAwsChunkedDecoder({ mode: 'unsigned-trailer', expectTrailer: ['x-amz-checksum-crc32'] });
    const verifier = createPayloadVerifier({ checksum: { algorithm: 'CRC32' }, trailerChecksum: () => decoder.trailers['x-amz-checksum-crc32'] });
    let received = 0;
    await expectFailure(
      pipeline(Readable.from(randomPieces(body, 1000, 5000)), decoder, verifier, async (source: AsyncIterable<Buffer>) => {
        for await (const c of source) received += c.length;
      }),
      'BadDigest',
    );
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(payload.length);
  });

  it('undeclared or missing trailers → InvalidRequest', async () => {
    const crc = crc32Base64(payload);
    const undeclared = encode(chunks, { signed: false, trailers: [['x-amz-checksum-crc32c', crc]] });
    await expectFailure(decode(createAwsChunkedDecoder({ mode: 'unsigned-trailer', expectTrailer: ['x-amz-checksum-crc32'] }), [undeclared]), 'InvalidRequest');
    const none = encode(chunks, { signed: false });
    await expectFailure(decode(createAwsChunkedDecoder({ mode: 'unsigned-trailer', expectTrailer: ['x-amz-checksum-crc32'] }), [none]), 'InvalidRequest');
  });

  it('accepts the AWS JS SDK ending without trailer ("0\\r\\n" then EOF)', async () => {
    const body = encode(chunks, { signed: false });
    const out = await decode(createAwsChunkedDecoder({ mode: 'unsigned-trailer' }), [body.subarray(0, body.length - 2)]);
    expect(out.equals(payload)).toBe(true);
  });
});

describe('signed payload with a signed trailer', () => {
  const payload = randomBytes(70_000);
  const chunks = [payload.subarray(0, 65536), payload.subarray(65536)];
  const crc = crc32Base64(payload);
  const options: AwsChunkedDecoderOptions = {
    mode: 'signed-trailer',
    signingKey: SIGNING_KEY,
    seedSignature: SEED,
    amzDate: AMZ_DATE,
    scope: SCOPE,
    decodedContentLength: payload.length,
    expectTrailer: ['x-amz-checksum-crc32'],
  };

  it('accepts a correct trailer signature', async () => {
    const body = encode(chunks, { signed: true, trailers: [['x-amz-checksum-crc32', crc]], signTrailers: true });
    const decoder = createAwsChunkedDecoder(options);
    const out = await decode(decoder, randomPieces(body, 1, 17));
    expect(out.equals(payload)).toBe(true);
    expect(decoder.trailers).toEqual({ 'x-amz-checksum-crc32': crc });
  });

  it('rejects a tampered trailer signature or value, or a missing signature', async () => {
    const badSig = encode(chunks, {
      signed: true,
      trailers: [['x-amz-checksum-crc32', crc]],
      signTrailers: true,
      trailerSignature: (real) => (real[0] === '0' ? '1' : '0') + real.slice(1),
    });
    await expectFailure(decode(createAwsChunkedDecoder(options), [badSig]), 'SignatureDoesNotMatch');

    const good = encode(chunks, { signed: true, trailers: [['x-amz-checksum-crc32', crc]], signTrailers: true }).toString('latin1');
    const badValue = Buffer.from(good.replace(`x-amz-checksum-crc32:${crc}`, 'x-amz-checksum-crc32:AAAAAA=='), 'latin1');
    await expectFailure(decode(createAwsChunkedDecoder(options), [badValue]), 'SignatureDoesNotMatch');

    const unsignedTrailer = encode(chunks, { signed: true, trailers: [['x-amz-checksum-crc32', crc]] });
    await expectFailure(decode(createAwsChunkedDecoder(options), [unsignedTrailer]), 'SignatureDoesNotMatch');
  });

  it('signs several trailers sorted by name', async () => {
    const trailers: [string, string][] = [
      ['x-amz-checksum-crc32', crc],
      ['x-amz-checksum-crc32c', 'AAAAAA=='],
    ];
    const body = encode(chunks, { signed: true, trailers: [trailers[1], trailers[0]], signTrailers: true });
    const decoder = createAwsChunkedDecoder({ ...options, expectTrailer: undefined });
    await decode(decoder, [body]);
    expect(decoder.trailers).toEqual(Object.fromEntries(trailers));
  });
});

describe('awsChunkedOptionsFor', () => {
  const verified = { signingKey: SIGNING_KEY, seedSignature: SEED, amzDate: AMZ_DATE, scope: SCOPE };

  it('maps payload modes and reads the related headers', () => {
    expect(awsChunkedOptionsFor({ ...verified, payload: { kind: 'unsigned' } }, {})).toBeUndefined();
    expect(awsChunkedOptionsFor({ ...verified, payload: { kind: 'sha256', hash: EMPTY_SHA } }, {})).toBeUndefined();
    expect(
      awsChunkedOptionsFor({ ...verified, payload: { kind: 'streaming-unsigned-trailer' } }, { 'x-amz-decoded-content-length': '42', 'x-amz-trailer': 'X-Amz-Checksum-CRC32' }),
    ).toMatchObject({ mode: 'unsigned-trailer', decodedContentLength: 42, expectTrailer: ['x-amz-checksum-crc32'] });
    expect(awsChunkedOptionsFor({ ...verified, payload: { kind: 'streaming-signed' } }, {})).toMatchObject({
      mode: 'signed',
      seedSignature: SEED,
      decodedContentLength: undefined,
      expectTrailer: undefined,
    });
    expect(() => awsChunkedOptionsFor({ ...verified, payload: { kind: 'streaming-signed' } }, { 'x-amz-decoded-content-length': '-1' })).toThrow(S3Error);
  });
});
