import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { fixedClock } from '../../clock.ts';
import { S3Error, type S3ErrorCode } from '../../errors/s3-errors.ts';
import { splitRawUrl } from './canonical.ts';
import { createSigningKeyCache, deriveSigningKey, type SigningKeyCache } from './signing-key-cache.ts';
import {
  createSigV4Verifier,
  formatAmzDate,
  parseAmzDate,
  parseAuthorizationHeader,
  parsePayloadMode,
  type SigV4Request as ParsedSigV4Request,
  type SigV4VerifierOptions,
  type VerifiedRequest,
} from './verify.ts';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_DATE = '2013-05-24T00:00:00Z';
const EMPTY_SHA = createHash('sha256').update('').digest('hex');
const NOW = new Date('2024-03-01T12:00:00Z');

/** A request as these tests write it: the raw target as a string, split the way the gateway splits it. */
type SigV4Request = Omit<ParsedSigV4Request, 'target'> & { rawUrl: string };

function makeVerifier(options: Partial<SigV4VerifierOptions> & { now?: Date | string } = {}) {
  const clock = fixedClock(options.now ?? NOW);
  const parsed = createSigV4Verifier({
    clock,
    lookupSecret: (id) => (id === AKID ? SECRET : id === 'OTHERKEY' ? 'other-secret' : undefined),
    region: 'us-east-1',
    regionStrict: false,
    signingKeyCache: createSigningKeyCache({ maxEntries: 100 }),
    ...options,
  });
  const verifier = { verify: ({ rawUrl, ...rest }: SigV4Request) => parsed.verify({ ...rest, target: splitRawUrl(rawUrl) }) };
  return { verifier, clock };
}

function expectS3Error(fn: () => unknown, code: S3ErrorCode, message?: string | RegExp): S3Error {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    const e = error as S3Error;
    expect(e.code, e.message).toBe(code);
    if (message !== undefined) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** RFC 3986 / AWS encoding, as the SDKs do it. */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The path the S3 SDK sends for a key (each segment encoded, slashes kept). */
function s3Path(bucket: string | undefined, key: string): string {
  const encodedKey = key.split('/').map(escapeUri).join('/');
  return bucket === undefined ? '/' + encodedKey : '/' + bucket + '/' + encodedKey;
}

function queryString(query: Record<string, string | string[]>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    for (const value of Array.isArray(v) ? v : [v]) parts.push(escapeUri(k) + '=' + escapeUri(value));
  }
  return parts.join('&');
}

interface SmithyRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body?: unknown;
}

function toIncoming(signed: SmithyRequest, method = signed.method): SigV4Request {
  const q = queryString(signed.query ?? {});
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(signed.headers)) {
    headers[name.toLowerCase()] = value;
    rawHeaders.push(name, value);
  }
  return { method, rawUrl: signed.path + (q ? '?' + q : ''), headers, rawHeaders };
}

function signer(region = 'us-east-1', secretAccessKey = SECRET, accessKeyId = AKID) {
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
}

async function signHeader(input: {
  method?: string;
  host?: string;
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  payloadHash?: string;
  region?: string;
  date?: Date;
  secret?: string;
  accessKeyId?: string;
}): Promise<SigV4Request> {
  const host = input.host ?? 's3.example.com:9000';
  const request: SmithyRequest = {
    method: input.method ?? 'GET',
    protocol: 'http:',
    hostname: host.split(':')[0],
    path: input.path,
    query: input.query ?? {},
    headers: { host, 'x-amz-content-sha256': input.payloadHash ?? EMPTY_SHA, ...(input.headers ?? {}) },
  };
  const signed = (await signer(input.region, input.secret, input.accessKeyId).sign(request as never, {
    signingDate: input.date ?? NOW,
  })) as unknown as SmithyRequest;
  return toIncoming(signed);
}

function withHeader(request: SigV4Request, name: string, value: string | undefined): SigV4Request {
  const headers = { ...request.headers };
  if (value === undefined) delete headers[name];
  else headers[name] = value;
  const rawHeaders: string[] = [];
  const raw = request.rawHeaders ?? [];
  let replaced = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === name) {
      if (value !== undefined && !replaced) rawHeaders.push(raw[i], value);
      replaced = true;
    } else rawHeaders.push(raw[i], raw[i + 1]);
  }
  if (!replaced && value !== undefined) rawHeaders.push(name, value);
  return { ...request, headers, rawHeaders };
}

