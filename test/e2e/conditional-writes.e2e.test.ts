/**
 * Issue #14, conditional writes: `If-None-Match: *` and `If-Match: <etag>` on PutObject and
 * CompleteMultipartUpload, as AWS answers them (412 PreconditionFailed naming the condition, 409
 * ConditionalRequestConflict for a write that met another being committed, NoSuchKey for If-Match
 * on a missing key, 501 for forms S3 refuses), exact under concurrency: of racing If-None-Match
 * writes exactly one succeeds and the key holds its bytes, within one server, across two servers
 * over one DATA_DIR, and across WORKERS=2 processes. A refused write releases its quota
 * reservation and records no event. Runs on both backends (BACKEND_INDEPENDENT_SUITES).
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startCloudStorage, type RunningCloudStorage } from '../../server.ts';
import { awsCli } from '../support/clients.ts';
import { spawnServer, startTestServer, tempDir, testConfig, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';
import { sendRaw, signRaw, type Credentials, type RawResponse } from '../support/raw-s3.ts';
import { startRedisServer } from '../support/redis-server.ts';

let server: TestServer;
/** Buckets to empty and delete at the end: on the s3 backend the RGW (memstore) is shared. */
const created: { s3: S3Client; bucket: string }[] = [];

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  for (const { s3, bucket } of created) {
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const upload of uploads.Uploads ?? []) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const object of listing.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
  }
  await server?.close();
});

/** An SDK client without retries: every refusal shows as the server answered it. */
function sdk(endpoint: string, account: Credentials): S3Client {
  return new S3Client({
    endpoint,
    region: 'eu-central-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey },
  });
}

