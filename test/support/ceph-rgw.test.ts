import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { cephAvailable, startCephRgw, type CephRgw } from './ceph-rgw.ts';

describe.skipIf(!cephAvailable())('scripts/ceph-rgw.sh: a real Ceph RGW as an S3 backend', () => {
  let rgw: CephRgw | undefined;
  let s3: S3Client;
  const bucket = `cs-test-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    rgw = await startCephRgw();
    s3 = new S3Client({
      endpoint: rgw.endpoint,
      region: rgw.region,
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
    });
  }, 150_000);

  afterAll(async () => {
    s3?.destroy();
    await rgw?.stop();
  });

  it('starts an RGW that answers on loopback', () => {
    expect(rgw!.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(rgw!.accessKey).not.toBe('');
    expect(rgw!.secretKey).not.toBe('');
    expect(rgw!.region).not.toBe('');
  });

  it('stores, lists, uploads in parts and deletes objects', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));

    const big = randomBytes(5 * 1024 * 1024);
    const small = Buffer.from('tiny');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big.bin', Body: big }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/small.txt', Body: small, ContentType: 'text/plain' }));

    const gotBig = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    expect(Buffer.from(await gotBig.Body!.transformToByteArray()).equals(big)).toBe(true);
    const gotSmall = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/small.txt' }));
    expect(gotSmall.ContentType).toBe('text/plain');
    expect(Buffer.from(await gotSmall.Body!.transformToByteArray()).equals(small)).toBe(true);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([
      ['big.bin', big.length],
      ['dir/small.txt', small.length],
    ]);
    const delimited = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    expect(delimited.Contents?.map((o) => o.Key)).toEqual(['big.bin']);
    expect(delimited.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['dir/']);

    const part1 = randomBytes(5 * 1024 * 1024);
    const part2 = Buffer.from('!');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'multi.bin' }));
    const etags: string[] = [];
    for (const [index, body] of [part1, part2].entries()) {
      const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'multi.bin', UploadId, PartNumber: index + 1, Body: body }));
      etags.push(part.ETag!);
    }
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'multi.bin',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
    const gotMulti = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'multi.bin' }));
    expect(gotMulti.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    // Ceph 16.2 (Debian 12) answers CompleteMultipartUpload with an empty <ETag></ETag> (a known RGW
    // bug, fixed in later releases); HEAD/GET/list carry the right one.
    if (completed.ETag) expect(completed.ETag).toBe(gotMulti.ETag);
    expect(gotMulti.ContentLength).toBe(part1.length + part2.length);
    expect(Buffer.from(await gotMulti.Body!.transformToByteArray()).equals(Buffer.concat([part1, part2]))).toBe(true);

    for (const key of ['big.bin', 'dir/small.txt', 'multi.bin']) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
    expect((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(0);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await expect(s3.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toThrow();
  });

  it('stop() kills the cluster and removes its directory', async () => {
    const { dir } = rgw!;
    await rgw!.stop();
    if (!process.env.CEPH_RGW_ENV_FILE) expect(existsSync(dir)).toBe(false);
    rgw = undefined;
  });
});