// ---------------------------------------------------------------------------------------------

describe('AWS published examples', () => {
  it('GET Object with Range (header auth)', () => {
    const { verifier } = makeVerifier({ now: EXAMPLE_DATE });
    const request: SigV4Request = {
      method: 'GET',
      rawUrl: '/test.txt',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        range: 'bytes=0-9',
        'x-amz-content-sha256': EMPTY_SHA,
        'x-amz-date': '20130524T000000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      },
    };
    const verified = verifier.verify(request);
    expect(verified).toMatchObject({
      accessKeyId: AKID,
      auth: 'header',
      payload: { kind: 'sha256', hash: EMPTY_SHA },
      seedSignature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      scope: '20130524/us-east-1/s3/aws4_request',
      amzDate: '20130524T000000Z',
      region: 'us-east-1',
      signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
    });
    // Any signed byte changed → mismatch.
    expectS3Error(() => verifier.verify({ ...request, headers: { ...request.headers, range: 'bytes=0-10' } }), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify({ ...request, rawUrl: '/test.txt2' }), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify({ ...request, method: 'HEAD' }), 'SignatureDoesNotMatch');
  });

  const presignedUrl =
    '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
    '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
    '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';

  it('presigned GET Object URL', () => {
    const { verifier } = makeVerifier({ now: '2013-05-24T12:00:00Z' });
    const verified = verifier.verify({ method: 'GET', rawUrl: presignedUrl, headers: { host: 'examplebucket.s3.amazonaws.com' } });
    expect(verified).toMatchObject({
      auth: 'presigned',
      payload: { kind: 'unsigned' },
      seedSignature: 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
      expiresAt: new Date('2013-05-25T00:00:00Z'),
    });
    expectS3Error(() => verifier.verify({ method: 'GET', rawUrl: presignedUrl, headers: { host: 'otherbucket.s3.amazonaws.com' } }), 'SignatureDoesNotMatch');
  });

  it('presigned URL: expiry counts from X-Amz-Date with no skew window', () => {
    const { verifier, clock } = makeVerifier({ now: '2013-05-25T00:00:00Z' });
    const request = { method: 'GET', rawUrl: presignedUrl, headers: { host: 'examplebucket.s3.amazonaws.com' } };
    expect(verifier.verify(request).auth).toBe('presigned'); // exactly at expiry: still valid
    clock.advance(1000);
    const error = expectS3Error(() => verifier.verify(request), 'AccessDenied', 'Request has expired');
    expect(error.status).toBe(403);
    expect(error.details['X-Amz-Expires']).toBe('86400');
  });

  it('chunked upload seed signature', () => {
    const { verifier } = makeVerifier({ now: EXAMPLE_DATE });
    const verified = verifier.verify({
      method: 'PUT',
      rawUrl: '/examplebucket/chunkObject.txt',
      headers: {
        host: 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560',
        'content-length': '66824',
      },
    });
    expect(verified.payload).toEqual({ kind: 'streaming-signed' });
    expect(verified.seedSignature).toBe('4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
  });
});

// ---------------------------------------------------------------------------------------------

const KEYS = [
  'plain.txt',
  'my key+x.txt',
  'percent%20literal%.bin',
  'ünïcødé/文件/😀.txt',
  'k=v&x=y;z,a:b@c$d',
  'dir/../etc/./passwd',
  'a//b///c/',
  "tilde~!*'()[]",
  ' leading and trailing ',
  '#hash?question',
];

describe('round trips signed by @smithy/signature-v4', () => {
  for (const key of KEYS) {
    it(`path-style key ${JSON.stringify(key)}`, async () => {
      const { verifier } = makeVerifier();
      const request = await signHeader({ method: 'PUT', path: s3Path('bucket', key), payloadHash: 'UNSIGNED-PAYLOAD' });
      const verified = verifier.verify(request);
      expect(verified.payload).toEqual({ kind: 'unsigned' });
      expect(verified.auth).toBe('header');
    });
  }

  it('virtual-host style Host header', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ host: 'my-bucket.s3.example.com:9000', path: s3Path(undefined, 'a b/c+d') });
    expect(verifier.verify(request).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(withHeader(request, 'host', 'other-bucket.s3.example.com:9000')), 'SignatureDoesNotMatch');
  });

  it('query strings with encoded values, repeated and empty parameters', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({
      path: '/bucket',
      query: {
        'list-type': '2',
        prefix: 'a/b c+d=e&f',
        delimiter: '/',
        'continuation-token': 'abc+/=',
        'start-after': 'ü😀',
        'encoding-type': 'url',
        tag: ['z', 'a'],
      },
    });
    expect(verifier.verify(request).accessKeyId).toBe(AKID);
    // The same request with the parameters in another order on the wire is the same request.
    const [path, query] = request.rawUrl.split('?');
    const reversed = { ...request, rawUrl: path + '?' + query.split('&').reverse().join('&') };
    expect(verifier.verify(reversed).accessKeyId).toBe(AKID);
    // A changed value is not.
    expectS3Error(() => verifier.verify({ ...request, rawUrl: request.rawUrl.replace('list-type=2', 'list-type=1') }), 'SignatureDoesNotMatch');
  });

  it('a parameter sent without "=" (?uploads) canonicalises with an empty value', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ method: 'POST', path: s3Path('bucket', 'key'), query: { uploads: '' } });
    expect(request.rawUrl).toContain('?uploads=');
    expect(verifier.verify({ ...request, rawUrl: request.rawUrl.replace('uploads=', 'uploads') }).accessKeyId).toBe(AKID);
  });

  it('accepts a literal + in the query read either as plus or as space', async () => {
    const { verifier } = makeVerifier();
    const asSpace = await signHeader({ path: '/bucket', query: { prefix: 'a b' } });
    expect(verifier.verify({ ...asSpace, rawUrl: '/bucket?prefix=a+b' }).accessKeyId).toBe(AKID);
    const asPlus = await signHeader({ path: '/bucket', query: { prefix: 'a+b' } });
    expect(verifier.verify({ ...asPlus, rawUrl: '/bucket?prefix=a+b' }).accessKeyId).toBe(AKID);
  });

  it('signed extra headers: whitespace collapsing and repeated headers via rawHeaders', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({
      method: 'PUT',
      path: s3Path('bucket', 'k'),
      headers: { 'x-amz-meta-spaces': '  a   b  ', 'x-amz-meta-multi': 'one,two', 'Content-Type': 'text/plain' },
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    // On the wire the multi-value header arrives as two header lines.
    const raw = withHeader(request, 'x-amz-meta-multi', undefined);
    const split: SigV4Request = {
      ...raw,
      headers: { ...raw.headers, 'x-amz-meta-multi': 'one, two' },
      rawHeaders: [...raw.rawHeaders!, 'X-Amz-Meta-Multi', 'one', 'x-amz-meta-multi', '  two'],
    };
    expect(verifier.verify(split).accessKeyId).toBe(AKID);
    expect(verifier.verify(withHeader(request, 'x-amz-meta-spaces', 'a b')).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-meta-spaces', 'ab')), 'SignatureDoesNotMatch');
  });

  it('works without rawHeaders (headers object only)', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ path: s3Path('bucket', 'k') });
    expect(verifier.verify({ ...request, rawHeaders: undefined }).accessKeyId).toBe(AKID);
  });

  it('returns every payload mode', async () => {
    const { verifier } = makeVerifier();
    const modes = {
      'UNSIGNED-PAYLOAD': { kind: 'unsigned' },
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { kind: 'streaming-signed' },
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { kind: 'streaming-signed-trailer' },
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { kind: 'streaming-unsigned-trailer' },
      [EMPTY_SHA.toUpperCase()]: { kind: 'sha256', hash: EMPTY_SHA },
    };
    for (const [payloadHash, mode] of Object.entries(modes)) {
      const request = await signHeader({ method: 'PUT', path: '/b/k', payloadHash });
      expect(verifier.verify(request).payload).toEqual(mode);
    }
  });

  it('uses the Date header when x-amz-date is absent', () => {
    const { verifier } = makeVerifier({ now: '2013-05-24T00:05:00Z' });
    // Signed by hand: the string to sign carries the Date header's instant in ISO basic format.
    const canonicalRequest = ['GET', '/test.txt', '', 'host:examplebucket.s3.amazonaws.com', `x-amz-content-sha256:${EMPTY_SHA}`, '', 'host;x-amz-content-sha256', EMPTY_SHA].join(
      '\n',
    );
    const stringToSign = ['AWS4-HMAC-SHA256', '20130524T000000Z', '20130524/us-east-1/s3/aws4_request', createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    const signature = createHmac('sha256', deriveSigningKey(SECRET, '20130524', 'us-east-1', 's3'))
      .update(stringToSign)
      .digest('hex');
    const request: SigV4Request = {
      method: 'GET',
      rawUrl: '/test.txt',
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-content-sha256': EMPTY_SHA,
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256, Signature=${signature}`,
      },
    };
    expect(verifier.verify(request)).toMatchObject({ amzDate: '20130524T000000Z', seedSignature: signature });
    expectS3Error(() => verifier.verify({ ...request, headers: { ...request.headers, date: 'Fri, 24 May 2013 00:00:01 GMT' } }), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify({ ...request, headers: { ...request.headers, date: 'not a date' } }), 'AccessDenied');
  });
});

describe('presigned URLs', () => {
  async function presign(input: {
    method?: string;
    path: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    expiresIn?: number;
    date?: Date;
    region?: string;
  }): Promise<SigV4Request> {
    const presigner = new S3RequestPresigner({
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
      region: input.region ?? 'us-east-1',
      sha256: Sha256,
    });
    const request = {
      method: input.method ?? 'GET',
      protocol: 'http:',
      hostname: 's3.example.com',
      port: 9000,
      path: input.path,
      query: input.query ?? {},
      headers: { ...(input.headers ?? {}) },
    };
    const signed = (await presigner.presign(request as never, {
      signingDate: input.date ?? NOW,
      expiresIn: input.expiresIn ?? 900,
    })) as unknown as SmithyRequest;
    return toIncoming(signed);
  }

  it('verifies URLs from @aws-sdk/s3-request-presigner over awkward keys', async () => {
    const { verifier } = makeVerifier();
    for (const key of KEYS) {
      const request = await presign({ path: s3Path('bucket', key), query: { 'response-content-type': 'text/plain; charset=utf-8' } });
      const verified = verifier.verify(request);
      expect(verified.auth).toBe('presigned');
      expect(verified.payload).toEqual({ kind: 'unsigned' });
      expect(verified.expiresAt).toEqual(new Date(NOW.getTime() + 900_000));
    }
  });

  it('verifies URLs from SignatureV4.presign, with signed extra headers', async () => {
    const { verifier } = makeVerifier();
    const request = {
      method: 'PUT',
      protocol: 'http:',
      hostname: 'bucket.s3.example.com',
      path: s3Path(undefined, 'up load+1'),
      query: {},
      headers: { host: 'bucket.s3.example.com', 'content-type': 'image/png' },
    };
    const signed = (await signer().presign(request as never, {
      signingDate: NOW,
      expiresIn: 3600,
      unhoistableHeaders: new Set(['x-amz-content-sha256']),
    })) as unknown as SmithyRequest;
    // smithy's plain presign signs the empty-body hash, not UNSIGNED-PAYLOAD (S3 would reject
    // it too); add the header the S3 presigner sets so the client hash is signed.
    expect(() => verifier.verify(toIncoming(signed))).toThrow(S3Error);

    const withHash = {
      ...request,
      headers: { ...request.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    };
    const signed2 = (await signer().presign(withHash as never, { signingDate: NOW, expiresIn: 3600 })) as unknown as SmithyRequest;
    const incoming = toIncoming(signed2);
    expect(incoming.rawUrl.toLowerCase()).toContain('x-amz-content-sha256=unsigned-payload');
    expect(verifier.verify(incoming).payload).toEqual({ kind: 'unsigned' });
    expectS3Error(() => verifier.verify(withHeader(incoming, 'content-type', 'text/html')), 'SignatureDoesNotMatch');
  });

  it('a presigned content hash (hoisted into the query or kept as a signed header) becomes the payload mode', async () => {
    const { verifier } = makeVerifier();
    const hash = createHash('sha256').update('hello').digest('hex');
    for (const hoist of [true, false]) {
      const signed = (await signer().presign(
        {
          method: 'PUT',
          protocol: 'http:',
          hostname: 's3.example.com',
          path: '/bucket/k',
          query: {},
          headers: { host: 's3.example.com', 'x-amz-content-sha256': hash },
        } as never,
        { signingDate: NOW, expiresIn: 60, unhoistableHeaders: hoist ? undefined : new Set(['x-amz-content-sha256']) },
      )) as unknown as SmithyRequest;
      const incoming = toIncoming(signed);
      expect(incoming.rawUrl.includes(hash)).toBe(hoist);
      expect(verifier.verify(incoming).payload).toEqual({ kind: 'sha256', hash });
    }
  });

  it('expired, not yet valid, X-Amz-Expires limits', async () => {
    const { verifier, clock } = makeVerifier();
    const request = await presign({ path: '/bucket/k', expiresIn: 60 });
    clock.advance(61_000);
    expectS3Error(() => verifier.verify(request), 'AccessDenied', 'Request has expired');

    const future = await presign({ path: '/bucket/k', date: new Date(NOW.getTime() + 16 * 60_000) });
    expectS3Error(() => makeVerifier().verifier.verify(future), 'AccessDenied', 'Request is not valid yet');
    const nearFuture = await presign({ path: '/bucket/k', date: new Date(NOW.getTime() + 14 * 60_000) });
    expect(makeVerifier().verifier.verify(nearFuture).auth).toBe('presigned');

    const week = await presign({ path: '/bucket/k', expiresIn: 604800 });
    expect(makeVerifier().verifier.verify(week).auth).toBe('presigned');
    const tooLong = { ...week, rawUrl: week.rawUrl.replace('X-Amz-Expires=604800', 'X-Amz-Expires=604801') };
    expectS3Error(() => makeVerifier().verifier.verify(tooLong), 'AuthorizationQueryParametersError', /604800/);
    const zero = { ...week, rawUrl: week.rawUrl.replace('X-Amz-Expires=604800', 'X-Amz-Expires=0') };
    expectS3Error(() => makeVerifier().verifier.verify(zero), 'AuthorizationQueryParametersError');
    const nan = { ...week, rawUrl: week.rawUrl.replace('X-Amz-Expires=604800', 'X-Amz-Expires=-5') };
    expectS3Error(() => makeVerifier().verifier.verify(nan), 'AuthorizationQueryParametersError');
  });

  it('missing or malformed parameters', async () => {
    const { verifier } = makeVerifier();
    const request = await presign({ path: '/bucket/k' });
    const drop = (name: string) => ({
      ...request,
      rawUrl: request.rawUrl.replace(new RegExp(`[?&]${name}=[^&]*`), (m) => (m[0] === '?' ? '?' : '')).replace('?&', '?'),
    });
    for (const name of ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature']) {
      expectS3Error(() => verifier.verify(drop(name)), 'AuthorizationQueryParametersError');
    }
    expectS3Error(
      () => verifier.verify({ ...request, rawUrl: request.rawUrl.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=HMAC') }),
      'AuthorizationQueryParametersError',
    );
    expectS3Error(() => verifier.verify({ ...request, rawUrl: request.rawUrl.replace(/X-Amz-Date=\w+/, 'X-Amz-Date=2024-03-01') }), 'AuthorizationQueryParametersError');
    expectS3Error(() => verifier.verify({ ...request, rawUrl: request.rawUrl.replace(/X-Amz-Signature=\w+/, 'X-Amz-Signature=' + 'f'.repeat(64)) }), 'SignatureDoesNotMatch');
    expectS3Error(
      () => verifier.verify({ ...request, rawUrl: request.rawUrl.replace('X-Amz-SignedHeaders=host', 'X-Amz-SignedHeaders=range') }),
      'AuthorizationQueryParametersError',
      /Host/,
    );
  });

  it('region strictness', async () => {
    const request = await presign({ path: '/bucket/k', region: 'eu-west-1' });
    expect(makeVerifier().verifier.verify(request).region).toBe('eu-west-1');
    const error = expectS3Error(() => makeVerifier({ regionStrict: true }).verifier.verify(request), 'AuthorizationQueryParametersError', /region/);
    expect(error.details.Region).toBe('us-east-1');
  });
});

describe('header auth errors', () => {
  it('an x-amz-* header added to a captured header-signed request → AccessDenied (HeadersNotSigned)', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ method: 'PUT', path: '/b/k', headers: { 'x-amz-meta-signed': 'yes' } });
    expect(verifier.verify(request).accessKeyId).toBe(AKID);
    for (const [name, value] of [
      ['x-amz-copy-source', '/b/secret'],
      ['x-amz-tagging', 'a=b'],
      ['x-amz-meta-extra', '1'],
    ]) {
      const error = expectS3Error(() => verifier.verify(withHeader(request, name, value)), 'AccessDenied', /not signed/);
      expect(error.details.HeadersNotSigned).toBe(name);
    }
    // Headers outside x-amz-* may go unsigned, as S3 allows (user-agent, content-type when not signed…).
    expect(verifier.verify(withHeader(request, 'user-agent', 'curl/8')).accessKeyId).toBe(AKID);
  });

  it('no credentials at all → AccessDenied', () => {
    const { verifier } = makeVerifier();
    const error = expectS3Error(() => verifier.verify({ method: 'GET', rawUrl: '/bucket/key?x=1', headers: { host: 'h' } }), 'AccessDenied');
    expect(error.status).toBe(403);
  });

  it('unknown access key → InvalidAccessKeyId', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ path: '/b/k', accessKeyId: 'NOSUCHKEY' });
    const error = expectS3Error(() => verifier.verify(request), 'InvalidAccessKeyId');
    expect(error.status).toBe(403);
  });

  it('wrong secret → SignatureDoesNotMatch, details only in debug mode', async () => {
    const request = await signHeader({ path: '/b/k', secret: 'not-the-secret' });
    const quiet = expectS3Error(() => makeVerifier().verifier.verify(request), 'SignatureDoesNotMatch');
    expect(quiet.status).toBe(403);
    expect(quiet.details).toEqual({});
    const loud = expectS3Error(() => makeVerifier({ debug: true }).verifier.verify(request), 'SignatureDoesNotMatch');
    expect(loud.details.CanonicalRequest).toBe(
      [
        'GET',
        '/b/k',
        '',
        'host:s3.example.com:9000',
        `x-amz-content-sha256:${EMPTY_SHA}`,
        'x-amz-date:20240301T120000Z',
        '',
        'host;x-amz-content-sha256;x-amz-date',
        EMPTY_SHA,
      ].join('\n'),
    );
    expect(loud.details.StringToSign).toMatch(/^AWS4-HMAC-SHA256\n20240301T120000Z\n20240301\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/);
  });

  it('a key signed by another existing key is rejected', async () => {
    const request = await signHeader({ path: '/b/k', accessKeyId: 'OTHERKEY', secret: SECRET });
    expectS3Error(() => makeVerifier().verifier.verify(request), 'SignatureDoesNotMatch');
  });

  it('clock skew beyond 15 minutes → RequestTimeTooSkewed (both directions)', async () => {
    const past = await signHeader({ path: '/b/k', date: new Date(NOW.getTime() - 15 * 60_000 - 1000) });
    const error = expectS3Error(() => makeVerifier().verifier.verify(past), 'RequestTimeTooSkewed');
    expect(error.status).toBe(403);
    const future = await signHeader({ path: '/b/k', date: new Date(NOW.getTime() + 16 * 60_000) });
    expectS3Error(() => makeVerifier().verifier.verify(future), 'RequestTimeTooSkewed');
    const edge = await signHeader({ path: '/b/k', date: new Date(NOW.getTime() - 14 * 60_000) });
    expect(makeVerifier().verifier.verify(edge).accessKeyId).toBe(AKID);
  });

  it('region strictness', async () => {
    const request = await signHeader({ path: '/b/k', region: 'eu-central-1' });
    expect(makeVerifier().verifier.verify(request).region).toBe('eu-central-1');
    const error = expectS3Error(() => makeVerifier({ regionStrict: true }).verifier.verify(request), 'AuthorizationHeaderMalformed', /region 'eu-central-1' is wrong/);
    expect(error.details.Region).toBe('us-east-1');
    expect(error.status).toBe(400);
  });

  it('missing or invalid x-amz-content-sha256 / dates', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ path: '/b/k' });
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-content-sha256', undefined)), 'InvalidRequest', /x-amz-content-sha256/);
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-content-sha256', 'nope')), 'InvalidArgument');
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-content-sha256', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD')), 'NotImplemented');
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-date', undefined)), 'AccessDenied', /Date/);
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-date', '2024-03-01T12:00:00Z')), 'AccessDenied', /Date/);
    // Credential date differing from the request date.
    expectS3Error(() => verifier.verify(withHeader(request, 'x-amz-date', '20240302T000100Z')), 'AuthorizationHeaderMalformed', /credential date/i);
  });

  it('malformed Authorization headers', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ path: '/b/k' });
    const auth = request.headers.authorization as string;
    const set = (value: string) => withHeader(request, 'authorization', value);
    expectS3Error(() => verifier.verify(set('AWS AKIAIOSFODNN7EXAMPLE:abc')), 'InvalidRequest', /AWS4-HMAC-SHA256/);
    expectS3Error(() => verifier.verify(set('AWS4-ECDSA-P256-SHA256 Credential=x')), 'NotImplemented');
    expectS3Error(() => verifier.verify(set('Bearer token')), 'InvalidArgument');
    expectS3Error(() => verifier.verify(set(auth.replace(/Signature=\w+/, ''))), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verifier.verify(set(auth.replace('/aws4_request', '/aws5_request'))), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verifier.verify(set(auth.replace('/s3/', '/iam/'))), 'AuthorizationHeaderMalformed', /service/);
    expectS3Error(() => verifier.verify(set(auth.replace('SignedHeaders=host;', 'SignedHeaders='))), 'AuthorizationHeaderMalformed', /Host/);
    expectS3Error(() => verifier.verify({ ...request, rawUrl: request.rawUrl + '?X-Amz-Algorithm=AWS4-HMAC-SHA256' }), 'InvalidArgument', /one auth mechanism/);
    expectS3Error(() => verifier.verify({ ...request, headers: { host: 'h' }, rawHeaders: undefined, rawUrl: '/b/k?AWSAccessKeyId=A&Signature=x&Expires=1' }), 'InvalidRequest');
  });

  it('tolerates spacing and ordering variants of the Authorization header', async () => {
    const { verifier } = makeVerifier();
    const request = await signHeader({ path: '/b/k' });
    const { credential, signedHeaders, signature } = parseAuthorizationHeader(request.headers.authorization as string);
    const variants = [
      `AWS4-HMAC-SHA256 Credential=${credential},SignedHeaders=${signedHeaders},Signature=${signature}`,
      `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
      `  AWS4-HMAC-SHA256   Signature=${signature} ,  Credential=${credential} , SignedHeaders=${signedHeaders}  `,
      `AWS4-HMAC-SHA256 Credential=${credential} SignedHeaders=${signedHeaders} Signature=${signature}`,
      `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signedHeaders.split(';').reverse().join(';')}, Signature=${signature.toUpperCase()}`,
    ];
    for (const variant of variants) {
      expect(verifier.verify(withHeader(request, 'authorization', variant)).seedSignature).toBe(signature);
    }
  });

  it('reads the usual form and its near misses alike: unknown components ignored, repeated ones refused', () => {
    const usual = 'AWS4-HMAC-SHA256 Credential=AKID/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123';
    const parts = { credential: 'AKID/20240301/us-east-1/s3/aws4_request', signedHeaders: 'host;x-amz-date', signature: 'abc123' };
    expect(parseAuthorizationHeader(usual)).toEqual(parts);
    expect(parseAuthorizationHeader(`${usual}  `)).toEqual(parts);
    expect(parseAuthorizationHeader(`${usual}, Foo=bar`)).toEqual(parts);
    expect(parseAuthorizationHeader(usual.replace(', Signature=', ', Foo=bar, Signature='))).toEqual(parts);
    expect(() => parseAuthorizationHeader(`${usual}, Signature=def456`)).toThrow(/three components/);
    expect(() => parseAuthorizationHeader(usual.replace(', SignedHeaders=', ', Credential=X, SignedHeaders='))).toThrow(/three components/);
    // An empty signature is read as one (the signature check then refuses it).
    expect(parseAuthorizationHeader(usual.replace('Signature=abc123', 'Signature='))).toEqual({ ...parts, signature: '' });
    expect(() => parseAuthorizationHeader(usual.replace('Signature=abc123', 'Signature=abc 123'))).toThrow(/three components/);
  });
});