async function newAccount(): Promise<{ account: TestAccount; s3: S3Client; bucket: string }> {
  const account = await server.createAccount();
  const s3 = sdk(server.endpoint, account);
  const bucket = `cond-${Math.random().toString(36).slice(2, 10)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  created.push({ s3, bucket });
  return { account, s3, bucket };
}

async function rawPut(account: Credentials, path: string, body: string, headers: Record<string, string>, expectContinue = false): Promise<RawResponse> {
  const signed = await signRaw(server.endpoint, account, { method: 'PUT', path, body, headers, signingDate: new Date() });
  return sendRaw(server.endpoint, { ...signed, expectContinue });
}

async function bytesOf(s3: S3Client, bucket: string, key: string): Promise<string> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToString();
}

/** `status code` of an SDK call: `200` or the refusal's status and S3 code. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return '200';
  } catch (error) {
    const failure = error as { name: string; $metadata?: { httpStatusCode?: number } };
    return `${failure.$metadata?.httpStatusCode} ${failure.name}`;
  }
}

/** The object events the account's writes recorded (relayed from the backend's journal first). */
async function objectEvents(running: RunningCloudStorage, accountId: string): Promise<string[]> {
  await running.core.events.flush();
  const events = await running.core.events.log.read({ accountId, limit: 1000 });
  return events.filter((event) => event.type.startsWith('object.')).map((event) => `${event.type} ${event.key}`);
}

const LOSERS = ['412 PreconditionFailed', '409 ConditionalRequestConflict'];

describe('PutObject with If-None-Match / If-Match (AWS SDK, raw HTTP)', () => {
  it('If-None-Match: * creates once; a second write gets 412 naming the condition, stores nothing, reserves nothing and records no event', async () => {
    const { account, s3, bucket } = await newAccount();
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lock', Body: 'holder-1', IfNoneMatch: '*' })))).toBe('200');
    const usageBefore = await server.running.core.quotasUsecases.usage(account.userId);

    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lock', Body: 'holder-2, who lost', IfNoneMatch: '*' })))).toBe('412 PreconditionFailed');
    const raw = await rawPut(account, `/${bucket}/lock`, 'holder-3', { 'if-none-match': '*' });
    expect(raw.status).toBe(412);
    expect(raw.text).toContain('<Code>PreconditionFailed</Code>');
    expect(raw.text).toContain('<Condition>If-None-Match</Condition>');

    expect(await bytesOf(s3, bucket, 'lock')).toBe('holder-1');
    expect(await server.running.core.quotasUsecases.reservedBytes(account.userId)).toBe(0);
    expect(await server.running.core.quotasUsecases.usage(account.userId)).toEqual(usageBefore);
    expect(await objectEvents(server.running, account.userId)).toEqual(['object.created lock']);
  });

  it('refuses an existing key before the body is sent (Expect: 100-continue gets 412, never 100)', async () => {
    const { account, s3, bucket } = await newAccount();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'kept' }));
    const refused = await rawPut(account, `/${bucket}/k`, 'x'.repeat(64 * 1024), { 'if-none-match': '*' }, true);
    expect([refused.status, refused.code, refused.sawContinue]).toEqual([412, 'PreconditionFailed', false]);
    expect(await bytesOf(s3, bucket, 'k')).toBe('kept');
  });

  it('If-Match replaces the version it names, 412 for a stale ETag, 404 NoSuchKey for a missing key', async () => {
    const { account, s3, bucket } = await newAccount();
    const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'v1' }));
    const second = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'v2', IfMatch: first.ETag }));
    expect(await bytesOf(s3, bucket, 'doc')).toBe('v2');
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'v3', IfMatch: first.ETag })))).toBe('412 PreconditionFailed');
    const stale = await rawPut(account, `/${bucket}/doc`, 'v3', { 'if-match': first.ETag! });
    expect(stale.text).toContain('<Condition>If-Match</Condition>');
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'nothing-here', Body: 'v', IfMatch: second.ETag })))).toBe('404 NoSuchKey');
    expect(await bytesOf(s3, bucket, 'doc')).toBe('v2');
    expect(await objectEvents(server.running, account.userId)).toEqual(['object.created doc', 'object.updated doc']);
  });

  it('answers 501 NotImplemented, naming the header, for conditions S3 does not accept on writes', async () => {
    const { account, s3, bucket } = await newAccount();
    const cases: [Record<string, string>, string][] = [
      [{ 'if-none-match': '"0cc175b9c0f1b6a831c399e269772661"' }, 'If-None-Match'],
      [{ 'if-match': '*' }, 'If-Match'],
      [{ 'if-match': '"0cc175b9c0f1b6a831c399e269772661"', 'if-none-match': '*' }, 'If-Match,If-None-Match'],
    ];
    for (const [headers, named] of cases) {
      const refused = await rawPut(account, `/${bucket}/never`, 'v', headers);
      expect([refused.status, refused.code], refused.text).toEqual([501, 'NotImplemented']);
      expect(refused.text).toContain(`<Header>${named}</Header>`);
    }
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'never' })))).toBe('404 NoSuchKey');
  });

  it('of 8 concurrent If-None-Match: * PUTs of distinct bodies exactly one answers 200, and the key holds its bytes', async () => {
    const { account, s3, bucket } = await newAccount();
    const bodies = Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(65 + i)}`.repeat(200 * 1024));
    const results = await Promise.all(bodies.map((body) => outcome(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'race', Body: body, IfNoneMatch: '*' })))));
    const winners = results.flatMap((result, index) => (result === '200' ? [index] : []));
    expect(winners, results.join(', ')).toHaveLength(1);
    for (const result of results.filter((result) => result !== '200')) expect(LOSERS).toContain(result);
    expect(await bytesOf(s3, bucket, 'race')).toBe(bodies[winners[0]!]);
    expect(await server.running.core.quotasUsecases.reservedBytes(account.userId)).toBe(0);
    expect((await server.running.core.quotasUsecases.usage(account.userId)).usedBytes).toBe(200 * 1024);
    expect(await objectEvents(server.running, account.userId)).toEqual(['object.created race']);
  });
});

describe('aws CLI', () => {
  it('put-object --if-none-match "*" refuses to overwrite (the Terraform lock-file pattern)', async () => {
    const { account, s3, bucket } = await newAccount();
    const cli = awsCli(server.endpoint, account);
    try {
      // The lock is taken (through the SDK: one CLI start costs seconds), then the CLI tries to take it again.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'state.tflock', Body: 'lock held by run 1', IfNoneMatch: '*' }));
      const file = join(cli.home, 'state.tflock');
      writeFileSync(file, 'lock held by run 2');
      const second = await cli.run(['s3api', 'put-object', '--bucket', bucket, '--key', 'state.tflock', '--body', file, '--if-none-match', '*']);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain('PreconditionFailed');
      expect(await bytesOf(s3, bucket, 'state.tflock')).toBe('lock held by run 1');
    } finally {
      cli.cleanup();
    }
  });
});

