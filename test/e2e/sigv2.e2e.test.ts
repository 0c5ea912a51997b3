/**
 * AWS Signature Version 2 (issue #14) against the real gateway: boto3 with signature_version='s3'
 * and its default us-east-1 presigning (sigv2_client.py), s3cmd with signature_v2, and raw
 * requests for every refusal. Runs on fs and on the RGW backend (BACKEND_INDEPENDENT_SUITES).
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { type CliHarness, describeRun, ensureOk, python, s3cmd, writeRandomFile } from '../support/clients.ts';
import { type RawResponse, sendRaw } from '../support/raw-s3.ts';

const SCRIPT = fileURLToPath(new URL('./sigv2_client.py', import.meta.url));
const TIMEOUT = 120_000;
const MiB = 1024 * 1024;
/** Virtual-host addressing for the raw tests: `<bucket>.s3.sigv2.test` names the bucket in the Host. */
const S3_DOMAIN = 's3.sigv2.test';

/** Real time plus an offset the tests move: clients sign with the real clock, the refusals move the server's. */
function offsetClock(): Clock & { offsetMs: number } {
  const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
  return clock;
}

/**
 * An independent SigV2 signer, written from AWS's documentation (not the server's code): VERB,
 * Content-MD5, Content-Type, Date (or Expires), x-amz-* headers sorted, then the resource.
 */
function stringToSign(method: string, resource: string, headers: Record<string, string>, dateOrExpires?: string): string {
  const lower = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  const amz = Object.keys(lower)
    .filter((name) => name.startsWith('x-amz-'))
    .sort()
    .map((name) => `${name}:${lower[name]}\n`)
    .join('');
  const date = dateOrExpires ?? (lower['x-amz-date'] !== undefined ? '' : (lower.date ?? ''));
  return `${method}\n${lower['content-md5'] ?? ''}\n${lower['content-type'] ?? ''}\n${date}\n${amz}${resource}`;
}

function hmacSha1(secret: string, data: string): string {
  return createHmac('sha1', secret).update(data, 'utf8').digest('base64');
}

