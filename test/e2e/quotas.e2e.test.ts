import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, type S3Client, UploadPartCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServerInTempDir, startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw } from '../support/raw-s3.ts';
import { startGatewayPair, type GatewayPair } from '../support/gateway-pair.ts';
import type { RedisTestServer } from '../support/redis-server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

async function put(server: { endpoint: string }, account: TestAccount, key: string, size: number, extra: { expectContinue?: boolean } = {}) {
  const req = await signRaw(server.endpoint, account, { method: 'PUT', path: `/default/${key}`, body: randomBytes(size), signingDate: new Date() });
  return sendRaw(server.endpoint, { ...req, expectContinue: extra.expectContinue });
}

async function usedBytes(server: TestServer, account: TestAccount): Promise<number> {
  return (await server.running.core.quotasUsecases.usage(account.userId)).usedBytes;
}

describe('storage quota, enforced before the body is accepted', () => {
  let server: TestServer;
  let account: TestAccount;

  beforeAll(async () => {
    server = await startTestServer({ DEFAULT_QUOTA_BYTES: String(1 * MiB) });
    account = await server.createAccount();
  });
  afterAll(async () => server?.close());

  it('refuses an upload that would exceed the quota with 403 QuotaExceeded and stores nothing', async () => {
    expect((await put(server, account, 'first', 600 * KiB)).status).toBe(200);
    const refused = await put(server, account, 'second', 600 * KiB);
    expect([refused.status, refused.code]).toEqual([403, 'QuotaExceeded']);
    expect(refused.text).toContain('<QuotaBytes>1048576</QuotaBytes>');
    expect((await put(server, account, 'second', 400 * KiB)).status).toBe(200);
    expect(await usedBytes(server, account)).toBe(1000 * KiB);
    const head = await sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method: 'HEAD', path: '/default/missing-one', signingDate: new Date() }));
    expect(head.status).toBe(404);
  });

  it('refuses before 100 Continue, so the body is never sent', async () => {
    const refused = await put(server, account, 'continue', 600 * KiB, { expectContinue: true });
    expect([refused.status, refused.code]).toEqual([403, 'QuotaExceeded']);
    expect(refused.sawContinue).toBe(false);
  });

  it('needs room only for the growth of an overwrite, and frees space on delete at once', async () => {
    // 1000 KiB used: overwriting the 600 KiB object with 624 KiB grows usage to exactly 1 MiB.
    expect((await put(server, account, 'first', 624 * KiB)).status).toBe(200);
    expect(await usedBytes(server, account)).toBe(MiB);
    expect((await put(server, account, 'tiny', 1)).code).toBe('QuotaExceeded');
    const deleted = await sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method: 'DELETE', path: '/default/first', signingDate: new Date() }));
    expect(deleted.status).toBe(204);
    expect(await usedBytes(server, account)).toBe(400 * KiB);
    expect((await put(server, account, 'after-delete', 600 * KiB)).status).toBe(200);
  });

  it('holds presigned uploads to the same quota', async () => {
    const client = server.client(account);
    const url = await getSignedUrl(client, new PutObjectCommand({ Bucket: 'default', Key: 'presigned.bin' }), { expiresIn: 600 });
    const response = await fetch(url, { method: 'PUT', body: randomBytes(100 * KiB) });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>QuotaExceeded</Code>');
    client.destroy();
  });

  it('does not let concurrent uploads jointly overrun the quota', async () => {
    const other = await server.createAccount();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => put(server, other, `concurrent-${i}`, 300 * KiB)));
    const stored = results.filter((result) => result.status === 200).length;
    expect(stored).toBe(3);
    expect(results.filter((result) => result.code === 'QuotaExceeded')).toHaveLength(7);
    expect(await usedBytes(server, other)).toBe(900 * KiB);
  });
});

describe('quota with multipart uploads and copies', () => {
  let server: TestServer;
  let account: TestAccount;
  let s3: S3Client;

  beforeAll(async () => {
    server = await startTestServer({ DEFAULT_QUOTA_BYTES: String(12 * MiB) });
    account = await server.createAccount();
    s3 = server.client(account);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('counts parts in progress, frees them on abort and keeps the count exact on completion', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'big' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'big', UploadId, PartNumber: 1, Body: randomBytes(5 * MiB) }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'big', UploadId, PartNumber: 2, Body: randomBytes(5 * MiB) }));
    expect(await usedBytes(server, account)).toBe(10 * MiB);
    expect((await put(server, account, 'too-much', 3 * MiB)).code).toBe('QuotaExceeded');
    const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'other' }));
    await expect(s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'other', UploadId: other.UploadId, PartNumber: 1, Body: randomBytes(3 * MiB) }))).rejects.toMatchObject({
      name: 'QuotaExceeded',
    });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'default', Key: 'other', UploadId: other.UploadId }));
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'default',
        Key: 'big',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.ETag },
          ],
        },
      }),
    );
    expect(await usedBytes(server, account)).toBe(10 * MiB);
    const copy = await sendRaw(
      server.endpoint,
      await signRaw(server.endpoint, account, { method: 'PUT', path: '/default/big-copy', headers: { 'x-amz-copy-source': '/default/big' }, signingDate: new Date() }),
    );
    expect([copy.status, copy.code]).toEqual([403, 'QuotaExceeded']);
    expect(await usedBytes(server, account)).toBe(10 * MiB);
  });
});

