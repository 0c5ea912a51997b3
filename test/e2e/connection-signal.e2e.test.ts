import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';

/**
 * The client signal (src/http/client-signal.ts) is one AbortSignal per connection, shared by all
 * its requests. Every listener a request adds to it must go when the request is done, or a
 * long keep-alive connection would collect them: Node warns once a signal holds more than its
 * limit (64 here), so two hundred requests of every kind over one connection must not make
 * this process warn. The servers run in this process, so their warnings are ours to see.
 */
describe('one keep-alive connection serving many requests', () => {
  let server: TestServer;
  let account: TestAccount;
  let s3: S3Client;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeAll(async () => {
    server = await startTestServer();
    account = await server.createAccount();
    s3 = new S3Client({
      endpoint: server.endpoint,
      region: 'eu-central-1',
      forcePathStyle: true,
      credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey },
      // Exactly one connection, reused for every request.
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 1 }) },
    });
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    s3?.destroy();
    await server?.close();
  });

  it('leaves no abort listener behind on the connection (no leak warning after 200 requests of every kind)', async () => {
    const large = randomBytes(3 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'large.bin', Body: large }));
    for (let round = 0; round < 25; round++) {
      const key = `small-${round}.txt`;
      await s3.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: `round ${round}` }));
      expect(await (await s3.send(new GetObjectCommand({ Bucket: 'default', Key: key }))).Body!.transformToString()).toBe(`round ${round}`);
      // A streamed body (not the in-memory small-object path).
      const body = await (await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'large.bin' }))).Body!.transformToByteArray();
      expect(Buffer.from(body).equals(large)).toBe(true);
      expect((await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: key }))).ContentLength).toBe(`round ${round}`.length);
      await expect(s3.send(new GetObjectCommand({ Bucket: 'default', Key: `missing-${round}` }))).rejects.toMatchObject({ name: 'NoSuchKey' });
      expect((await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: 'small-' }))).KeyCount).toBe(1);
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: key }));
      if (round % 5 === 0) {
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'parts.bin' }));
        const part = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'parts.bin', UploadId, PartNumber: 1, Body: 'one part' }));
        await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: 'parts.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning').map((warning) => warning.message)).toEqual([]);
  });
});