describe('CompleteMultipartUpload with conditions', () => {
  it('If-None-Match: * after the key appeared meanwhile answers 412; the upload stays completable and abortable', async () => {
    const { account, s3, bucket } = await newAccount();
    const start = async () => {
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big' }));
      const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'big', UploadId, PartNumber: 1, Body: `parts of ${UploadId}` }));
      return { UploadId: UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } };
    };
    const upload = await start();
    const other = await start();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: 'appeared meanwhile' }));

    expect(await outcome(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'big', ...upload, IfNoneMatch: '*' })))).toBe('412 PreconditionFailed');
    expect(await bytesOf(s3, bucket, 'big')).toBe('appeared meanwhile');
    expect((await s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'big', UploadId: upload.UploadId }))).Parts).toHaveLength(1);
    // Completable: without the condition it replaces the object, as an unconditional completion does.
    expect(await outcome(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'big', ...upload })))).toBe('200');
    expect(await bytesOf(s3, bucket, 'big')).toBe(`parts of ${upload.UploadId}`);
    // Abortable.
    expect(await outcome(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'big', ...other, IfNoneMatch: '*' })))).toBe('412 PreconditionFailed');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'big', UploadId: other.UploadId }));
    expect(await outcome(s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'big', UploadId: other.UploadId })))).toBe('404 NoSuchUpload');
    expect(await server.running.core.quotasUsecases.reservedBytes(account.userId)).toBe(0);
    expect(await objectEvents(server.running, account.userId)).toEqual(['object.created big', 'object.updated big']);
  });
});

describe('racing conditional writes across servers sharing one DATA_DIR', () => {
  it('two servers over one DATA_DIR (separate index or catalog connections): exactly one of 8 If-None-Match PUTs wins', async () => {
    const config = testConfig(server.dataDir);
    const second = await startCloudStorage({ config, logger: createLogger('error') });
    try {
      const { account, s3, bucket } = await newAccount();
      const other = sdk(`http://127.0.0.1:${second.s3Port}`, account);
      const bodies = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(100 * 1024));
      const results = await Promise.all(
        bodies.map((body, i) => outcome((i % 2 === 0 ? s3 : other).send(new PutObjectCommand({ Bucket: bucket, Key: 'shared', Body: body, IfNoneMatch: '*' })))),
      );
      const winners = results.flatMap((result, index) => (result === '200' ? [index] : []));
      expect(winners, results.join(', ')).toHaveLength(1);
      for (const result of results.filter((result) => result !== '200')) expect(LOSERS).toContain(result);
      expect(await bytesOf(other, bucket, 'shared')).toBe(bodies[winners[0]!]);
    } finally {
      await second.close();
    }
  });
});

// Real worker processes run the built bundle, which only the fs project builds.
describe.skipIf(process.env.CS_TEST_BACKEND === 's3')('WORKERS=2 (node:cluster processes over one DATA_DIR)', () => {
  it('exactly one of 8 If-None-Match PUTs spread over both workers wins', async () => {
    const dir = tempDir('cs-cond-workers-');
    const redis = await startRedisServer();
    const cluster = await spawnServer({ DATA_DIR: dir.path, WORKERS: '2', REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '2000', FS_FSYNC: 'false', RATE_LIMIT_DASHBOARD: 'off' });
    try {
      const account = await signupForS3(cluster);
      const bodies = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(100 * 1024));
      // One connection per request: the primary deals them to both workers.
      const results = await Promise.all(
        bodies.map(async (body) => {
          const signed = await signRaw(cluster.endpoint, account, {
            method: 'PUT',
            path: '/default/workers-race',
            body,
            headers: { 'if-none-match': '*' },
            signingDate: new Date(),
          });
          const response = await sendRaw(cluster.endpoint, { ...signed, headers: { ...signed.headers, connection: 'close' } });
          return `${response.status} ${response.code ?? ''}`.trim();
        }),
      );
      const winners = results.flatMap((result, index) => (result === '200' ? [index] : []));
      expect(winners, results.join(', ')).toHaveLength(1);
      for (const result of results.filter((result) => result !== '200')) expect(LOSERS).toContain(result);
      const signed = await signRaw(cluster.endpoint, account, { method: 'GET', path: '/default/workers-race', signingDate: new Date() });
      expect((await sendRaw(cluster.endpoint, signed)).text).toBe(bodies[winners[0]!]);
    } finally {
      await cluster.stop();
      await redis.close();
      dir.remove();
    }
  });
});