describe('parsePayloadMode', () => {
  it('rejects anything unknown with InvalidArgument', () => {
    expect(() => parsePayloadMode('abc')).toThrow(S3Error);
    expect(() => parsePayloadMode('g'.repeat(64))).toThrow(S3Error);
    expect(parsePayloadMode('a'.repeat(64))).toEqual({ kind: 'sha256', hash: 'a'.repeat(64) });
  });

  it('reads the hash of an empty body (every GET) as a sha256 payload, in either case', () => {
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(parsePayloadMode(empty)).toEqual({ kind: 'sha256', hash: empty });
    // Shared by every request: nobody may change it.
    expect(Object.isFrozen(parsePayloadMode(empty))).toBe(true);
    expect(parsePayloadMode(empty.toUpperCase())).toEqual({ kind: 'sha256', hash: empty });
  });
});

describe('parseAmzDate', () => {
  /** The former reading (slices, Date.UTC, and the day read back), which the fast one must equal. */
  const reference = (s: string): number | undefined => {
    if (s.length !== 16 || s[8] !== 'T' || s[15] !== 'Z' || !/^\d{8}$/.test(s.slice(0, 8)) || !/^\d{6}$/.test(s.slice(9, 15))) return undefined;
    const [y, mo, d, h, mi, se] = [s.slice(0, 4), s.slice(4, 6), s.slice(6, 8), s.slice(9, 11), s.slice(11, 13), s.slice(13, 15)].map(Number);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
    const t = Date.UTC(y, mo - 1, d, h, mi, se);
    return new Date(t).getUTCDate() === d ? t : undefined;
  };

  it('equals the former reading on real, impossible and malformed dates', () => {
    const samples = [
      '20130524T000000Z',
      '20240229T120000Z', // leap day
      '20230229T120000Z', // no such day
      '21000229T000000Z', // 2100 is not a leap year
      '20000229T000000Z', // 2000 is
      '20261231T235960Z', // a leap second rolling into the next day
      '20260630T235960Z',
      '20260430T235960Z',
      '20260431T000000Z',
      '00000229T000000Z', // years 0–99 are 19xx to Date.UTC
      '00990101T000000Z',
      '20261301T000000Z',
      '20260001T000000Z',
      '20260100T000000Z',
      '20260101T240000Z',
      '20260101T006000Z',
      '20260101T000061Z',
      '2026010lT000000Z',
      '20260101X000000Z',
      '20260101T000000z',
      '20260101T00000Z',
      '２０２６0101T000000Z',
      '20260101T0000-0Z',
    ];
    for (let ms = Date.UTC(1999, 0, 1); ms < Date.UTC(2031, 0, 1); ms += 86_400_000 * 3 + 3_661_000) samples.push(formatAmzDate(ms));
    for (const sample of samples) expect([sample, parseAmzDate(sample)]).toEqual([sample, reference(sample)]);
    expect(parseAmzDate('20130524T000000Z')).toBe(Date.UTC(2013, 4, 24));
  });
});

