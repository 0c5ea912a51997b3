import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { S3Error, type S3ErrorCode } from '../../errors/s3-errors.ts';
import { splitRawUrl } from '../sigv4/canonical.ts';
import { buildStringToSign, canonicalAmzHeaders, canonicalResource, createSigV2Verifier, isSigV2Request, signV2, splitV2Query } from './verify.ts';

// AWS's example credentials and requests ("Signing and authenticating REST requests", Signature Version 2).
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** A request as Node hands it over: lower-cased `headers` (repeats joined) and `rawHeaders` as sent. */
function request(method: string, url: string, pairs: [string, string][], bucketInHost?: string) {
  const headers: IncomingHttpHeaders = {};
  const rawHeaders: string[] = [];
  for (const [name, value] of pairs) {
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    const previous = headers[lower];
    headers[lower] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return { method, target: splitRawUrl(url), headers, rawHeaders, bucketInHost };
}

function verifierAt(now: string) {
  const clock = fixedClock(now);
  const verifier = createSigV2Verifier({ clock, lookupSecret: (id) => (id === AKID ? SECRET : undefined) });
  return { verifier, clock };
}

function expectS3Error(fn: () => unknown, code: S3ErrorCode, message?: RegExp): S3Error {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    const e = error as S3Error;
    expect(e.code, e.message).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('SigV2 header auth: AWS documented examples', () => {
  it('Object GET (virtual-hosted bucket johnsmith)', () => {
    const { verifier } = verifierAt('2007-03-27T19:40:00Z');
    const verified = verifier.verify(
      request(
        'GET',
        '/photos/puppy.jpg',
        [
          ['Host', 'johnsmith.s3.amazonaws.com'],
          ['Date', 'Tue, 27 Mar 2007 19:36:42 +0000'],
          ['Authorization', `AWS ${AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=`],
        ],
        'johnsmith',
      ),
    );
    expect(verified).toEqual({ accessKeyId: AKID, auth: 'sigv2-header', payload: { kind: 'unsigned' }, requestTime: new Date('2007-03-27T19:36:42Z') });
  });

  it('Object PUT signs Content-Type', () => {
    const { verifier } = verifierAt('2007-03-27T21:15:45Z');
    const pairs: [string, string][] = [
      ['Content-Type', 'image/jpeg'],
      ['Content-Length', '94328'],
      ['Host', 'johnsmith.s3.amazonaws.com'],
      ['Date', 'Tue, 27 Mar 2007 21:15:45 +0000'],
      ['Authorization', `AWS ${AKID}:MyyxeRY7whkBe+bq8fHCL/2kKUg=`],
    ];
    expect(verifier.verify(request('PUT', '/photos/puppy.jpg', pairs, 'johnsmith')).accessKeyId).toBe(AKID);
    const otherType = pairs.map(([n, v]): [string, string] => (n === 'Content-Type' ? [n, 'text/html'] : [n, v]));
    expectS3Error(() => verifier.verify(request('PUT', '/photos/puppy.jpg', otherType, 'johnsmith')), 'SignatureDoesNotMatch');
  });

  it('List: query parameters that are not sub-resources are not signed', () => {
    const { verifier } = verifierAt('2007-03-27T19:42:41Z');
    const verified = verifier.verify(
      request(
        'GET',
        '/?prefix=photos&max-keys=50&marker=puppy',
        [
          ['User-Agent', 'Mozilla/5.0'],
          ['Host', 'johnsmith.s3.amazonaws.com'],
          ['Date', 'Tue, 27 Mar 2007 19:42:41 +0000'],
          ['Authorization', `AWS ${AKID}:htDYFYduRNen8P9ZfE/s9SuKy0U=`],
        ],
        'johnsmith',
      ),
    );
    expect(verified.accessKeyId).toBe(AKID);
  });

  it('Fetch ?acl signs the sub-resource (and another sub-resource breaks it)', () => {
    const { verifier } = verifierAt('2007-03-27T19:44:46Z');
    const pairs: [string, string][] = [
      ['Host', 'johnsmith.s3.amazonaws.com'],
      ['Date', 'Tue, 27 Mar 2007 19:44:46 +0000'],
      ['Authorization', `AWS ${AKID}:c2WLPFtWHVgbEmeEG93a4cG37dM=`],
    ];
    expect(verifier.verify(request('GET', '/?acl', pairs, 'johnsmith')).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(request('GET', '/?acl&tagging', pairs, 'johnsmith')), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('GET', '/?cors', pairs, 'johnsmith')), 'SignatureDoesNotMatch');
  });

  // The current documentation's signature: the 2007 edition printed a string to sign with the
  // x-amz-date value in the Date slot and no x-amz-date line, contradicting its own rule.
  it('Delete (path style): x-amz-date overrides Date, which is then signed as empty', () => {
    const { verifier } = verifierAt('2007-03-27T21:20:26Z');
    const verified = verifier.verify(
      request('DELETE', '/johnsmith/photos/puppy.jpg', [
        ['User-Agent', 'dotnet'],
        ['Host', 's3.amazonaws.com'],
        ['Date', 'Tue, 27 Mar 2007 21:20:27 +0000'],
        ['x-amz-date', 'Tue, 27 Mar 2007 21:20:26 +0000'],
        ['Authorization', `AWS ${AKID}:R4dJ53KECjStyBO5iTBJZ4XVOaI=`],
      ]),
    );
    expect(verified.requestTime).toEqual(new Date('2007-03-27T21:20:26Z'));
  });

  it('Upload: Content-MD5, x-amz-* headers lower-cased, sorted, repeated values joined with commas (CNAME bucket)', () => {
    const { verifier } = verifierAt('2007-03-27T21:06:08Z');
    const pairs: [string, string][] = [
      ['User-Agent', 'curl/7.15.5'],
      ['Host', 'static.johnsmith.net:8080'],
      ['Date', 'Tue, 27 Mar 2007 21:06:08 +0000'],
      ['x-amz-acl', 'public-read'],
      ['content-type', 'application/x-download'],
      ['Content-MD5', '4gJE4saaMU4BqNR0kLY+lw=='],
      ['X-Amz-Meta-ReviewedBy', 'joe@johnsmith.net'],
      ['X-Amz-Meta-ReviewedBy', 'jane@johnsmith.net'],
      ['X-Amz-Meta-FileChecksum', '0x02661779'],
      ['X-Amz-Meta-ChecksumAlgorithm', 'crc32'],
      ['Content-Disposition', 'attachment; filename=database.dat'],
      ['Content-Encoding', 'gzip'],
      ['Content-Length', '5913339'],
      ['Authorization', `AWS ${AKID}:ilyl83RwaSoYIEdixDQcA4OnAnc=`],
    ];
    const req = request('PUT', '/db-backup.dat.gz', pairs, 'static.johnsmith.net');
    expect(canonicalAmzHeaders(req.headers, req.rawHeaders)).toBe(
      'x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n',
    );
    expect(verifier.verify(req).accessKeyId).toBe(AKID);
    // An x-amz-* header added to the captured request is part of the string to sign: refused.
    const added = request('PUT', '/db-backup.dat.gz', [...pairs, ['x-amz-copy-source', '/other/secret']], 'static.johnsmith.net');
    expectS3Error(() => verifier.verify(added), 'SignatureDoesNotMatch');
  });

  it('List All My Buckets', () => {
    const { verifier } = verifierAt('2007-03-28T01:29:59Z');
    const req = request('GET', '/', [
      ['Host', 's3.amazonaws.com'],
      ['Date', 'Wed, 28 Mar 2007 01:29:59 +0000'],
      ['Authorization', `AWS ${AKID}:qGdzdERIC03wnaRNKh6OqZehG9s=`],
    ]);
    expect(verifier.verify(req).accessKeyId).toBe(AKID);
  });

  it('Unicode keys: the path is signed exactly as sent, escapes not normalised', () => {
    const { verifier } = verifierAt('2007-03-28T01:49:49Z');
    const pairs: [string, string][] = [
      ['Host', 's3.amazonaws.com'],
      ['Date', 'Wed, 28 Mar 2007 01:49:49 +0000'],
      ['Authorization', `AWS ${AKID}:DNEZGsoieTZ92F3bUfSPQcbGmlM=`],
    ];
    expect(verifier.verify(request('GET', '/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re', pairs)).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(request('GET', '/dictionary/fran%C3%A7ais/pr%C3%A9f%C3%A8re', pairs)), 'SignatureDoesNotMatch');
  });
});

describe('SigV2 query auth (presigned URLs)', () => {
  const url = `/photos/puppy.jpg?AWSAccessKeyId=${AKID}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620`;
  const pairs: [string, string][] = [['Host', 'johnsmith.s3.amazonaws.com']];

  it("AWS's example URL verifies until Expires", () => {
    const { verifier } = verifierAt('2007-03-29T03:00:00Z');
    expect(verifier.verify(request('GET', url, pairs, 'johnsmith'))).toEqual({
      accessKeyId: AKID,
      auth: 'sigv2-presigned',
      payload: { kind: 'unsigned' },
      expiresAt: new Date(1175139620 * 1000),
    });
  });

  it('after Expires: AccessDenied "Request has expired"', () => {
    const { verifier } = verifierAt(new Date(1175139621 * 1000).toISOString());
    const error = expectS3Error(() => verifier.verify(request('GET', url, pairs, 'johnsmith')), 'AccessDenied', /^Request has expired$/);
    expect(error.details.Expires).toBe('2007-03-29T03:40:20.000Z');
  });

  it('a changed Expires, another key or another bucket no longer verifies', () => {
    const { verifier } = verifierAt('2007-03-29T03:00:00Z');
    expectS3Error(() => verifier.verify(request('GET', url.replace('1175139620', '1175139621'), pairs, 'johnsmith')), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('GET', url.replace('puppy', 'kitten'), pairs, 'johnsmith')), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('GET', url, pairs, 'janesmith')), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('PUT', url, pairs, 'johnsmith')), 'SignatureDoesNotMatch');
  });

  it('response-* overrides are signed decoded; appending one to a URL is refused', () => {
    const { verifier } = verifierAt('2030-01-01T00:00:00Z');
    const expires = '1893456000';
    const sts = buildStringToSign('GET', '', '', expires, '', '/bucket/key.txt?response-content-disposition=attachment; filename="a b.txt"&response-content-type=text/plain');
    const signature = encodeURIComponent(signV2(SECRET, sts));
    const query = `response-content-type=text%2Fplain&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&AWSAccessKeyId=${AKID}&Expires=${expires}&Signature=${signature}`;
    expect(verifier.verify(request('GET', `/bucket/key.txt?${query}`, [])).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(request('GET', `/bucket/key.txt?${query}&response-cache-control=no-store`, [])), 'SignatureDoesNotMatch');
  });

  it('x-amz-* parameters a presigner moved into the query are signed as amz headers', () => {
    const { verifier } = verifierAt('2030-01-01T00:00:00Z');
    const expires = '1893456000';
    const sts = buildStringToSign('PUT', '', '', expires, 'x-amz-meta-origin:boto\n', '/bucket/key.txt');
    const base = `/bucket/key.txt?AWSAccessKeyId=${AKID}&Signature=${encodeURIComponent(signV2(SECRET, sts))}&Expires=${expires}`;
    expect(verifier.verify(request('PUT', `${base}&x-amz-meta-origin=boto`, [])).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(request('PUT', `${base}&x-amz-meta-origin=evil`, [])), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('PUT', `${base}&x-amz-meta-origin=boto`, [['x-amz-acl', 'public-read']])), 'SignatureDoesNotMatch');
  });

  it('missing parameters or a non-numeric Expires: AccessDenied', () => {
    const { verifier } = verifierAt('2007-03-29T03:00:00Z');
    expectS3Error(() => verifier.verify(request('GET', `/b/k?AWSAccessKeyId=${AKID}&Expires=1175139620`, [])), 'AccessDenied', /requires the Signature/);
    expectS3Error(() => verifier.verify(request('GET', `/b/k?AWSAccessKeyId=${AKID}&Expires=tomorrow&Signature=x`, [])), 'AccessDenied', /Invalid date/);
  });
});

