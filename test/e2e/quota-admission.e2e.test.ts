/**
 * Issue #9 item 7: a write is admitted against what it ACTUALLY replaces when it commits, not
 * against the object found before its body arrived. Each test holds an upload open over the
 * network (headers and half the body sent), changes the key meanwhile through another client, and
 * only then sends the rest: the commit must settle against the key as it is at that moment.
 * Also: MAX_OBJECTS_PER_ACCOUNT and MAX_UPLOADS_PER_ACCOUNT, so zero-byte writes cannot grow the
 * index without bound. Runs on both backends (BACKEND_INDEPENDENT_SUITES).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { signRaw } from '../support/raw-s3.ts';

const KiB = 1024;
const QUOTA = 1024 * KiB;
const MAX_OBJECTS = 4;
const MAX_UPLOADS = 2;

interface Answer {
  status: number;
  text: string;
  /** `<Code>` of an S3 error, `error` of a JSON one. */
  code?: string;
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

/** An upload whose body is sent in two halves, the second only when the test says so. */
interface HeldUpload {
  finish(): Promise<Answer>;
}

function answerOf(request: ClientRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
        if (code === undefined && text.startsWith('{')) code = (JSON.parse(text) as { error?: string }).error;
        resolve({ status: response.statusCode ?? 0, text, code });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/**
 * Sends the request head, waits for `ready` (the server accepted the upload and reserved quota for
 * it; fails if the server answers instead), then sends the first half of `body`.
 */
async function hold(request: ClientRequest, body: Buffer, ready: Promise<unknown>): Promise<HeldUpload> {
  const answer = answerOf(request);
  const early = answer.then((result) => {
    throw new Error(`answered before the body was sent: ${result.status} ${result.text}`);
  });
  request.flushHeaders();
  await Promise.race([ready, early]);
  early.catch(() => {});
  request.write(body.subarray(0, body.length / 2));
  return {
    finish() {
      request.end(body.subarray(body.length / 2));
      return answer;
    },
  };
}

describe('quota admission at commit, and object/upload counts', () => {
  let server: TestServer;
  const clients: S3Client[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      DEFAULT_QUOTA_BYTES: String(QUOTA),
      MAX_OBJECTS_PER_ACCOUNT: String(MAX_OBJECTS),
      MAX_UPLOADS_PER_ACCOUNT: String(MAX_UPLOADS),
    });
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await server?.close();
  });

  async function account(): Promise<{ account: TestAccount; s3: S3Client }> {
    const created = await server.createAccount();
    const s3 = server.client(created);
    clients.push(s3);
    return { account: created, s3 };
  }

  const usedBytes = async (who: TestAccount) => (await server.running.core.quotasUsecases.usage(who.userId)).usedBytes;

  /**
   * A signed S3 PUT with `Expect: 100-continue`: the server answers 100 only after it reserved
   * quota for the upload, which makes "the reservation was taken" a point the test can wait for.
   */
  async function holdS3Put(who: TestAccount, key: string, body: Buffer): Promise<HeldUpload> {
    const signed = await signRaw(server.endpoint, who, { method: 'PUT', path: `/default/${key}`, body, signingDate: new Date() });
    const url = new URL(server.endpoint);
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      method: 'PUT',
      path: signed.path,
      headers: { ...signed.headers, 'content-length': String(body.length), expect: '100-continue' },
    });
    return hold(request, body, once(request, 'continue'));
  }

  /**
   * A raw file API upload, streamed without `Expect`: the test waits until the server holds the
   * upload's reservation (`expectReserved` bytes), i.e. it measured the file it replaces.
   */
  async function holdFileUpload(who: TestAccount, key: string, body: Buffer, expectReserved: number): Promise<HeldUpload> {
    const url = new URL(server.apiEndpoint);
    const request = httpRequest({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: `/api/v1/files?bucket=default&key=${encodeURIComponent(key)}`,
      headers: { 'x-api-key': `${who.accessKeyId}:${who.secretAccessKey}`, 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
    });
    const reserved = (async () => {
      for (;;) {
        if ((await server.running.core.quotasUsecases.reservedBytes(who.userId)) === expectReserved) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    return hold(request, body, reserved);
  }

  async function getBytes(s3: S3Client, key: string): Promise<Buffer | 'NoSuchKey'> {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return 'NoSuchKey';
      throw error;
    }
  }

  it('refuses a held overwrite whose object was deleted and its room refilled meanwhile, round after round (PutObject)', async () => {
    const { account: attacker, s3 } = await account();
    let victim = 'round-0';
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: victim, Body: randomBytes(900 * KiB) }));
    for (let round = 1; round <= 3; round++) {
      // The overwrite replaces 900 KiB with 900 KiB: it reserves nothing before its body.
      const held = await holdS3Put(attacker, victim, randomBytes(900 * KiB));
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: victim }));
      const next = `round-${round}`;
      await s3.send(new PutObjectCommand({ Bucket: 'default', Key: next, Body: randomBytes(900 * KiB) }));
      const finished = await held.finish();
      expect([finished.status, finished.code], finished.text).toEqual([403, 'QuotaExceeded']);
      expect(await getBytes(s3, victim)).toBe('NoSuchKey');
      expect(await usedBytes(attacker)).toBe(900 * KiB);
      victim = next;
    }
  });

  it('refuses a held overwrite when the object shrank meanwhile, and keeps the version it found at commit', async () => {
    const { account: who, s3 } = await account();
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'shrunk', Body: randomBytes(900 * KiB) }));
    const held = await holdS3Put(who, 'shrunk', randomBytes(900 * KiB));
    const small = randomBytes(KiB);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'shrunk', Body: small }));
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'filler', Body: randomBytes(900 * KiB) }));
    const finished = await held.finish();
    expect([finished.status, finished.code], finished.text).toEqual([403, 'QuotaExceeded']);
    expect(md5((await getBytes(s3, 'shrunk')) as Buffer)).toBe(md5(small));
    expect(await usedBytes(who)).toBe(901 * KiB);
  });

  it('lets a held overwrite commit when the object was replaced by a bigger one meanwhile, with exact usage', async () => {
    const { account: who, s3 } = await account();
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'grown', Body: randomBytes(400 * KiB) }));
    const body = randomBytes(500 * KiB);
    const held = await holdS3Put(who, 'grown', body);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'grown', Body: randomBytes(600 * KiB) }));
    const finished = await held.finish();
    expect(finished.status, finished.text).toBe(200);
    expect(md5((await getBytes(s3, 'grown')) as Buffer)).toBe(md5(body));
    expect(await usedBytes(who)).toBe(500 * KiB);
  });

  it('refuses a held file API upload whose replaced file was deleted and its room refilled meanwhile (413 JSON)', async () => {
    const { account: who, s3 } = await account();
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'file.bin', Body: randomBytes(800 * KiB) }));
    // 900 KiB over 800 KiB: 100 KiB reserved before the body, which is how the test knows it was measured.
    const held = await holdFileUpload(who, 'file.bin', randomBytes(900 * KiB), 100 * KiB);
    await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'file.bin' }));
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'other.bin', Body: randomBytes(800 * KiB) }));
    const finished = await held.finish();
    expect([finished.status, finished.code], finished.text).toEqual([413, 'files.quota_exceeded']);
    expect(JSON.parse(finished.text)).toEqual({ error: 'files.quota_exceeded', detail: expect.stringContaining('quota'), requestId: expect.any(String) });
    expect(await getBytes(s3, 'file.bin')).toBe('NoSuchKey');
    expect(await usedBytes(who)).toBe(800 * KiB);
  });

  it('caps the objects of an account (MAX_OBJECTS_PER_ACCOUNT) for puts, copies, completions and the file API, zero bytes included', async () => {
    const { account: who, s3 } = await account();
    for (const key of ['a', 'b', 'c', 'd']) await s3.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: Buffer.alloc(0) }));
    await expect(s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'e', Body: Buffer.alloc(0) }))).rejects.toMatchObject({
      name: 'QuotaExceeded',
      $metadata: { httpStatusCode: 403 },
      message: expect.stringContaining('objects'),
    });
    // Overwrites add no object.
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'a', Body: 'again' }));
    await expect(s3.send(new CopyObjectCommand({ Bucket: 'default', Key: 'copy', CopySource: 'default/a' }))).rejects.toMatchObject({ name: 'QuotaExceeded' });
    await s3.send(new CopyObjectCommand({ Bucket: 'default', Key: 'b', CopySource: 'default/a' }));

    const viaFiles = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=default&key=f`, {
      method: 'POST',
      headers: { 'x-api-key': `${who.accessKeyId}:${who.secretAccessKey}`, 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(viaFiles.status).toBe(413);
    expect(await viaFiles.json()).toMatchObject({ error: 'files.quota_exceeded', detail: expect.stringContaining('objects') });

    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'multi' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'multi', UploadId, PartNumber: 1, Body: 'part' }));
    const complete = () =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: 'multi', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    await expect(complete()).rejects.toMatchObject({ name: 'QuotaExceeded' });
    // Refused: nothing stored, the upload is still there to complete later.
    expect(await getBytes(s3, 'multi')).toBe('NoSuchKey');
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'default' }));
    expect(uploads.Uploads?.map((upload) => upload.UploadId)).toEqual([UploadId]);
    await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'd' }));
    await complete();
    expect(((await getBytes(s3, 'multi')) as Buffer).toString()).toBe('part');
    expect((await server.running.core.quotasUsecases.usage(who.userId)).objects).toBe(MAX_OBJECTS);
  });

  it('caps the multipart uploads in progress of an account (MAX_UPLOADS_PER_ACCOUNT)', async () => {
    const { s3 } = await account();
    const first = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'u1' }));
    await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'u2' }));
    await expect(s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'u3' }))).rejects.toMatchObject({
      name: 'QuotaExceeded',
      $metadata: { httpStatusCode: 403 },
      message: expect.stringContaining('multipart uploads in progress'),
    });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'default', Key: 'u1', UploadId: first.UploadId }));
    await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'u3' }));
  });
});
