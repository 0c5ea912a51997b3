import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/clock.ts';
import { startTestServer, type TestAccount, type TestServer } from '../test/support/cloudstorage.ts';
import { presignRaw, sendRaw, signRaw, type RawRequest } from '../test/support/raw-s3.ts';

const NOW = new Date('2026-11-24T12:00:00Z');

describe('S3 gateway over raw HTTP', () => {
  let server: TestServer;
  let alice: TestAccount;
  const clock = fixedClock(NOW);

  beforeAll(async () => {
    server = await startTestServer({ S3_DOMAIN: 's3.example.test' }, { clock });
    alice = await server.createAccount();
  });
  afterAll(async () => server?.close());

  const signed = (req: RawRequest & { payloadHash?: string; signingDate?: Date; host?: string; region?: string }, credentials = alice) =>
    signRaw(server.endpoint, credentials, { signingDate: NOW, ...req });
  const send = async (req: RawRequest & { payloadHash?: string; signingDate?: Date; host?: string }) => sendRaw(server.endpoint, await signed(req));

  it('renders errors as S3 XML with Code, Message, Resource and RequestId', async () => {
    const response = await sendRaw(server.endpoint, { method: 'GET', path: '/default/some/key' });
    expect(response.status).toBe(403);
    expect(response.code).toBe('AccessDenied');
    expect(response.headers['content-type']).toBe('application/xml');
    const requestId = response.headers['x-amz-request-id'];
    expect(requestId).toMatch(/^[0-9A-F]{16}$/);
    expect(response.text).toContain('<Message>');
    expect(response.text).toContain('<Resource>/default/some/key</Resource>');
    expect(response.text).toContain(`<RequestId>${requestId}</RequestId>`);
    expect(response.text).not.toMatch(/at .*\.ts:\d+/);
  });

  it('rejects unknown keys, bad signatures and skewed clocks', async () => {
    const unknown = await sendRaw(
      server.endpoint,
      await signRaw(server.endpoint, { accessKeyId: 'CSUNKNOWNUNKNOWN0000', secretAccessKey: 'x'.repeat(40) }, { method: 'GET', path: '/', signingDate: NOW }),
    );
    expect([unknown.status, unknown.code]).toEqual([403, 'InvalidAccessKeyId']);

    const badSecret = await sendRaw(
      server.endpoint,
      await signRaw(server.endpoint, { accessKeyId: alice.accessKeyId, secretAccessKey: 'y'.repeat(40) }, { method: 'GET', path: '/', signingDate: NOW }),
    );
    expect([badSecret.status, badSecret.code]).toEqual([403, 'SignatureDoesNotMatch']);

    const skewed = await send({ method: 'GET', path: '/', signingDate: new Date(NOW.getTime() - 16 * 60_000) });
    expect([skewed.status, skewed.code]).toEqual([403, 'RequestTimeTooSkewed']);
    const withinSkew = await send({ method: 'GET', path: '/', signingDate: new Date(NOW.getTime() - 14 * 60_000) });
    expect(withinSkew.status).toBe(200);
  });

  it('expires presigned URLs counted from X-Amz-Date', async () => {
    await send({ method: 'PUT', path: '/default/presigned.txt', body: 'hello' });
    const url = await presignRaw(server.endpoint, alice, { method: 'GET', path: '/default/presigned.txt', expiresIn: 60, signingDate: NOW });
    expect((await sendRaw(server.endpoint, { method: 'GET', path: url })).text).toBe('hello');
    clock.set(new Date(NOW.getTime() + 61_000));
    try {
      const expired = await sendRaw(server.endpoint, { method: 'GET', path: url });
      expect([expired.status, expired.code]).toEqual([403, 'AccessDenied']);
    } finally {
      clock.set(NOW);
    }
    // The SDKs refuse to presign beyond a week; a hand-edited URL must be refused by the server too.
    const tooLong = url.replace('X-Amz-Expires=60', 'X-Amz-Expires=604801');
    const rejected = await sendRaw(server.endpoint, { method: 'GET', path: tooLong });
    expect([rejected.status, rejected.code]).toEqual([400, 'AuthorizationQueryParametersError']);
  });

  it('refuses x-amz-* headers a presigned URL did not sign (no turning a presigned PUT into a copy)', async () => {
    await send({ method: 'PUT', path: '/default/private.txt', body: 'private' });
    const url = await presignRaw(server.endpoint, alice, { method: 'PUT', path: '/default/upload-target.txt', expiresIn: 600, signingDate: NOW });
    const copy = await sendRaw(server.endpoint, { method: 'PUT', path: url, headers: { 'x-amz-copy-source': '/default/private.txt' }, body: '' });
    expect([copy.status, copy.code]).toEqual([403, 'AccessDenied']);
    expect(copy.text).toContain('<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>');
    const meta = await sendRaw(server.endpoint, { method: 'PUT', path: url, headers: { 'x-amz-meta-evil': '1' }, body: 'x' });
    expect([meta.status, meta.code]).toEqual([403, 'AccessDenied']);
    const plain = await sendRaw(server.endpoint, { method: 'PUT', path: url, body: 'uploaded' });
    expect(plain.status).toBe(200);
    expect((await send({ method: 'GET', path: '/default/upload-target.txt' })).text).toBe('uploaded');
  });

  it('refuses a payload whose SHA-256 does not match and stores nothing', async () => {
    const response = await send({ method: 'PUT', path: '/default/sha-mismatch', body: 'actual body', payloadHash: createHash('sha256').update('other').digest('hex') });
    expect([response.status, response.code]).toEqual([400, 'XAmzContentSHA256Mismatch']);
    const get = await send({ method: 'GET', path: '/default/sha-mismatch' });
    expect(get.code).toBe('NoSuchKey');
  });

  it('refuses a wrong CRC32 checksum or Content-MD5 with BadDigest and keeps the previous version', async () => {
    await send({ method: 'PUT', path: '/default/digest.txt', body: 'original' });
    const crc = await send({ method: 'PUT', path: '/default/digest.txt', body: 'replacement', headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
    expect([crc.status, crc.code]).toEqual([400, 'BadDigest']);
    const md5 = await send({ method: 'PUT', path: '/default/digest.txt', body: 'replacement', headers: { 'content-md5': createHash('md5').update('nope').digest('base64') } });
    expect([md5.status, md5.code]).toEqual([400, 'BadDigest']);
    const get = await send({ method: 'GET', path: '/default/digest.txt' });
    expect(get.text).toBe('original');
    const goodMd5 = await send({
      method: 'PUT',
      path: '/default/digest.txt',
      body: 'replacement',
      headers: { 'content-md5': createHash('md5').update('replacement').digest('base64') },
    });
    expect(goodMd5.status).toBe(200);
  });

  it('keeps raw path bytes: dot segments, double slashes and encoded characters are part of the key', async () => {
    const keys: [string, string][] = [
      ['/default/a/../b', 'a/../b'],
      ['/default/./dot', './dot'],
      ['/default/double//slash', 'double//slash'],
      ['/default/plus+and%2Bencoded', 'plus+and+encoded'],
      ['/default/sp%20ace%3D%26', 'sp ace=&'],
    ];
    for (const [path, key] of keys) {
      const put = await send({ method: 'PUT', path, body: key });
      expect(put.status, path).toBe(200);
    }
    const list = await send({ method: 'GET', path: '/default?list-type=2&encoding-type=url' });
    for (const [, key] of keys) expect(list.text).toContain(`<Key>${encodeURIComponent(key).replace(/%2F/g, '/')}</Key>`);
    for (const [path, key] of keys) expect((await send({ method: 'GET', path })).text).toBe(key);
  });

  it('decodes numeric character references in request XML, as Go clients write them', async () => {
    await send({ method: 'PUT', path: "/default/it's", body: 'x' });
    const body = '<Delete><Object><Key>it&#39;s</Key></Object><Quiet>false</Quiet></Delete>';
    const response = await send({
      method: 'POST',
      path: '/default?delete',
      body,
      headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-type': 'application/xml' },
    });
    expect(response.status).toBe(200);
    expect(response.text).toContain('<Key>it&apos;s</Key>');
    expect((await send({ method: 'HEAD', path: "/default/it's" })).status).toBe(404);
  });

  it('answers sub-resources it does not implement with 501 NotImplemented', async () => {
    for (const path of ['/default?lifecycle', '/default?policy', '/default?replication', '/default/key?retention', '/default?website']) {
      const response = await send({ method: 'GET', path });
      expect([response.status, response.code], path).toEqual([501, 'NotImplemented']);
    }
  });

  it('sends no body with HEAD errors', async () => {
    const response = await send({ method: 'HEAD', path: '/default/missing-object' });
    expect(response.status).toBe(404);
    expect(response.body.length).toBe(0);
    expect(response.headers['x-amz-request-id']).toBeTruthy();
  });

  it('serves virtual-hosted-style requests under S3_DOMAIN', async () => {
    const host = `default.s3.example.test:${new URL(server.endpoint).port}`;
    const put = await send({ method: 'PUT', path: '/vhost.txt', body: 'virtual', host });
    expect(put.status).toBe(200);
    const get = await send({ method: 'GET', path: '/vhost.txt', host });
    expect(get.text).toBe('virtual');
    const pathStyle = await send({ method: 'GET', path: '/default/vhost.txt' });
    expect(pathStyle.text).toBe('virtual');
  });

  it('answers Expect: 100-continue only after authentication', async () => {
    const refused = await sendRaw(server.endpoint, { method: 'PUT', path: '/default/continue.txt', body: 'x'.repeat(1000), expectContinue: true });
    expect(refused.status).toBe(403);
    expect(refused.sawContinue).toBe(false);
    const accepted = await sendRaw(server.endpoint, await signed({ method: 'PUT', path: '/default/continue.txt', body: 'y'.repeat(1000), expectContinue: true }));
    expect(accepted.status).toBe(200);
    expect(accepted.sawContinue).toBe(true);
  });

  it('requires a Content-Length for uploads', async () => {
    const req = await signed({ method: 'PUT', path: '/default/no-length', payloadHash: 'UNSIGNED-PAYLOAD' });
    const response = await sendRaw(server.endpoint, { ...req, headers: { ...req.headers, 'transfer-encoding': 'chunked' }, body: 'abc' });
    expect([response.status, response.code]).toEqual([411, 'MissingContentLength']);
  });

  it('serves health endpoints on paths that cannot be buckets', async () => {
    const health = await sendRaw(server.endpoint, { method: 'GET', path: '/_health' });
    expect(health.status).toBe(200);
    expect(health.headers['x-amz-request-id']).toBeTruthy();
    const status = JSON.parse((await sendRaw(server.endpoint, { method: 'GET', path: '/_health/status' })).text);
    expect(status).toMatchObject({ status: 'ok', database: 'ok', storage: { backend: 'fs', status: 'ok' } });
    expect(typeof status.version).toBe('string');
    expect(typeof status.uptimeSeconds).toBe('number');
    const api = await fetch(`${server.apiEndpoint}/health/status`);
    expect(api.status).toBe(200);
    expect(await api.json()).toMatchObject({ status: 'ok', database: 'ok' });
  });
});