interface V2Request {
  method: string;
  /** Raw target as sent. */
  path: string;
  /** CanonicalizedResource: the path without non-sub-resource parameters, `/<bucket>` first for virtual hosts. */
  resource?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

describe('SigV2 (AWS Signature Version 2)', () => {
  let server: TestServer;
  let account: TestAccount;
  let s3: S3Client;
  let py: CliHarness;
  const clock = offsetClock();

  beforeAll(async () => {
    server = await startTestServer({ S3_DOMAIN }, { clock });
    account = await server.createAccount();
    s3 = server.client(account);
    py = python(server.endpoint, account);
  });
  afterAll(async () => {
    s3?.destroy();
    py?.cleanup();
    await server?.close();
  });

  /** Sends a request signed with SigV2 header auth (Date = the server's clock unless given). */
  function sendV2(req: V2Request, credentials: { accessKeyId: string; secretAccessKey: string } = account): Promise<RawResponse> {
    const headers: Record<string, string> = { date: clock.now().toUTCString(), ...req.headers };
    const signature = hmacSha1(credentials.secretAccessKey, stringToSign(req.method, req.resource ?? req.path, headers));
    return sendRaw(server.endpoint, { method: req.method, path: req.path, body: req.body, headers: { ...headers, authorization: `AWS ${credentials.accessKeyId}:${signature}` } });
  }

  /** A SigV2 presigned target (`?AWSAccessKeyId=&Expires=&Signature=`). */
  function presignV2(method: string, path: string, expiresEpochSeconds: number, credentials: { accessKeyId: string; secretAccessKey: string } = account): string {
    const signature = hmacSha1(credentials.secretAccessKey, stringToSign(method, path, {}, String(expiresEpochSeconds)));
    return `${path}?AWSAccessKeyId=${credentials.accessKeyId}&Expires=${expiresEpochSeconds}&Signature=${encodeURIComponent(signature)}`;
  }

  async function scenario(name: string): Promise<any> {
    const result = await py.run([SCRIPT, name], { timeoutMs: TIMEOUT - 5_000 });
    expect(result.code, describeRun(result)).toBe(0);
    try {
      return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '');
    } catch {
      throw new Error(`no JSON summary\n${describeRun(result)}`);
    }
  }

  async function getBody(key: string): Promise<Buffer | undefined> {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  it("boto3 signature_version='s3': put/get/head/list/copy/tagging/multipart/delete all signed with SigV2", { timeout: TIMEOUT }, async () => {
    const summary = await scenario('sdk');
    // Every request boto3 sent was SigV2 (`Authorization: AWS key:sig`), none fell back to SigV4.
    expect(summary.schemes).toEqual(['AWS']);
    expect(summary.requests).toBeGreaterThan(20);
    expect(summary.multipartSize).toBe(5 * MiB + 123_457);
    expect(summary.listed).toBe(3);
  });

  it("boto3 signature_version='s3' presigned PUT/GET URLs work from a plain HTTP client; tampered URLs get 403", { timeout: TIMEOUT }, async () => {
    const summary = await scenario('presigned');
    expect(summary.rejected).toEqual({
      signature: [403, 'SignatureDoesNotMatch'],
      key: [403, 'SignatureDoesNotMatch'],
      expires: [403, 'SignatureDoesNotMatch'],
      override: [403, 'SignatureDoesNotMatch'],
      getUrlUsedForPut: [403, 'SignatureDoesNotMatch'],
    });
  });

  it("boto3's default presigning for us-east-1 (SigV2 `?AWSAccessKeyId=&Signature=&Expires=`) works for GET and PUT", { timeout: TIMEOUT }, async () => {
    const summary = await scenario('default_presign');
    // The installed boto3 presigns with SigV2 for us-east-1 when no signature version is configured.
    expect(summary.urlSignatureVersion).toBe('v2');
    expect(summary.putUrlV2).toBe(true);
  });

  it('s3cmd with signature_v2 = True: put (also multipart), ls, get, signurl, del', { timeout: TIMEOUT }, async () => {
    const cli = s3cmd(server.endpoint, account);
    try {
      const configFile = join(cli.home, 's3cfg');
      writeFileSync(
        configFile,
        readFileSync(configFile, 'utf8').replace('signature_v2 = False', 'signature_v2 = True').replace('multipart_chunk_size_mb = 15', 'multipart_chunk_size_mb = 5'),
      );
      const file = join(cli.home, 'big.bin');
      const sums = writeRandomFile(file, 5 * MiB + 11);
      // -d: s3cmd prints each string it signs; a SigV2 one starts with the verb and has no AWS4 scope.
      const put = ensureOk(await cli.run(['-d', 'put', file, 's3://default/s3cmd-v2/big.bin']));
      expect(put.stderr).toMatch(/SignHeaders: 'PUT\\n/);
      expect(put.stderr).not.toContain('AWS4-HMAC-SHA256');
      // Multipart (5 MiB chunks): the ETag of a 2-part upload.
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 's3cmd-v2/big.bin' }));
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
      ensureOk(await cli.run(['put', '-', 's3://default/s3cmd-v2/small.txt'], { input: 'small via s3cmd v2\n' }));

      const ls = ensureOk(await cli.run(['ls', 's3://default/s3cmd-v2/']));
      expect(ls.stdout).toContain('s3://default/s3cmd-v2/big.bin');
      expect(ls.stdout).toContain('s3://default/s3cmd-v2/small.txt');
      const down = join(cli.home, 'down.bin');
      ensureOk(await cli.run(['get', 's3://default/s3cmd-v2/big.bin', down]));
      expect(createHash('sha256').update(readFileSync(down)).digest('hex')).toBe(sums.sha256);

      // signurl always signs SigV2 query auth.
      const signed = ensureOk(await cli.run(['signurl', 's3://default/s3cmd-v2/small.txt', '+300']));
      const url = new URL(signed.stdout.trim());
      expect(url.searchParams.has('AWSAccessKeyId')).toBe(true);
      const fetched = await sendRaw(server.endpoint, { method: 'GET', path: url.pathname + url.search });
      expect(fetched.status, fetched.text).toBe(200);
      expect(fetched.text).toBe('small via s3cmd v2\n');

      ensureOk(await cli.run(['del', 's3://default/s3cmd-v2/big.bin', 's3://default/s3cmd-v2/small.txt']));
      expect((await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: 's3cmd-v2/' }))).KeyCount).toBe(0);
    } finally {
      cli.cleanup();
    }
  });

  it('raw: header auth round trip, path and virtual-host addressing, Content-MD5 signed and checked', async () => {
    const body = 'raw sigv2 body';
    const md5 = createHash('md5').update(body).digest('base64');
    const put = await sendV2({ method: 'PUT', path: '/default/raw-v2/a%20b.txt', headers: { 'content-type': 'text/plain', 'content-md5': md5, 'x-amz-meta-who': 'raw' }, body });
    expect(put.status, put.text).toBe(200);
    // Virtual-host: the bucket comes from the Host header and is signed as `/default` in the resource.
    const host = `default.${S3_DOMAIN}`;
    const get = await sendV2({ method: 'GET', path: '/raw-v2/a%20b.txt', resource: '/default/raw-v2/a%20b.txt', headers: { host } });
    expect(get.status, get.text).toBe(200);
    expect(get.text).toBe(body);
    expect(get.headers['x-amz-meta-who']).toBe('raw');
    // Signed for the path-style resource but sent to a virtual host: another resource, refused.
    const wrongResource = await sendV2({ method: 'GET', path: '/raw-v2/a%20b.txt', headers: { host } });
    expect([wrongResource.status, wrongResource.code]).toEqual([403, 'SignatureDoesNotMatch']);
    // Content-MD5 is signed, and the body is still checked against it.
    const badMd5 = createHash('md5').update('other').digest('base64');
    const corrupt = await sendV2({ method: 'PUT', path: '/default/raw-v2/bad.txt', headers: { 'content-md5': badMd5 }, body });
    expect([corrupt.status, corrupt.code]).toEqual([400, 'BadDigest']);
    expect(await getBody('raw-v2/bad.txt')).toBeUndefined();
    await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'raw-v2/a b.txt' }));
  });

  it('raw: a wrong signature is SignatureDoesNotMatch and writes nothing; an unknown key is InvalidAccessKeyId', async () => {
    const wrong = await sendV2({ method: 'PUT', path: '/default/raw-v2/evil.txt', body: 'evil' }, { accessKeyId: account.accessKeyId, secretAccessKey: 'not-the-secret' });
    expect([wrong.status, wrong.code]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(wrong.text).not.toContain('StringToSign');
    expect(await getBody('raw-v2/evil.txt')).toBeUndefined();
    // An x-amz-* header added after signing (a captured request replayed as a copy) changes the string to sign.
    const headers = { date: clock.now().toUTCString() };
    const signature = hmacSha1(account.secretAccessKey, stringToSign('PUT', '/default/raw-v2/evil.txt', headers));
    const replayed = await sendRaw(server.endpoint, {
      method: 'PUT',
      path: '/default/raw-v2/evil.txt',
      headers: { ...headers, 'x-amz-copy-source': '/default/anything', authorization: `AWS ${account.accessKeyId}:${signature}` },
    });
    expect([replayed.status, replayed.code]).toEqual([403, 'SignatureDoesNotMatch']);

    const unknown = await sendV2({ method: 'GET', path: '/default?list-type=2', resource: '/default' }, { accessKeyId: 'AKNOSUCHKEY000000000', secretAccessKey: 'x' });
    expect([unknown.status, unknown.code]).toEqual([403, 'InvalidAccessKeyId']);
  });

  it('raw: header auth more than 15 minutes off the server clock is RequestTimeTooSkewed; x-amz-date overrides Date', async () => {
    const now = clock.now().getTime();
    const old = new Date(now - 16 * 60_000).toUTCString();
    const skewed = await sendV2({ method: 'GET', path: '/default?list-type=2', resource: '/default', headers: { date: old } });
    expect([skewed.status, skewed.code]).toEqual([403, 'RequestTimeTooSkewed']);
    // A current Date does not help when x-amz-date (the request time that counts) is old.
    const overridden = await sendV2({ method: 'GET', path: '/default?list-type=2', resource: '/default', headers: { date: new Date(now).toUTCString(), 'x-amz-date': old } });
    expect([overridden.status, overridden.code]).toEqual([403, 'RequestTimeTooSkewed']);
    const fresh = await sendV2({ method: 'GET', path: '/default?list-type=2', resource: '/default', headers: { 'x-amz-date': new Date(now - 14 * 60_000).toUTCString() } });
    expect(fresh.status, fresh.text).toBe(200);
  });

  it('raw: a presigned URL works until Expires, then AccessDenied "Request has expired"', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'raw-v2/expiring.txt', Body: 'soon gone' }));
    try {
      const expires = Math.floor(clock.now().getTime() / 1000) + 60;
      const path = presignV2('GET', '/default/raw-v2/expiring.txt', expires);
      const ok = await sendRaw(server.endpoint, { method: 'GET', path });
      expect([ok.status, ok.text]).toEqual([200, 'soon gone']);
      clock.offsetMs += 120_000;
      try {
        const expired = await sendRaw(server.endpoint, { method: 'GET', path });
        expect([expired.status, expired.code]).toEqual([403, 'AccessDenied']);
        expect(expired.text).toContain('<Message>Request has expired</Message>');
      } finally {
        clock.offsetMs -= 120_000;
      }
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'raw-v2/expiring.txt' }));
    }
  });

  it('raw: a scoped key signing with SigV2 is refused outside its scope (bucket, prefix, permission)', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'open/readable.txt', Body: 'readable' }));
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'closed/secret.txt', Body: 'secret' }));
    const key = await server.running.core.keysUsecases.create(account.userId, 'sigv2-scoped', { buckets: ['default'], prefix: 'open/', permission: 'read' });
    const scoped = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    try {
      const inside = await sendV2({ method: 'GET', path: '/default/open/readable.txt' }, scoped);
      expect([inside.status, inside.text]).toEqual([200, 'readable']);
      const outsidePrefix = await sendV2({ method: 'GET', path: '/default/closed/secret.txt' }, scoped);
      expect([outsidePrefix.status, outsidePrefix.code]).toEqual([403, 'AccessDenied']);
      const presignedOutside = await sendRaw(server.endpoint, {
        method: 'GET',
        path: presignV2('GET', '/default/closed/secret.txt', Math.floor(clock.now().getTime() / 1000) + 60, scoped),
      });
      expect([presignedOutside.status, presignedOutside.code]).toEqual([403, 'AccessDenied']);
      const write = await sendV2({ method: 'PUT', path: '/default/open/new.txt', body: 'nope' }, scoped);
      expect([write.status, write.code]).toEqual([403, 'AccessDenied']);
      const createBucket = await sendV2({ method: 'PUT', path: '/sigv2-scoped-new' }, scoped);
      expect([createBucket.status, createBucket.code]).toEqual([403, 'AccessDenied']);
      expect(await getBody('open/new.txt')).toBeUndefined();
    } finally {
      await server.running.core.keysUsecases.revoke(key.accessKeyId);
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'open/readable.txt' }));
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'closed/secret.txt' }));
    }
  });

  it('raw: a sub-resource or response-* override smuggled under a percent-encoded name is covered by the signature', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'raw-v2/smuggle.txt', Body: '<script>alert(1)</script>', ContentType: 'text/plain' }));
    try {
      const path = presignV2('GET', '/default/raw-v2/smuggle.txt', Math.floor(clock.now().getTime() / 1000) + 60);
      const ok = await sendRaw(server.endpoint, { method: 'GET', path });
      expect([ok.status, ok.headers['content-type']]).toEqual([200, 'text/plain']);
      // The gateway decodes query names (`%72esponse-content-type` is `response-content-type`): so must the signature check.
      const override = await sendRaw(server.endpoint, { method: 'GET', path: `${path}&%72esponse-content-type=text%2Fhtml` });
      expect([override.status, override.code, override.headers['content-type']]).toEqual([403, 'SignatureDoesNotMatch', 'application/xml']);
      const plain = await sendRaw(server.endpoint, { method: 'GET', path: `${path}&response-content-type=text%2Fhtml` });
      expect([plain.status, plain.code]).toEqual([403, 'SignatureDoesNotMatch']);
      // Header auth: a GetObject signature must not open GetObjectAcl (`?%61cl`) or GetObjectTagging.
      const headers = { date: clock.now().toUTCString() };
      const signature = hmacSha1(account.secretAccessKey, stringToSign('GET', '/default/raw-v2/smuggle.txt', headers));
      for (const query of ['%61cl', '%74agging', 'acl']) {
        const smuggled = await sendRaw(server.endpoint, {
          method: 'GET',
          path: `/default/raw-v2/smuggle.txt?${query}`,
          headers: { ...headers, authorization: `AWS ${account.accessKeyId}:${signature}` },
        });
        expect([query, smuggled.status, smuggled.code]).toEqual([query, 403, 'SignatureDoesNotMatch']);
      }
      // A client that signs the decoded name and sends it encoded is still accepted.
      const encodedName = await sendV2({ method: 'GET', path: '/default/raw-v2/smuggle.txt?%74agging', resource: '/default/raw-v2/smuggle.txt?tagging' });
      expect(encodedName.status, encodedName.text).toBe(200);
      expect(encodedName.text).toContain('<Tagging');
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'raw-v2/smuggle.txt' }));
    }
  });

  it('S3_SIGV2=false: SigV2 header and query auth answer InvalidRequest (use AWS4-HMAC-SHA256)', async () => {
    const off = await startTestServer({ S3_SIGV2: false });
    try {
      const user = await off.createAccount();
      const headers = { date: new Date().toUTCString() };
      const signature = hmacSha1(user.secretAccessKey, stringToSign('GET', '/default', headers));
      const header = await sendRaw(off.endpoint, { method: 'GET', path: '/default', headers: { ...headers, authorization: `AWS ${user.accessKeyId}:${signature}` } });
      expect([header.status, header.code]).toEqual([400, 'InvalidRequest']);
      expect(header.text).toContain('AWS4-HMAC-SHA256');
      const expires = Math.floor(Date.now() / 1000) + 60;
      const query = `AWSAccessKeyId=${user.accessKeyId}&Expires=${expires}&Signature=${encodeURIComponent(hmacSha1(user.secretAccessKey, stringToSign('GET', '/default', {}, String(expires))))}`;
      const presigned = await sendRaw(off.endpoint, { method: 'GET', path: `/default?${query}` });
      expect([presigned.status, presigned.code]).toEqual([400, 'InvalidRequest']);
    } finally {
      await off.close();
    }
  });
});
