/**
 * Issue #14, CORS: Put/Get/DeleteBucketCors with AWS's rule semantics, preflight `OPTIONS`
 * answered from the bucket's rules without credentials, `Access-Control-*` headers on actual
 * responses, and a real headless Chromium uploading from a page on another origin with a
 * presigned PUT. Runs on both backends (CORS rules live in the metadata database either way).
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  DeleteObjectCommand,
  GetBucketCorsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { startPageServer, type PageServer } from '../support/page-server.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';

let server: TestServer;
let alice: TestAccount;
/** A second account: bucket names are per account. */
let bob: TestAccount;
let s3: S3Client;
let pages: PageServer;
let browser: Browser;
const createdBuckets: string[] = [];
const createdObjects: { bucket: string; key: string }[] = [];

beforeAll(async () => {
  [server, pages, browser] = await Promise.all([startTestServer(), startPageServer({ '/': '<!doctype html><title>uploader</title><p>uploader</p>' }), launchBrowser()]);
  [alice, bob] = await Promise.all([server.createAccount(), server.createAccount()]);
  s3 = server.client(alice);
});

afterAll(async () => {
  // The RGW runs on RAM: delete what the suite created.
  for (const { bucket, key } of createdObjects) await s3?.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  for (const bucket of createdBuckets) await s3?.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  await browser?.close();
  await pages?.close();
  await server?.close();
});

/**
 * The suite's one bucket (bucket creation is the slow part on the RGW), without CORS
 * configuration: each test starts from none and sets its own.
 */
