/**
 * Issue #14, "S3 semantics" and "per-account namespaces": GetObjectAttributes, `?partNumber=`,
 * `Expect` values other than 100-continue, re-completing a completed upload, tag order,
 * CreateBucket of an owned bucket by region, and another account's bucket name answered exactly
 * like a name nobody uses, with no internal backend name (`cs-…`) in any answer. Over the network
 * against the real gateway, on both backends (BACKEND_INDEPENDENT_SUITES).
 */
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';

const MIB = 1024 * 1024;
// Every part but the last is at least S3's 5 MiB minimum, on both backends.
const PART_1 = randomBytes(5 * MIB);
const PART_2 = randomBytes(1000);
const MULTIPART_BODY = Buffer.concat([PART_1, PART_2]);
const SINGLE_BODY = Buffer.from('a single-part object');

let server: TestServer;
let alice: TestAccount;
let bob: TestAccount;
let s3: S3Client;
let backendPrefix: string;
let multipartEtag: string;
let singleEtag: string;

const crc32 = (bytes: Buffer): string => {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
};

async function raw(
  who: TestAccount,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string; region?: string } = {},
): Promise<RawResponse> {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, who, { method, path, headers: options.headers, body: options.body, region: options.region }));
}

/** Everything a client could read of an answer: no internal backend bucket name may be in it. */
function expectNoBackendName(response: RawResponse, label: string): void {
  const visible = `${JSON.stringify(response.headers)}\n${response.text}`;
  expect(visible.includes(backendPrefix), `${label}: ${visible}`).toBe(false);
}

beforeAll(async () => {
  server = await startTestServer();
  backendPrefix = server.running.core.config.BACKEND_BUCKET_PREFIX;
  alice = await server.createAccount();
  bob = await server.createAccount();
  s3 = server.client(alice);
  singleEtag = (await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'single.txt', Body: SINGLE_BODY, ChecksumAlgorithm: 'CRC32' }))).ETag!;
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'multi.bin', ChecksumAlgorithm: 'CRC32' }));
  const parts = [];
  for (const [index, body] of [PART_1, PART_2].entries()) {
    const uploaded = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'multi.bin', UploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: 'CRC32' }));
    parts.push({ PartNumber: index + 1, ETag: uploaded.ETag, ChecksumCRC32: uploaded.ChecksumCRC32 });
  }
  multipartEtag = (await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: 'multi.bin', UploadId, MultipartUpload: { Parts: parts } }))).ETag!;
});

afterAll(async () => {
  // The RGW is on memstore (RAM): what the suite stored goes.
  for (const key of ['single.txt', 'multi.bin', 'expect.txt', 'recomplete.bin', 'tagged.txt'])
    await s3?.send(new DeleteObjectCommand({ Bucket: 'default', Key: key })).catch(() => {});
  s3?.destroy();
  await server?.close();
});