// Requests per second are measured by `npm run bench` (bench/hot-path.ts), not asserted here.
describe('signing-key cache', () => {
  it('derives the signing key once for repeated requests of one key and day (what makes verification cheap)', async () => {
    const cache = createSigningKeyCache({ maxEntries: 100 });
    const handed: Buffer[] = [];
    const recording: SigningKeyCache = {
      get: (...args) => {
        const key = cache.get(...args);
        handed.push(key);
        return key;
      },
      invalidate: (accessKeyId) => cache.invalidate(accessKeyId),
      clear: () => cache.clear(),
      get size() {
        return cache.size;
      },
    };
    const { verifier } = makeVerifier({ signingKeyCache: recording });
    const request = await signHeader({
      method: 'PUT',
      path: s3Path('bucket', 'some/fairly/long key name with spaces.txt'),
      query: { partNumber: '3', uploadId: 'abcdefghijklmnop' },
      headers: { 'content-type': 'application/octet-stream', 'x-amz-meta-a': 'b' },
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    let result: VerifiedRequest | undefined;
    for (let i = 0; i < 100; i++) result = verifier.verify(request);
    expect(result?.accessKeyId).toBe(AKID);
    // Every verification asked the cache, and it handed out the one key it derived (a fresh
    // derivation is a new Buffer).
    expect(handed).toHaveLength(100);
    expect(new Set(handed).size).toBe(1);
    expect(cache.size).toBe(1);
  });
});