describe('quota shared through Redis, and Redis outages', () => {
  let pair: GatewayPair;
  let redis: RedisTestServer;
  let first: GatewayPair['first'];
  let second: GatewayPair['second'];
  let account: TestAccount;

  beforeAll(async () => {
    pair = await startGatewayPair({ DEFAULT_QUOTA_BYTES: String(1 * MiB), RATE_LIMIT_WRITE: 'off' }, 'shared-quota@example.com');
    ({ redis, first, second, account } = pair);
  });
  afterAll(async () => pair?.close());

  it('lets two gateways fill one quota exactly, concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => put(i % 2 === 0 ? first : second, account, `shared-${i}`, 300 * KiB)));
    expect(results.map((result) => `${result.status} ${result.code ?? ''}`.trim()).sort()).toEqual([...Array(3).fill('200'), ...Array(5).fill('403 QuotaExceeded')]);
    expect(results.filter((result) => result.status === 200)).toHaveLength(3);
    expect(results.filter((result) => result.code === 'QuotaExceeded')).toHaveLength(5);
  });

  it('falls back to stored usage while Redis is down, without 500s', async () => {
    await redis.stop();
    try {
      const refused = await put(first, account, 'while-down', 300 * KiB);
      expect([refused.status, refused.code]).toEqual([403, 'QuotaExceeded']);
      expect((await put(second, account, 'small-while-down', 10 * KiB)).status).toBe(200);
    } finally {
      await redis.start();
    }
    // Back: the store resynchronises from stored usage (900 KiB + 10 KiB).
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 403; attempt++) {
      status = (await put(first, account, 'after-restart', 200 * KiB)).status;
      if (status !== 403) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(403);
    expect((await put(first, account, 'fits', 100 * KiB)).status).toBe(200);
  });
});

describe('quota and usage from the admin CLI', () => {
  let running: Awaited<ReturnType<typeof spawnServerInTempDir>>;
  let env: Record<string, string>;
  let server: Awaited<ReturnType<typeof spawnServerInTempDir>>['server'];

  beforeAll(async () => {
    running = await spawnServerInTempDir();
    ({ env, server } = running);
  });
  afterAll(async () => running?.close());

  it('sets a quota, reports exact usage and reconciles it against the backend', async () => {
    const user = (await runCli(['user', 'create', '--email', 'quota@example.com', '--password', 'long enough password'], env)).json;
    const setQuota = await runCli(['user', 'set-quota', '--email', 'quota@example.com', '--bytes', String(256 * KiB)], env);
    expect(setQuota.json).toMatchObject({ email: 'quota@example.com', quotaBytes: 256 * KiB });
    const account = { userId: user.userId, email: user.email, accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey };
    const target = { endpoint: server.endpoint };
    expect((await put(target, account, 'a', 100 * KiB)).status).toBe(200);
    expect((await put(target, account, 'b', 100 * KiB)).status).toBe(200);
    expect((await put(target, account, 'c', 100 * KiB)).code).toBe('QuotaExceeded');

    const usage = await runCli(['usage', '--email', 'quota@example.com'], env);
    expect(usage.code).toBe(0);
    expect(usage.json).toMatchObject({ usedBytes: 200 * KiB, objectBytes: 200 * KiB, objects: 2, multipartBytes: 0, quotaBytes: 256 * KiB });
    expect(usage.json.buckets).toEqual([{ name: 'default', bytes: 200 * KiB, objects: 2, multipartBytes: 0 }]);

    const reconcile = await runCli(['usage', 'reconcile', '--email', 'quota@example.com'], env);
    expect(reconcile.json.drift).toBe(false);
    expect(reconcile.json.accounts[0].buckets[0].recounted).toEqual({ bytes: 200 * KiB, objects: 2, multipartBytes: 0 });
  });
});