describe('S3 semantics (issue #14)', () => {
  it('1. GetObjectAttributes answers ETag, Checksum, ObjectParts (paged by max-parts / part-number-marker), StorageClass, ObjectSize and Last-Modified', async () => {
    const all = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
    const first = await s3.send(new GetObjectAttributesCommand({ Bucket: 'default', Key: 'multi.bin', ObjectAttributes: [...all], MaxParts: 1 }));
    expect(first.ETag).toBe(multipartEtag.replace(/"/g, ''));
    expect(first.ObjectSize).toBe(MULTIPART_BODY.length);
    expect(first.StorageClass).toBe('STANDARD');
    expect(first.LastModified).toBeInstanceOf(Date);
    expect(first.Checksum?.ChecksumCRC32).toMatch(/-2$/);
    expect(first.ObjectParts).toMatchObject({ TotalPartsCount: 2, MaxParts: 1, IsTruncated: true, PartNumberMarker: '0', NextPartNumberMarker: '1' });
    expect(first.ObjectParts?.Parts).toEqual([{ PartNumber: 1, Size: PART_1.length, ChecksumCRC32: crc32(PART_1) }]);
    const second = await s3.send(new GetObjectAttributesCommand({ Bucket: 'default', Key: 'multi.bin', ObjectAttributes: ['ObjectParts'], MaxParts: 1, PartNumberMarker: '1' }));
    expect(second.ObjectParts).toMatchObject({ TotalPartsCount: 2, IsTruncated: false, PartNumberMarker: '1' });
    expect(second.ObjectParts?.Parts).toEqual([{ PartNumber: 2, Size: PART_2.length, ChecksumCRC32: crc32(PART_2) }]);
    expect(second.ETag).toBeUndefined();

    const single = await s3.send(new GetObjectAttributesCommand({ Bucket: 'default', Key: 'single.txt', ObjectAttributes: [...all] }));
    expect(single).toMatchObject({ ETag: singleEtag.replace(/"/g, ''), ObjectSize: SINGLE_BODY.length, StorageClass: 'STANDARD' });
    expect(single.Checksum).toEqual({ ChecksumCRC32: crc32(SINGLE_BODY), ChecksumType: 'FULL_OBJECT' });
    expect(single.ObjectParts).toBeUndefined();

    // No attribute named, or an unknown one: InvalidArgument; a missing key: NoSuchKey.
    expect((await raw(alice, 'GET', '/default/single.txt?attributes')).code).toBe('InvalidArgument');
    const unknown = await raw(alice, 'GET', '/default/single.txt?attributes', { headers: { 'x-amz-object-attributes': 'ETag,Colour' } });
    expect([unknown.status, unknown.code]).toEqual([400, 'InvalidArgument']);
    const missing = await raw(alice, 'GET', '/default/nothing?attributes', { headers: { 'x-amz-object-attributes': 'ETag' } });
    expect([missing.status, missing.code]).toEqual([404, 'NoSuchKey']);
  });

  it('2. GET/HEAD ?partNumber= serve that part (206, Content-Range, x-amz-mp-parts-count); part 1 of a plain object is all of it; beyond the last part is 416 InvalidPartNumber', async () => {
    const part1 = await raw(alice, 'GET', '/default/multi.bin?partNumber=1');
    expect(part1.status).toBe(206);
    expect(part1.headers['content-range']).toBe(`bytes 0-${PART_1.length - 1}/${MULTIPART_BODY.length}`);
    expect(part1.headers['x-amz-mp-parts-count']).toBe('2');
    expect(part1.body.equals(PART_1)).toBe(true);
    const part2 = await raw(alice, 'GET', '/default/multi.bin?partNumber=2');
    expect([part2.status, part2.headers['content-range'], part2.headers['content-length']]).toEqual([
      206,
      `bytes ${PART_1.length}-${MULTIPART_BODY.length - 1}/${MULTIPART_BODY.length}`,
      String(PART_2.length),
    ]);
    expect(part2.body.equals(PART_2)).toBe(true);
    const head2 = await raw(alice, 'HEAD', '/default/multi.bin?partNumber=2');
    expect([head2.status, head2.headers['content-length'], head2.headers['x-amz-mp-parts-count']]).toEqual([206, String(PART_2.length), '2']);
    const beyond = await raw(alice, 'GET', '/default/multi.bin?partNumber=3');
    expect([beyond.status, beyond.code]).toEqual([416, 'InvalidPartNumber']);
    expect((await raw(alice, 'HEAD', '/default/multi.bin?partNumber=3')).status).toBe(416);

    // Without partNumber there is no x-amz-mp-parts-count, on GET and HEAD.
    const whole = await raw(alice, 'GET', '/default/multi.bin');
    expect(whole.status).toBe(200);
    expect(whole.headers['x-amz-mp-parts-count']).toBeUndefined();
    expect(createHash('md5').update(whole.body).digest('hex')).toBe(createHash('md5').update(MULTIPART_BODY).digest('hex'));
    expect((await raw(alice, 'HEAD', '/default/multi.bin')).headers['x-amz-mp-parts-count']).toBeUndefined();

    const plain = await raw(alice, 'GET', '/default/single.txt?partNumber=1');
    expect([plain.status, plain.headers['content-range'], plain.text]).toEqual([206, `bytes 0-${SINGLE_BODY.length - 1}/${SINGLE_BODY.length}`, SINGLE_BODY.toString()]);
    expect(plain.headers['x-amz-mp-parts-count']).toBeUndefined();
    expect((await raw(alice, 'GET', '/default/single.txt?partNumber=2')).code).toBe('InvalidPartNumber');
    expect((await raw(alice, 'GET', '/default/single.txt?partNumber=0')).code).toBe('InvalidArgument');
    expect((await raw(alice, 'GET', '/default/single.txt?partNumber=1', { headers: { range: 'bytes=0-1' } })).code).toBe('InvalidRequest');

    // The SDK reads a part the same way.
    const viaSdk = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'multi.bin', PartNumber: 2 }));
    expect(viaSdk.PartsCount).toBe(2);
    expect(Buffer.from(await viaSdk.Body!.transformToByteArray()).equals(PART_2)).toBe(true);
  });

  it('3. an Expect value other than 100-continue is ignored (no 417): the request is served', async () => {
    const put = await raw(alice, 'PUT', '/default/expect.txt', { body: 'stored despite Expect', headers: { expect: 'something-else' } });
    expect(put.status).toBe(200);
    const got = await raw(alice, 'GET', '/default/expect.txt', { headers: { expect: 'x-unknown' } });
    expect([got.status, got.text]).toEqual([200, 'stored despite Expect']);
  });

  it('4. re-completing a completed upload with the same part list answers 200 with the same ETag; another part list is NoSuchUpload', async () => {
    const key = 'recomplete.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: key }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: key, UploadId, PartNumber: 1, Body: 'only part' }));
    const complete = (etag: string, partNumber = 1) =>
      raw(alice, 'POST', `/default/${key}?uploadId=${encodeURIComponent(UploadId!)}`, {
        body: `<CompleteMultipartUpload><Part><PartNumber>${partNumber}</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`,
      });
    const first = await complete(part.ETag!);
    expect(first.status).toBe(200);
    const etag = /<ETag>([^<]+)<\/ETag>/.exec(first.text)![1];
    // The same list again (ETag quoted or not): the same answer.
    for (const sent of [part.ETag!, part.ETag!.replace(/"/g, '')]) {
      const again = await complete(sent);
      expect([again.status, /<ETag>([^<]+)<\/ETag>/.exec(again.text)?.[1]]).toEqual([200, etag]);
    }
    const viaSdk = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect(viaSdk.ETag).toBe(etag.replace(/&quot;/g, '"'));
    const otherList = await complete(part.ETag!, 2);
    expect([otherList.status, otherList.code]).toEqual([404, 'NoSuchUpload']);
    const otherEtag = await complete('"0123456789abcdef0123456789abcdef"');
    expect([otherEtag.status, otherEtag.code]).toEqual([404, 'NoSuchUpload']);
    const stored = await raw(alice, 'GET', `/default/${key}`);
    expect([stored.status, stored.text]).toEqual([200, 'only part']);
  });

  it('5. GetObjectTagging returns tags sorted by key', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'tagged.txt', Body: 't', Tagging: 'zeta=1&alpha=2&Mid=3&beta=4' }));
    const keysOf = async () => (await s3.send(new GetObjectTaggingCommand({ Bucket: 'default', Key: 'tagged.txt' }))).TagSet?.map((tag) => tag.Key);
    expect(await keysOf()).toEqual(['Mid', 'alpha', 'beta', 'zeta']);
    await s3.send(
      new PutObjectTaggingCommand({
        Bucket: 'default',
        Key: 'tagged.txt',
        Tagging: { TagSet: ['y', 'b', 'x', 'a'].map((Key) => ({ Key, Value: Key.toUpperCase() })) },
      }),
    );
    expect(await keysOf()).toEqual(['a', 'b', 'x', 'y']);
  });

  it('6. CreateBucket of a bucket the caller owns: 200 in us-east-1, BucketAlreadyOwnedByYou elsewhere', async () => {
    const east = server.client(alice, { region: 'us-east-1' });
    try {
      await east.send(new CreateBucketCommand({ Bucket: 'owned-twice' }));
      const again = await east.send(new CreateBucketCommand({ Bucket: 'owned-twice' }));
      expect(again.$metadata.httpStatusCode).toBe(200);
      // Signed for another region, or asking for one: 409.
      const elsewhere = await raw(alice, 'PUT', '/owned-twice', { region: 'eu-central-1' });
      expect([elsewhere.status, elsewhere.code]).toEqual([409, 'BucketAlreadyOwnedByYou']);
      const constrained = await raw(alice, 'PUT', '/owned-twice', {
        region: 'us-east-1',
        body: '<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>',
      });
      expect([constrained.status, constrained.code]).toEqual([409, 'BucketAlreadyOwnedByYou']);
      const explicitEast = await raw(alice, 'PUT', '/owned-twice', {
        region: 'us-east-1',
        body: '<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>',
      });
      expect(explicitEast.status).toBe(200);
    } finally {
      await east.send(new DeleteBucketCommand({ Bucket: 'owned-twice' })).catch(() => {});
      east.destroy();
    }
  });

  it("7. another account's bucket name is NoSuchBucket (404) for every operation, exactly like a name nobody uses, and no backend name is ever shown", async () => {
    const name = 'alices-private';
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    await s3.send(new PutObjectCommand({ Bucket: name, Key: 'secret.txt', Body: 'secret' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: name, Key: 'upload' }));
    try {
      const upload = encodeURIComponent(UploadId!);
      const operations: [string, string, string, { headers?: Record<string, string>; body?: string }?][] = [
        ['HeadBucket', 'HEAD', '/{b}'],
        ['GetBucketLocation', 'GET', '/{b}?location'],
        ['GetBucketVersioning', 'GET', '/{b}?versioning'],
        ['ListObjects', 'GET', '/{b}'],
        ['ListObjectsV2', 'GET', '/{b}?list-type=2'],
        ['ListMultipartUploads', 'GET', '/{b}?uploads'],
        ['DeleteObjects', 'POST', '/{b}?delete', { body: '<Delete><Object><Key>secret.txt</Key></Object></Delete>' }],
        ['DeleteBucket', 'DELETE', '/{b}'],
        ['PutObject', 'PUT', '/{b}/x', { body: 'x' }],
        ['GetObject', 'GET', '/{b}/secret.txt'],
        ['GetObject missing key', 'GET', '/{b}/nothing'],
        ['GetObject partNumber', 'GET', '/{b}/secret.txt?partNumber=1'],
        ['HeadObject', 'HEAD', '/{b}/secret.txt'],
        ['GetObjectAttributes', 'GET', '/{b}/secret.txt?attributes', { headers: { 'x-amz-object-attributes': 'ETag' } }],
        ['DeleteObject', 'DELETE', '/{b}/secret.txt'],
        ['GetObjectTagging', 'GET', '/{b}/secret.txt?tagging'],
        ['PutObjectTagging', 'PUT', '/{b}/secret.txt?tagging', { body: '<Tagging><TagSet></TagSet></Tagging>' }],
        ['DeleteObjectTagging', 'DELETE', '/{b}/secret.txt?tagging'],
        ['CreateMultipartUpload', 'POST', '/{b}/m?uploads'],
        ['UploadPart', 'PUT', `/{b}/upload?partNumber=1&uploadId=${upload}`, { body: 'p' }],
        ['ListParts', 'GET', `/{b}/upload?uploadId=${upload}`],
        [
          'CompleteMultipartUpload',
          'POST',
          `/{b}/upload?uploadId=${upload}`,
          { body: '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>' },
        ],
        ['AbortMultipartUpload', 'DELETE', `/{b}/upload?uploadId=${upload}`],
        ['CopyObject (source)', 'PUT', '/default/stolen', { headers: { 'x-amz-copy-source': '/{b}/secret.txt' } }],
      ];
      const answer = async (bucket: string, method: string, template: string, options: { headers?: Record<string, string>; body?: string } = {}) => {
        const fill = (value: string) => value.replaceAll('{b}', bucket);
        const headers = options.headers && Object.fromEntries(Object.entries(options.headers).map(([header, value]) => [header, fill(value)]));
        return raw(bob, method, fill(template), { headers, body: options.body });
      };
      for (const [label, method, template, options] of operations) {
        const foreign = await answer(name, method, template, options);
        const nobodys = await answer('nobodys-name', method, template, options);
        expect([label, foreign.status, foreign.code], foreign.text).toEqual([label, 404, method === 'HEAD' ? undefined : 'NoSuchBucket']);
        // Byte for byte the answer for a name nobody uses, but for the name itself and the request id.
        const normalise = (response: RawResponse, bucket: string) => response.text.replaceAll(bucket, '{b}').replace(/<RequestId>[^<]*<\/RequestId>/, '');
        expect(normalise(foreign, name), label).toBe(normalise(nobodys, 'nobodys-name'));
        if (method !== 'HEAD') expect(foreign.text, label).toContain(`<BucketName>${name}</BucketName>`);
        expectNoBackendName(foreign, label);
      }
      const still = await raw(alice, 'GET', `/${name}/secret.txt`);
      expect([still.status, still.text]).toEqual([200, 'secret']);

      // BucketNotEmpty names the caller's bucket, never the backend's.
      const notEmpty = await raw(alice, 'DELETE', `/${name}`);
      expect([notEmpty.status, notEmpty.code]).toEqual([409, 'BucketNotEmpty']);
      expect(notEmpty.text).toContain(`<BucketName>${name}</BucketName>`);
      expectNoBackendName(notEmpty, 'BucketNotEmpty');

      // Names are per account: Bob creates his own bucket of that name, which is empty and his.
      const created = await raw(bob, 'PUT', `/${name}`);
      expect(created.status).toBe(200);
      expectNoBackendName(created, 'CreateBucket');
      const bobsListing = await raw(bob, 'GET', `/${name}?list-type=2`);
      expect(bobsListing.status).toBe(200);
      expect(bobsListing.text).not.toContain('secret.txt');
      expectNoBackendName(bobsListing, 'ListObjectsV2');
      expect((await raw(bob, 'DELETE', `/${name}`)).status).toBe(204);
      // Bob deleted his bucket while Alice still owns hers: the name is NoSuchBucket to Bob again, not 403.
      expect((await raw(bob, 'HEAD', `/${name}`)).status).toBe(404);
      expect((await raw(alice, 'HEAD', `/${name}`)).status).toBe(200);
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: name, Key: 'secret.txt' })).catch(() => {});
      await raw(alice, 'DELETE', `/${name}/upload?uploadId=${encodeURIComponent(UploadId!)}`).catch(() => {});
      await s3.send(new DeleteBucketCommand({ Bucket: name })).catch(() => {});
    }
  });
});