async function newBucket(): Promise<string> {
  if (createdBuckets.length === 0) {
    const name = `cors-${randomBytes(4).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    createdBuckets.push(name);
  }
  await s3.send(new DeleteBucketCorsCommand({ Bucket: createdBuckets[0] }));
  return createdBuckets[0];
}

const corsXml = (...rules: string[]) =>
  `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules.map((rule) => `<CORSRule>${rule}</CORSRule>`).join('')}</CORSConfiguration>`;

async function signed(method: string, path: string, headers: Record<string, string> = {}, body?: string, account: TestAccount = alice): Promise<RawResponse> {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, headers, body }));
}

function preflight(path: string, headers: Record<string, string>): Promise<RawResponse> {
  return sendRaw(server.endpoint, { method: 'OPTIONS', path, headers });
}

const accessControl = (response: RawResponse) => Object.fromEntries(Object.entries(response.headers).filter(([name]) => name.startsWith('access-control-')));

describe('bucket CORS configuration (PutBucketCors / GetBucketCors / DeleteBucketCors)', () => {
  it('round-trips a configuration through the AWS SDK; none is 404 NoSuchCORSConfiguration; delete is idempotent', async () => {
    const bucket = await newBucket();
    await expect(s3.send(new GetBucketCorsCommand({ Bucket: bucket }))).rejects.toMatchObject({ name: 'NoSuchCORSConfiguration', $metadata: { httpStatusCode: 404 } });

    const CORSRules = [
      { ID: 'uploads', AllowedOrigins: ['https://*.example.com'], AllowedMethods: ['PUT', 'POST'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 },
      { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
    ];
    await s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules } }));
    const got = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
    expect(got.CORSRules).toEqual([
      CORSRules[0],
      // The SDK reads absent lists as empty ones.
      expect.objectContaining({ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }),
    ]);

    await s3.send(new DeleteBucketCorsCommand({ Bucket: bucket }));
    const missing = await signed('GET', `/${bucket}?cors`);
    expect(missing.status).toBe(404);
    expect(missing.code).toBe('NoSuchCORSConfiguration');
    expect(missing.text).toContain(`<BucketName>${bucket}</BucketName>`);
    expect((await signed('DELETE', `/${bucket}?cors`)).status).toBe(204);
  });

  it('refuses malformed or invalid documents (MalformedXML, InvalidRequest) and keeps the previous configuration', async () => {
    const bucket = await newBucket();
    const good = corsXml('<AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>');
    expect((await signed('PUT', `/${bucket}?cors`, {}, good)).status).toBe(200);

    const refused: [string, string][] = [
      ['<CORSConfiguration><CORSRule>', 'MalformedXML'],
      [corsXml(), 'MalformedXML'],
      [corsXml('<AllowedMethod>GET</AllowedMethod>'), 'MalformedXML'],
      [corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>ten</MaxAgeSeconds>'), 'MalformedXML'],
      [corsXml(...Array.from({ length: 101 }, () => '<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>')), 'MalformedXML'],
      [corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>'), 'InvalidRequest'],
      [corsXml('<AllowedOrigin>https://*.*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>'), 'InvalidRequest'],
      [corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>x-amz-*</ExposeHeader>'), 'InvalidRequest'],
    ];
    for (const [body, code] of refused) {
      const response = await signed('PUT', `/${bucket}?cors`, {}, body);
      expect({ status: response.status, code: response.code }, body.slice(0, 120)).toEqual({ status: 400, code });
    }
    const unknownMethod = await signed('PUT', `/${bucket}?cors`, {}, refused[5][0]);
    expect(unknownMethod.text).toContain('Unsupported method is PATCH');

    const kept = await signed('GET', `/${bucket}?cors`);
    expect(kept.status).toBe(200);
    expect(kept.text).toContain('<AllowedOrigin>https://app.example.com</AllowedOrigin>');
  });

  it('only a key allowed to administer buckets may change CORS; a bucket-scoped key may read it', async () => {
    const bucket = await newBucket();
    const key = await server.running.core.keysUsecases.create(alice.userId, 'scoped', { buckets: [bucket] });
    const scoped = { ...alice, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    try {
      const body = corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>');
      const put = await signed('PUT', `/${bucket}?cors`, {}, body, scoped);
      expect({ status: put.status, code: put.code }).toEqual({ status: 403, code: 'AccessDenied' });
      expect((await signed('PUT', `/${bucket}?cors`, {}, body)).status).toBe(200);
      expect((await signed('GET', `/${bucket}?cors`, {}, undefined, scoped)).status).toBe(200);
      expect((await signed('DELETE', `/${bucket}?cors`, {}, undefined, scoped)).code).toBe('AccessDenied');
    } finally {
      await server.running.core.keysUsecases.revokeById(alice.userId, key.id);
    }
  });

  it("another account's bucket of the same name is NoSuchBucket-or-AccessDenied, never configured", async () => {
    const bucket = await newBucket();
    const body = corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>');
    const put = await signed('PUT', `/${bucket}?cors`, {}, body, bob);
    expect(put.status).toBeGreaterThanOrEqual(403);
    expect(['AccessDenied', 'NoSuchBucket']).toContain(put.code);
    expect((await signed('GET', `/${bucket}?cors`)).code).toBe('NoSuchCORSConfiguration');
  });
});

describe('preflight OPTIONS (no credentials)', () => {
  it('is answered from the first rule matching origin, method and every requested header, with max age and Vary', async () => {
    const bucket = await newBucket();
    const config = corsXml(
      '<ID>app</ID><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>DELETE</AllowedMethod><AllowedHeader>content-*</AllowedHeader><AllowedHeader>x-amz-meta-owner</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds>',
      '<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>',
    );
    expect((await signed('PUT', `/${bucket}?cors`, {}, config)).status).toBe(200);

    const granted = await preflight(`/${bucket}/photos/cat.jpg`, {
      origin: 'https://app.example.com',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'Content-Type,X-Amz-Meta-Owner',
    });
    expect(granted.status).toBe(200);
    expect(granted.body.length).toBe(0);
    expect(accessControl(granted)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'PUT, DELETE',
      'access-control-allow-headers': 'content-type, x-amz-meta-owner',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '3000',
    });
    expect(granted.headers.vary).toBe('Origin, Access-Control-Request-Headers, Access-Control-Request-Method');

    // GET from anywhere falls through to the `*` rule, which AWS answers with `*`.
    const anyOrigin = await preflight(`/${bucket}`, { origin: 'http://elsewhere.test:8080', 'access-control-request-method': 'GET' });
    expect(anyOrigin.status).toBe(200);
    expect(anyOrigin.headers['access-control-allow-origin']).toBe('*');
    expect(anyOrigin.headers['access-control-allow-methods']).toBe('GET, HEAD');
    expect(anyOrigin.headers['access-control-max-age']).toBeUndefined();

    const refusals: Record<string, string>[] = [
      // The wildcard stands for a run of characters between the literal parts, which must be there.
      { origin: 'https://example.com', 'access-control-request-method': 'PUT' },
      { origin: 'http://app.example.com', 'access-control-request-method': 'PUT' },
      // A header no rule allows; a method only the `*` rule lacks.
      { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type, x-secret' },
      { origin: 'http://elsewhere.test', 'access-control-request-method': 'DELETE' },
    ];
    for (const headers of refusals) {
      const refused = await preflight(`/${bucket}/photos/cat.jpg`, headers);
      expect({ status: refused.status, code: refused.code }, JSON.stringify(headers)).toEqual({ status: 403, code: 'AccessForbidden' });
      expect(refused.text).toContain('CORSResponse: This CORS request is not allowed');
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    }

    const noOrigin = await preflight(`/${bucket}`, { 'access-control-request-method': 'GET' });
    expect({ status: noOrigin.status, code: noOrigin.code }).toEqual({ status: 400, code: 'BadRequest' });
  });

  it('is refused (403) for a bucket without configuration, a missing bucket, and after DeleteBucketCors', async () => {
    const bucket = await newBucket();
    const ask = { origin: 'https://app.example.com', 'access-control-request-method': 'GET' };
    expect((await preflight(`/${bucket}/k`, ask)).code).toBe('AccessForbidden');
    expect((await preflight('/no-such-bucket-here/k', ask)).code).toBe('AccessForbidden');

    expect((await signed('PUT', `/${bucket}?cors`, {}, corsXml('<AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>'))).status).toBe(200);
    expect((await preflight(`/${bucket}/k`, ask)).status).toBe(200);
    expect((await signed('DELETE', `/${bucket}?cors`)).status).toBe(204);
    expect((await preflight(`/${bucket}/k`, ask)).code).toBe('AccessForbidden');
  });

  it("for a name several accounts use, answers from each of their rules: another account's configuration cannot refuse yours", async () => {
    const ask = { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' };
    // Every account has a bucket named `default`; only Bob's has rules: his are used.
    const bobRules = corsXml('<AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>');
    expect((await signed('PUT', '/default?cors', {}, bobRules, bob)).status).toBe(200);
    expect((await preflight('/default/k', ask)).status).toBe(200);
    try {
      // Alice configures hers (GET from anywhere): Bob's page may still PUT, and hers may GET.
      expect((await signed('PUT', '/default?cors', {}, corsXml('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>'))).status).toBe(200);
      const bobs = await preflight('/default/k', ask);
      expect([bobs.status, bobs.headers['access-control-allow-origin'], bobs.headers['access-control-allow-methods']]).toEqual([200, 'https://app.example.com', 'PUT']);
      const alices = await preflight('/default/k', { origin: 'https://elsewhere.example', 'access-control-request-method': 'GET' });
      expect([alices.status, alices.headers['access-control-allow-origin']]).toEqual([200, '*']);
      // What no rule of either allows is still refused.
      expect((await preflight('/default/k', { origin: 'https://elsewhere.example', 'access-control-request-method': 'DELETE' })).code).toBe('AccessForbidden');
      // A signed request's own headers come from the caller's own bucket only: Bob's rule opens nothing of Alice's.
      const alicesObject = await signed('GET', '/default?list-type=2', { origin: 'https://app.example.com' });
      expect([alicesObject.status, alicesObject.headers['access-control-allow-origin']]).toEqual([200, '*']);
      const forBob = await signed('PUT', '/default/cors-k', { origin: 'https://elsewhere.example' }, 'x', bob);
      expect([forBob.status, forBob.headers['access-control-allow-origin']]).toEqual([200, undefined]);
      await signed('DELETE', '/default/cors-k', {}, undefined, bob);
    } finally {
      expect((await signed('DELETE', '/default?cors')).status).toBe(204);
      expect((await signed('DELETE', '/default?cors', {}, undefined, bob)).status).toBe(204);
    }
    expect((await preflight('/default/k', ask)).code).toBe('AccessForbidden');
  });
});

describe('Access-Control-* headers on actual responses', () => {
  it('come from the first rule matching origin and method, on successes, errors and presigned requests; none without a match', async () => {
    const bucket = await newBucket();
    const config = corsXml(
      '<AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>60</MaxAgeSeconds>',
    );
    expect((await signed('PUT', `/${bucket}?cors`, {}, config)).status).toBe(200);
    const origin = 'https://app.example.com';

    const put = await signed('PUT', `/${bucket}/a.txt`, { origin }, 'hello');
    createdObjects.push({ bucket, key: 'a.txt' });
    expect(put.status).toBe(200);
    expect(accessControl(put)).toEqual({
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag',
      'access-control-max-age': '60',
    });
    expect(put.headers.vary).toBe('Origin, Access-Control-Request-Headers, Access-Control-Request-Method');

    const get = await signed('GET', `/${bucket}/a.txt`, { origin });
    expect(get.text).toBe('hello');
    expect(get.headers['access-control-allow-origin']).toBe(origin);

    // An error document is readable by the page too.
    const missing = await signed('GET', `/${bucket}/missing.txt`, { origin });
    expect(missing.code).toBe('NoSuchKey');
    expect(missing.headers['access-control-allow-origin']).toBe(origin);

    // A presigned URL carries no Authorization header; a bad signature still gets the headers.
    const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'a.txt' }), { expiresIn: 300 }));
    const presigned = await sendRaw(server.endpoint, { method: 'GET', path: `${url.pathname}${url.search}`, headers: { origin } });
    expect(presigned.text).toBe('hello');
    expect(presigned.headers['access-control-allow-origin']).toBe(origin);
    const tampered = await sendRaw(server.endpoint, {
      method: 'GET',
      path: `${url.pathname}${url.search.replace(/X-Amz-Signature=[0-9a-f]/, 'X-Amz-Signature=x')}`,
      headers: { origin },
    });
    expect(tampered.code).toBe('SignatureDoesNotMatch');
    expect(tampered.headers['access-control-allow-origin']).toBe(origin);

    // No match (other origin, method the rule lacks) and no Origin at all: no CORS headers.
    for (const response of [
      await signed('GET', `/${bucket}/a.txt`, { origin: 'https://evil.test' }),
      await signed('DELETE', `/${bucket}/missing.txt`, { origin }),
      await signed('GET', `/${bucket}/a.txt`),
    ]) {
      expect(accessControl(response)).toEqual({});
      expect(response.headers.vary).toBeUndefined();
    }
  });
});

describe('a browser on another origin (headless Chromium)', () => {
  async function presignedUrls(bucket: string, key: string) {
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: 'text/plain' }), { expiresIn: 300 });
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 300 });
    return { putUrl, getUrl };
  }

  /** Runs in the page: fetch() a presigned PUT with a body, then the presigned GET; a failure is reported as `Name: message`. */
  async function uploadFromPage(urls: { putUrl: string; getUrl: string }, body: string) {
    const page = await browser.newPage();
    try {
      await page.goto(pages.url('/'));
      return await page.evaluate(
        async ({ putUrl, getUrl, body }) => {
          try {
            const put = await fetch(putUrl, { method: 'PUT', body, headers: { 'Content-Type': 'text/plain' } });
            const get = await fetch(getUrl);
            return { origin: location.origin, putStatus: put.status, etag: put.headers.get('ETag'), getStatus: get.status, text: await get.text() };
          } catch (error) {
            return { origin: location.origin, failure: `${(error as Error).name}: ${(error as Error).message}` };
          }
        },
        { ...urls, body },
      );
    } finally {
      await page.close();
    }
  }

  it('uploads with a presigned PUT and reads the bytes back with a presigned GET when a rule allows the page origin', async () => {
    const bucket = await newBucket();
    const rules = `<AllowedOrigin>${pages.origin}</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>`;
    expect((await signed('PUT', `/${bucket}?cors`, {}, corsXml(rules))).status).toBe(200);
    const body = `from the browser ${randomBytes(8).toString('hex')} ✓`;
    createdObjects.push({ bucket, key: 'browser/upload.txt' });

    const result = await uploadFromPage(await presignedUrls(bucket, 'browser/upload.txt'), body);
    expect(result).toMatchObject({ origin: pages.origin, putStatus: 200, getStatus: 200, text: body });
    expect(result.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'browser/upload.txt' }));
    expect(await stored.Body?.transformToString()).toBe(body);
  });

  it('fails the fetch (TypeError) and stores nothing when no rule allows the page origin', async () => {
    const bucket = await newBucket();
    expect(
      (
        await signed(
          'PUT',
          `/${bucket}?cors`,
          {},
          corsXml('<AllowedOrigin>https://only.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader>'),
        )
      ).status,
    ).toBe(200);

    const result = await uploadFromPage(await presignedUrls(bucket, 'browser/refused.txt'), 'must not be stored');
    expect(result).toEqual({ origin: pages.origin, failure: 'TypeError: Failed to fetch' });
    await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'browser/refused.txt' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });
});
