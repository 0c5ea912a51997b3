/**
 * End to end: the real AWS SDK v3 S3 client (and its presigner) against a bare Node HTTP server
 * that runs the verifier → aws-chunked decoder → payload verifier chain exactly as the gateway
 * wires it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checksumAlgorithmFromHeader, type ChecksumAlgorithm } from '../../checksums/checksums.ts';
import { systemClock } from '../../clock.ts';
import { S3Error } from '../../errors/s3-errors.ts';
import { awsChunkedOptionsFor, createAwsChunkedDecoder } from './aws-chunked.ts';
import { splitRawUrl } from './canonical.ts';
import { createPayloadVerifier } from './payload-verifier.ts';
import { createSigningKeyCache } from './signing-key-cache.ts';
import { createSigV4Verifier, type VerifiedRequest } from './verify.ts';

const AKID = 'AKIDE2ETEST';
const SECRET = 'e2e/secret+key=with/odd+chars';

interface Record_ {
  method: string;
  url: string;
  verified?: VerifiedRequest;
  body?: Buffer;
  error?: S3Error;
  checksum?: string;
}

const records: Record_[] = [];
let server: http.Server;
let endpoint: string;

const verifier = createSigV4Verifier({
  clock: systemClock,
  lookupSecret: (id) => (id === AKID ? SECRET : undefined),
  region: 'us-east-1',
  regionStrict: true,
  signingKeyCache: createSigningKeyCache({ maxEntries: 10 }),
  debug: true,
});

async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const record: Record_ = { method: req.method!, url: req.url! };
  records.push(record);
  try {
    const verified = verifier.verify({ method: req.method!, target: splitRawUrl(req.url!), headers: req.headers, rawHeaders: req.rawHeaders });
    record.verified = verified;
    const chunked = awsChunkedOptionsFor(verified, req.headers);
    const decoder = chunked ? createAwsChunkedDecoder(chunked) : undefined;

    let checksum: { algorithm: ChecksumAlgorithm; expected?: string } | undefined;
    let trailerName: string | undefined;
    for (const name of chunked?.expectTrailer ?? []) {
      const algorithm = checksumAlgorithmFromHeader(name);
      if (algorithm) {
        checksum = { algorithm };
        trailerName = name;
      }
    }
    for (const [name, value] of Object.entries(req.headers)) {
      const algorithm = checksumAlgorithmFromHeader(name);
      if (algorithm && typeof value === 'string') checksum = { algorithm, expected: value };
    }
    const payloadVerifier = createPayloadVerifier({
      expectedSha256: verified.payload.kind === 'sha256' ? verified.payload.hash : undefined,
      checksum,
      trailerChecksum: decoder && trailerName ? () => decoder.trailers[trailerName!] : undefined,
      contentMd5: typeof req.headers['content-md5'] === 'string' ? req.headers['content-md5'] : undefined,
      expectedLength: chunked ? chunked.decodedContentLength : Number(req.headers['content-length'] ?? 0),
    });
    const parts: Buffer[] = [];
    const sink = async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) parts.push(c);
    };
    if (decoder) await pipeline(req, decoder, payloadVerifier, sink);
    else await pipeline(req, payloadVerifier, sink);
    record.body = Buffer.concat(parts);
    record.checksum = payloadVerifier.computedChecksum;

    const url = req.url!;
    if (req.method === 'PUT') {
      res.writeHead(200, { ETag: '"' + createHash('md5').update(record.body).digest('hex') + '"', 'Content-Length': '0' });
      res.end();
    } else if (req.method === 'POST' && url.includes('delete')) {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>');
    } else if (req.method === 'POST' && url.includes('uploads')) {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>up+load/id=</UploadId></InitiateMultipartUploadResult>',
      );
    } else if (req.method === 'GET' && url.includes('list-type=2')) {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>',
      );
    } else {
      res.writeHead(200, { 'Content-Length': '5', 'Content-Type': 'text/plain', ETag: '"x"' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    }
  } catch (error) {
    const e = error instanceof S3Error ? error : new S3Error('InternalError', String(error));
    record.error = e;
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${e.code}</Code><Message>${e.message}</Message></Error>`;
    res.writeHead(e.status, { 'Content-Type': 'application/xml', Connection: 'close', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    req.resume();
  }
}

function client(secretAccessKey = SECRET, region = 'us-east-1') {
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: AKID, secretAccessKey },
    maxAttempts: 1,
  });
}

function lastRecord(): Record_ {
  return records[records.length - 1];
}

function expectVerified(): Record_ {
  const record = lastRecord();
  expect(record.error, record.error ? `${record.error.code}: ${JSON.stringify(record.error.details)}` : '').toBeUndefined();
  expect(record.verified?.accessKeyId).toBe(AKID);
  return record;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const KEYS = ['plain.txt', 'my key+x.txt', 'ünï/文件 😀.bin', 'a%b=c&d;e,f', 'dir/../x/./y', 'double//slash', "tilde~*'()!$@:"];

describe('AWS SDK v3 S3Client against the verifier chain', () => {
  for (const key of KEYS) {
    it(`PutObject (Buffer body) + GetObject + HeadObject: ${JSON.stringify(key)}`, async () => {
      const s3 = client();
      const body = randomBytes(3000);
      await s3.send(new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: body, Metadata: { note: '  spaced   value ' } }));
      const put = expectVerified();
      expect(put.body?.equals(body)).toBe(true);

      const got = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: key, Range: 'bytes=0-4' }));
      expect(await got.Body?.transformToString()).toBe('hello');
      expectVerified();
      await s3.send(new HeadObjectCommand({ Bucket: 'bucket', Key: key }));
      expectVerified();
    });
  }

  it('PutObject with a stream body uses aws-chunked with a checksum trailer', async () => {
    const s3 = client();
    const data = randomBytes(300_000);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'bucket',
        Key: 'streamed object',
        Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]),
        ContentLength: data.length,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    const record = expectVerified();
    expect(record.verified?.payload.kind).toMatch(/^streaming-/);
    expect(record.body?.equals(data)).toBe(true);
    expect(record.checksum).toBeDefined();
  });

  it('ListObjectsV2 with awkward prefix, delimiter and continuation parameters', async () => {
    const s3 = client();
    await s3.send(
      new ListObjectsV2Command({
        Bucket: 'bucket',
        Prefix: 'a b/c+d=e&f%g/ü',
        Delimiter: '/',
        StartAfter: "x~y*z'(1)",
        ContinuationToken: 'abc+/def==',
        MaxKeys: 10,
      }),
    );
    expectVerified();
  });

  it('DeleteObjects (POST ?delete with a checksummed XML body)', async () => {
    const s3 = client();
    await s3.send(new DeleteObjectsCommand({ Bucket: 'bucket', Delete: { Objects: [{ Key: 'a b' }, { Key: 'c+d' }] } }));
    const record = expectVerified();
    expect(record.body?.toString()).toContain('<Key>a b</Key>');
  });

  it('multipart: CreateMultipartUpload (?uploads) and UploadPart (?partNumber&uploadId)', async () => {
    const s3 = client();
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bucket', Key: 'mp key+1' }));
    expectVerified();
    const part = randomBytes(10_000);
    await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'mp key+1', UploadId: created.UploadId, PartNumber: 1, Body: part }));
    const record = expectVerified();
    expect(record.body?.equals(part)).toBe(true);
  });

  it('presigned GET and PUT URLs used with fetch', async () => {
    const s3 = client();
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'bucket', Key: 'pre signed+ü', ResponseContentType: 'text/plain' }), {
      expiresIn: 300,
    });
    const got = await fetch(getUrl);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('hello');
    expect(expectVerified().verified?.auth).toBe('presigned');

    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'bucket', Key: 'upload me' }), { expiresIn: 300 });
    const put = await fetch(putUrl, { method: 'PUT', body: 'uploaded via presigned url' });
    expect(put.status).toBe(200);
    const record = expectVerified();
    expect(record.body?.toString()).toBe('uploaded via presigned url');

    // Tampering with the URL breaks it.
    const tampered = await fetch(getUrl.replace('pre%20signed', 'pre%20signeD'));
    expect(tampered.status).toBe(403);
    expect(lastRecord().error?.code).toBe('SignatureDoesNotMatch');
  });

  it('a wrong secret and a wrong region are rejected with S3 error codes', async () => {
    await expect(client('wrong').send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
    await expect(client(SECRET, 'eu-west-1').send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }))).rejects.toMatchObject({
      name: 'AuthorizationHeaderMalformed',
    });
  });
});
