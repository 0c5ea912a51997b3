import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

/** `code: null` for bodiless responses (HEAD errors, 304), where only the status is on the wire. */
async function expectS3Error(promise: Promise<unknown>, code: string | null, status?: number) {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(S3ServiceException);
    const serviceError = error as S3ServiceException;
    if (code !== null) expect(serviceError.name).toBe(code);
    if (status !== undefined) expect(serviceError.$metadata.httpStatusCode).toBe(status);
    return serviceError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

describe('S3 gateway with @aws-sdk/client-s3', () => {
  let server: TestServer;
  let alice: TestAccount;
  let bob: TestAccount;
  let s3: S3Client;
  let bobS3: S3Client;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.createAccount();
    bob = await server.createAccount();
    s3 = server.client(alice);
    bobS3 = server.client(bob);
  });
  afterAll(async () => {
    s3?.destroy();
    bobS3?.destroy();
    await server?.close();
  });

  it('lists the default bucket of a new account', async () => {
    const result = await s3.send(new ListBucketsCommand({}));
    expect(result.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
  });

  it('creates, heads, locates and deletes buckets', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
    const location = await s3.send(new GetBucketLocationCommand({ Bucket: 'photos' }));
    expect(location.LocationConstraint).toBe('eu-central-1');
    await expectS3Error(s3.send(new CreateBucketCommand({ Bucket: 'photos' })), 'BucketAlreadyOwnedByYou', 409);
    // Bucket namespaces are per account: Bob may own a "photos" too.
    await bobS3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'a.txt', Body: 'x' }));
    await expectS3Error(s3.send(new DeleteBucketCommand({ Bucket: 'photos' })), 'BucketNotEmpty', 409);
    await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'a.txt' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'photos' }));
    // Bob still owns a "photos": names are per account, so to Alice it is simply missing (404, not 403).
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: 'photos' })), null, 404);
    await bobS3.send(new DeleteBucketCommand({ Bucket: 'photos' }));
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: 'photos' })), null, 404);
  });

  it('rejects invalid bucket names and an 11th bucket', async () => {
    await expectS3Error(s3.send(new CreateBucketCommand({ Bucket: 'Invalid_Name' })), 'InvalidBucketName', 400);
    const created: string[] = [];
    for (let i = 1; i <= 9; i++) {
      const name = `limit-${i}`;
      await s3.send(new CreateBucketCommand({ Bucket: name }));
      created.push(name);
    }
    await expectS3Error(s3.send(new CreateBucketCommand({ Bucket: 'limit-10' })), 'TooManyBuckets', 400);
    for (const name of created) await s3.send(new DeleteBucketCommand({ Bucket: name }));
  });

  it('round-trips bytes, metadata and content headers', async () => {
    const body = randomBytes(100_000);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'default',
        Key: 'docs/report.bin',
        Body: body,
        ContentType: 'application/x-test',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="r.bin"',
        ContentLanguage: 'de',
        Metadata: { owner: 'alice', 'project-id': '42' },
      }),
    );
    expect(put.ETag).toBe(`"${md5(body)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'docs/report.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ETag).toBe(`"${md5(body)}"`);
    expect(got.ContentType).toBe('application/x-test');
    expect(got.CacheControl).toBe('max-age=60');
    expect(got.ContentDisposition).toBe('attachment; filename="r.bin"');
    expect(got.ContentLanguage).toBe('de');
    expect(got.Metadata).toEqual({ owner: 'alice', 'project-id': '42' });
    expect(got.ContentLength).toBe(body.length);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'docs/report.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.LastModified).toBeInstanceOf(Date);
  });

  it('stores and returns the default CRC32 checksum the SDK sends', async () => {
    const body = Buffer.from('checksummed body');
    const put = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'crc.txt', Body: body }));
    expect(put.ChecksumCRC32).toBeDefined();
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'crc.txt', ChecksumMode: 'ENABLED' }));
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    const ranged = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'crc.txt', ChecksumMode: 'ENABLED', Range: 'bytes=0-3' }));
    expect(ranged.ChecksumCRC32).toBeUndefined();
    expect(await ranged.Body!.transformToString()).toBe('chec');
  });

  it('verifies SHA-256, CRC32C, SHA1 and CRC64NVME checksums on upload', async () => {
    for (const algorithm of ['SHA256', 'CRC32C', 'SHA1', 'CRC64NVME'] as const) {
      const body = randomBytes(3000);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: `sum-${algorithm}`, Body: body, ChecksumAlgorithm: algorithm }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: `sum-${algorithm}`, ChecksumMode: 'ENABLED' }));
      expect(head[`Checksum${algorithm}`]).toBe(put[`Checksum${algorithm}`]);
      expect(head[`Checksum${algorithm}`]).toBeTruthy();
    }
  });

  it('streams an upload of unknown length (aws-chunked with a trailer checksum) without storing the framing', async () => {
    const body = randomBytes(300_000);
    const stream = Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'streamed.bin', Body: stream, ContentLength: body.length }));
    expect(put.ChecksumCRC32).toBeTruthy();
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'streamed.bin', ChecksumMode: 'ENABLED' }));
    // The trailer checksum arrived after the data and was still verified and stored.
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.length).toBe(body.length);
    expect(bytes.equals(body)).toBe(true);
  });

  it('serves ranges, including suffix and open-ended, and 416 beyond the end', async () => {
    const body = Buffer.from('0123456789abcdefghij');
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'range.txt', Body: body }));
    const get = async (range: string) => {
      const result = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'range.txt', Range: range }));
      return { text: await result.Body!.transformToString(), contentRange: result.ContentRange, length: result.ContentLength };
    };
    expect(await get('bytes=2-5')).toEqual({ text: '2345', contentRange: 'bytes 2-5/20', length: 4 });
    expect(await get('bytes=15-')).toEqual({ text: 'fghij', contentRange: 'bytes 15-19/20', length: 5 });
    expect(await get('bytes=-3')).toEqual({ text: 'hij', contentRange: 'bytes 17-19/20', length: 3 });
    expect(await get('bytes=18-100')).toEqual({ text: 'ij', contentRange: 'bytes 18-19/20', length: 2 });
    await expectS3Error(get('bytes=20-25'), 'InvalidRange', 416);
  });

  it('honours conditional GETs', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'cond.txt', Body: 'conditional' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'cond.txt' }));
    const ok = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'cond.txt', IfMatch: put.ETag }));
    expect(await ok.Body!.transformToString()).toBe('conditional');
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'cond.txt', IfMatch: '"nope"' })), 'PreconditionFailed', 412);
    const notModified = await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'cond.txt', IfNoneMatch: put.ETag })), null, 304);
    expect(notModified.$metadata.httpStatusCode).toBe(304);
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'cond.txt', IfModifiedSince: new Date(head.LastModified!.getTime() + 1000) })), null, 304);
    await expectS3Error(
      s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'cond.txt', IfUnmodifiedSince: new Date(head.LastModified!.getTime() - 10_000) })),
      'PreconditionFailed',
      412,
    );
  });

  it('applies response-content-* overrides', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'override.txt', Body: 'x', ContentType: 'text/plain' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'override.txt', ResponseContentType: 'application/json', ResponseContentDisposition: 'inline' }));
    expect(got.ContentType).toBe('application/json');
    expect(got.ContentDisposition).toBe('inline');
  });

  it('handles keys with spaces, plus, percent, unicode, = and &', async () => {
    const keys = ['with space.txt', 'plus+sign.txt', 'percent%20literal.txt', 'ünïcødé/文件.txt', 'a=b&c=d.txt', 'dir/./dot', "tilde~!*()'.txt"];
    for (const key of keys) {
      await s3.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: key }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: key }));
      expect(await got.Body!.transformToString()).toBe(key);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'default' }));
    const listedKeys = listed.Contents?.map((object) => object.Key) ?? [];
    for (const key of keys) expect(listedKeys).toContain(key);
  });

  it('answers NoSuchKey and NoSuchBucket', async () => {
    const error = await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'missing' })), 'NoSuchKey', 404);
    expect((error as unknown as { Key?: string }).Key).toBe('missing');
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'x' })), 'NoSuchBucket', 404);
  });

  it('copies objects with COPY and REPLACE directives, across buckets of the account', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'copies' }));
    const body = Buffer.from('copy me');
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'src dir/original+1.txt', Body: body, ContentType: 'text/plain', Metadata: { a: '1' } }));
    const copied = await s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'same-meta.txt', CopySource: `default/${encodeURIComponent('src dir/original+1.txt')}` }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${md5(body)}"`);
    const same = await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'same-meta.txt' }));
    expect(same.Metadata).toEqual({ a: '1' });
    expect(same.ContentType).toBe('text/plain');
    expect(await same.Body!.transformToString()).toBe('copy me');
    await s3.send(
      new CopyObjectCommand({
        Bucket: 'copies',
        Key: 'new-meta.txt',
        CopySource: `default/${encodeURIComponent('src dir/original+1.txt')}`,
        MetadataDirective: 'REPLACE',
        ContentType: 'application/octet-stream',
        Metadata: { b: '2' },
      }),
    );
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'new-meta.txt' }));
    expect(replaced.Metadata).toEqual({ b: '2' });
    expect(replaced.ContentType).toBe('application/octet-stream');
    await expectS3Error(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'same-meta.txt', CopySource: 'copies/same-meta.txt' })), 'InvalidRequest', 400);
    await s3.send(new DeleteObjectsCommand({ Bucket: 'copies', Delete: { Objects: [{ Key: 'same-meta.txt' }, { Key: 'new-meta.txt' }] } }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'copies' }));
  });

  it('deletes many objects at once, quietly or not', async () => {
    for (let i = 0; i < 5; i++) await s3.send(new PutObjectCommand({ Bucket: 'default', Key: `bulk/${i}`, Body: String(i) }));
    const loud = await s3.send(new DeleteObjectsCommand({ Bucket: 'default', Delete: { Objects: [{ Key: 'bulk/0' }, { Key: 'bulk/1' }, { Key: 'bulk/none' }] } }));
    expect(loud.Deleted?.map((deleted) => deleted.Key).sort()).toEqual(['bulk/0', 'bulk/1', 'bulk/none']);
    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: 'default', Delete: { Quiet: true, Objects: [{ Key: 'bulk/2' }, { Key: 'bulk/3' }, { Key: 'bulk/4' }] } }));
    expect(quiet.Deleted ?? []).toEqual([]);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: 'bulk/' }));
    expect(left.KeyCount).toBe(0);
  });

  it('paginates ListObjectsV2 and ListObjects with delimiters and common prefixes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys = ['a/1', 'a/2', 'b/1', 'c', 'd/x/1', 'd/y', 'e', 'f/1', 'g'];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }));
    const seenKeys: string[] = [];
    const seenPrefixes: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2, ContinuationToken: token }));
      pages += 1;
      seenKeys.push(...(page.Contents?.map((object) => object.Key!) ?? []));
      seenPrefixes.push(...(page.CommonPrefixes?.map((prefix) => prefix.Prefix!) ?? []));
      expect(page.KeyCount).toBeLessThanOrEqual(2);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) expect(token).toBeTruthy();
    } while (token);
    expect(seenKeys).toEqual(['c', 'e', 'g']);
    expect(seenPrefixes).toEqual(['a/', 'b/', 'd/', 'f/']);
    expect(pages).toBe(4);

    const under = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'd/', Delimiter: '/' }));
    expect(under.Contents?.map((object) => object.Key)).toEqual(['d/y']);
    expect(under.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['d/x/']);

    const after = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'd/y' }));
    expect(after.Contents?.map((object) => object.Key)).toEqual(['e', 'f/1', 'g']);

    const v1Keys: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await s3.send(new ListObjectsCommand({ Bucket: 'listing', MaxKeys: 4, Marker: marker }));
      v1Keys.push(...(page.Contents?.map((object) => object.Key!) ?? []));
      if (!page.IsTruncated) break;
      marker = page.NextMarker ?? page.Contents!.at(-1)!.Key;
    }
    expect(v1Keys).toEqual(keys);
    await s3.send(new DeleteObjectsCommand({ Bucket: 'listing', Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'listing' }));
  });

  it('runs a multipart upload with UploadPartCopy, ListParts and ListMultipartUploads', async () => {
    const part1 = randomBytes(5 * 1024 * 1024);
    const part3 = randomBytes(1234);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'copy-source.bin', Body: randomBytes(6 * 1024 * 1024) }));
    const source = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'copy-source.bin', Range: `bytes=0-${5 * 1024 * 1024 - 1}` }));
    const part2 = Buffer.from(await source.Body!.transformToByteArray());

    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'multi/big.bin', ContentType: 'application/x-big', Metadata: { m: 'p' } }));
    expect(UploadId).toBeTruthy();
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'default' }));
    expect(uploads.Uploads?.map((upload) => upload.UploadId)).toContain(UploadId);

    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'multi/big.bin', UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await s3.send(
      new UploadPartCopyCommand({
        Bucket: 'default',
        Key: 'multi/big.bin',
        UploadId,
        PartNumber: 2,
        CopySource: 'default/copy-source.bin',
        CopySourceRange: `bytes=0-${5 * 1024 * 1024 - 1}`,
      }),
    );
    const p3 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'multi/big.bin', UploadId, PartNumber: 3, Body: part3 }));
    expect(p1.ETag).toBe(`"${md5(part1)}"`);
    expect(p2.CopyPartResult?.ETag).toBe(`"${md5(part2)}"`);

    const parts = await s3.send(new ListPartsCommand({ Bucket: 'default', Key: 'multi/big.bin', UploadId }));
    expect(parts.Parts?.map((part) => [part.PartNumber, part.Size])).toEqual([
      [1, part1.length],
      [2, part2.length],
      [3, part3.length],
    ]);

    await expectS3Error(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'default',
          Key: 'multi/big.bin',
          UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 2, ETag: p2.CopyPartResult!.ETag },
              { PartNumber: 1, ETag: p1.ETag },
            ],
          },
        }),
      ),
      'InvalidPartOrder',
      400,
    );
    await expectS3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: 'multi/big.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0123"' }] } })),
      'InvalidPart',
      400,
    );

    const complete = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'default',
        Key: 'multi/big.bin',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 },
            { PartNumber: 2, ETag: p2.CopyPartResult!.ETag },
            { PartNumber: 3, ETag: p3.ETag, ChecksumCRC32: p3.ChecksumCRC32 },
          ],
        },
      }),
    );
    const expectedEtag = `"${md5(Buffer.concat([part1, part2, part3].map((part) => createHash('md5').update(part).digest())))}-3"`;
    expect(complete.ETag).toBe(expectedEtag);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'multi/big.bin' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.equals(Buffer.concat([part1, part2, part3]))).toBe(true);
    expect(got.ETag).toBe(expectedEtag);
    expect(got.ContentType).toBe('application/x-big');
    expect(got.Metadata).toEqual({ m: 'p' });
    await s3.send(new DeleteObjectsCommand({ Bucket: 'default', Delete: { Objects: [{ Key: 'multi/big.bin' }, { Key: 'copy-source.bin' }] } }));
  });

  it('rejects too-small parts and aborts uploads', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'small-parts' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'small-parts', UploadId, PartNumber: 1, Body: 'tiny' }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'small-parts', UploadId, PartNumber: 2, Body: 'tiny' }));
    await expectS3Error(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'default',
          Key: 'small-parts',
          UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: p1.ETag },
              { PartNumber: 2, ETag: p2.ETag },
            ],
          },
        }),
      ),
      'EntityTooSmall',
      400,
    );
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'default', Key: 'small-parts', UploadId }));
    await expectS3Error(s3.send(new ListPartsCommand({ Bucket: 'default', Key: 'small-parts', UploadId })), 'NoSuchUpload', 404);
  });

  it('manages object tags, including x-amz-tagging on upload', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'tagged.txt', Body: 't', Tagging: 'env=prod&team=storage' }));
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: 'default', Key: 'tagged.txt' }));
    expect(tags.TagSet).toEqual([
      { Key: 'env', Value: 'prod' },
      { Key: 'team', Value: 'storage' },
    ]);
    await s3.send(new PutObjectTaggingCommand({ Bucket: 'default', Key: 'tagged.txt', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'tagged.txt' }));
    expect(head.TagCount).toBe(1);
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: 'default', Key: 'tagged.txt' }));
    const cleared = await s3.send(new GetObjectTaggingCommand({ Bucket: 'default', Key: 'tagged.txt' }));
    expect(cleared.TagSet).toEqual([]);
  });

  it('serves presigned GET and PUT URLs to a plain HTTP client', async () => {
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'default', Key: 'presigned/file.txt', ContentType: 'text/plain' }), { expiresIn: 600 });
    const put = await fetch(putUrl, { method: 'PUT', body: 'via presigned put', headers: { 'Content-Type': 'text/plain' } });
    expect(put.status).toBe(200);
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'default', Key: 'presigned/file.txt' }), { expiresIn: 3600 });
    const get = await fetch(getUrl);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('via presigned put');
    expect(get.headers.get('content-type')).toBe('text/plain');
    const tampered = await fetch(getUrl.replace('presigned/file.txt', 'presigned/other.txt'));
    expect(tampered.status).toBe(403);
    expect(await tampered.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it("keeps accounts isolated: Bob gets NoSuchBucket on every operation on Alice's buckets (names are per account)", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'alice-private' }));
    await s3.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'secret.txt', Body: 'secret' }));
    const attempts: [string, () => Promise<unknown>][] = [
      ['GetObject existing', () => bobS3.send(new GetObjectCommand({ Bucket: 'alice-private', Key: 'secret.txt' }))],
      ['GetObject missing', () => bobS3.send(new GetObjectCommand({ Bucket: 'alice-private', Key: 'nothing.txt' }))],
      ['PutObject', () => bobS3.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'x', Body: 'x' }))],
      ['DeleteObject', () => bobS3.send(new DeleteObjectCommand({ Bucket: 'alice-private', Key: 'secret.txt' }))],
      ['DeleteObjects', () => bobS3.send(new DeleteObjectsCommand({ Bucket: 'alice-private', Delete: { Objects: [{ Key: 'secret.txt' }] } }))],
      ['ListObjectsV2', () => bobS3.send(new ListObjectsV2Command({ Bucket: 'alice-private' }))],
      ['ListObjects', () => bobS3.send(new ListObjectsCommand({ Bucket: 'alice-private' }))],
      ['DeleteBucket', () => bobS3.send(new DeleteBucketCommand({ Bucket: 'alice-private' }))],
      ['GetObjectTagging', () => bobS3.send(new GetObjectTaggingCommand({ Bucket: 'alice-private', Key: 'secret.txt' }))],
      ['CreateMultipartUpload', () => bobS3.send(new CreateMultipartUploadCommand({ Bucket: 'alice-private', Key: 'm' }))],
      ['ListMultipartUploads', () => bobS3.send(new ListMultipartUploadsCommand({ Bucket: 'alice-private' }))],
      ['CopyObject from Alice', () => bobS3.send(new CopyObjectCommand({ Bucket: 'default', Key: 'stolen', CopySource: 'alice-private/secret.txt' }))],
    ];
    for (const [name, attempt] of attempts) {
      await expectS3Error(attempt(), 'NoSuchBucket', 404).catch((failure) => {
        throw new Error(`${name}: ${failure}`);
      });
    }
    // HEAD errors have no body: the SDK reports the status only.
    const head = await expectS3Error(bobS3.send(new HeadObjectCommand({ Bucket: 'alice-private', Key: 'secret.txt' })), null, 404);
    expect(head.$metadata.httpStatusCode).toBe(404);
    const headMissing = await expectS3Error(bobS3.send(new HeadObjectCommand({ Bucket: 'alice-private', Key: 'nothing' })), null, 404);
    expect(headMissing.$metadata.httpStatusCode).toBe(404);
    const still = await s3.send(new GetObjectCommand({ Bucket: 'alice-private', Key: 'secret.txt' }));
    expect(await still.Body!.transformToString()).toBe('secret');
    const bobList = await bobS3.send(new ListBucketsCommand({}));
    expect(bobList.Buckets?.map((bucket) => bucket.Name)).not.toContain('alice-private');
  });
});