describe('SigV2 refusals and parsing', () => {
  const getPairs = (auth: string, date = 'Tue, 27 Mar 2007 19:36:42 +0000'): [string, string][] => [
    ['Host', 'johnsmith.s3.amazonaws.com'],
    ['Date', date],
    ['Authorization', auth],
  ];

  it('more than 15 minutes off the server clock: RequestTimeTooSkewed (either way)', () => {
    const auth = `AWS ${AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=`;
    expect(verifierAt('2007-03-27T19:51:42Z').verifier.verify(request('GET', '/photos/puppy.jpg', getPairs(auth), 'johnsmith')).accessKeyId).toBe(AKID);
    expectS3Error(() => verifierAt('2007-03-27T19:51:43Z').verifier.verify(request('GET', '/photos/puppy.jpg', getPairs(auth), 'johnsmith')), 'RequestTimeTooSkewed');
    expectS3Error(() => verifierAt('2007-03-27T19:21:41Z').verifier.verify(request('GET', '/photos/puppy.jpg', getPairs(auth), 'johnsmith')), 'RequestTimeTooSkewed');
  });

  it('no usable date: AccessDenied', () => {
    const { verifier } = verifierAt('2007-03-27T19:36:42Z');
    expectS3Error(() => verifier.verify(request('GET', '/b/k', [['Authorization', `AWS ${AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=`]])), 'AccessDenied', /valid Date or x-amz-date/);
  });

  it('unknown key: InvalidAccessKeyId; wrong signature: SignatureDoesNotMatch', () => {
    const { verifier } = verifierAt('2007-03-27T19:36:42Z');
    expectS3Error(() => verifier.verify(request('GET', '/photos/puppy.jpg', getPairs('AWS NOSUCHKEY:bWq2s1WEIj+Ydj0vQ697zp+IXMU='), 'johnsmith')), 'InvalidAccessKeyId');
    const error = expectS3Error(
      () => verifier.verify(request('GET', '/photos/puppy.jpg', getPairs(`AWS ${AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMV=`), 'johnsmith')),
      'SignatureDoesNotMatch',
    );
    // No string to sign handed out unless debugging.
    expect(error.details).toEqual({});
  });

  it('malformed Authorization, or header and query auth together: InvalidArgument', () => {
    const { verifier } = verifierAt('2007-03-27T19:36:42Z');
    expectS3Error(() => verifier.verify(request('GET', '/b/k', getPairs(`AWS ${AKID}`))), 'InvalidArgument');
    expectS3Error(() => verifier.verify(request('GET', '/b/k', getPairs(`AWS ${AKID}:`))), 'InvalidArgument');
    expectS3Error(
      () => verifier.verify(request('GET', `/b/k?AWSAccessKeyId=${AKID}&Signature=x&Expires=1`, getPairs(`AWS ${AKID}:sig`))),
      'InvalidArgument',
      /Only one auth mechanism/,
    );
    expectS3Error(() => verifier.verify(request('GET', '/b/k?X-Amz-Signature=abc', getPairs(`AWS ${AKID}:sig`))), 'InvalidArgument', /Only one auth mechanism/);
  });

  it('botocore signs more sub-resources than AWS documents: its ?restore requests verify too', () => {
    const { verifier } = verifierAt('2030-01-01T00:00:00Z');
    const date = 'Tue, 01 Jan 2030 00:00:00 GMT';
    const sts = buildStringToSign('POST', '', '', date, '', '/bucket/key?restore');
    const pairs: [string, string][] = [
      ['Date', date],
      ['Authorization', `AWS ${AKID}:${signV2(SECRET, sts)}`],
    ];
    expect(verifier.verify(request('POST', '/bucket/key?restore', pairs)).accessKeyId).toBe(AKID);
  });

  it('a bucket sent as `/bucket` verifies signed as `/bucket` or `/bucket/` (botocore signs the latter); a key path does not', () => {
    const { verifier } = verifierAt('2030-01-01T00:00:00Z');
    const date = 'Tue, 01 Jan 2030 00:00:00 GMT';
    const signed = (resource: string): [string, string][] => [
      ['Date', date],
      ['Authorization', `AWS ${AKID}:${signV2(SECRET, buildStringToSign('GET', '', '', date, '', resource))}`],
    ];
    expect(verifier.verify(request('GET', '/bucket?uploads&prefix=a', signed('/bucket/?uploads'))).accessKeyId).toBe(AKID);
    expect(verifier.verify(request('GET', '/bucket?uploads', signed('/bucket?uploads'))).accessKeyId).toBe(AKID);
    expectS3Error(() => verifier.verify(request('GET', '/bucket/key', signed('/bucket/key/'))), 'SignatureDoesNotMatch');
    expectS3Error(() => verifier.verify(request('GET', '/bucket?uploads', signed('/bucket/'))), 'SignatureDoesNotMatch');
  });

  it('canonical resource: sub-resources sorted, values decoded, `name=` kept as sent, others dropped', () => {
    expect(canonicalResource('/b/k', splitV2Query('versionId=a%2Fb&uploadId=u1&partNumber=2&x-id=GetObject&max-keys=3'), undefined)).toBe(
      '/b/k?partNumber=2&uploadId=u1&versionId=a/b',
    );
    expect(canonicalResource('/', splitV2Query('uploads=&prefix=p'), 'bucket')).toBe('/bucket/?uploads=');
    expect(canonicalResource('/k', splitV2Query('uploads'), 'bucket')).toBe('/bucket/k?uploads');
  });

  it('isSigV2Request tells SigV2 from SigV4 and from anonymous requests', () => {
    expect(isSigV2Request(`AWS ${AKID}:sig`, new URLSearchParams())).toBe(true);
    expect(isSigV2Request('AWS4-HMAC-SHA256 Credential=x', new URLSearchParams())).toBe(false);
    expect(isSigV2Request(undefined, new URLSearchParams('AWSAccessKeyId=a&Signature=s&Expires=1'))).toBe(true);
    expect(isSigV2Request(undefined, new URLSearchParams('AWSAccessKeyId=a&X-Amz-Signature=s'))).toBe(false);
    expect(isSigV2Request(undefined, new URLSearchParams('prefix=a'))).toBe(false);
  });
});
