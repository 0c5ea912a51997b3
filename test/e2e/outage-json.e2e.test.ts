import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseEnvLines } from '../support/ceph-rgw.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { sendRaw, signRaw } from '../support/raw-s3.ts';
import { startTcpRelay } from '../support/tcp-relay.ts';

/**
 * Issue #10 (one error model): a storage outage is one domain condition (`unavailable`), and
 * every door says so in its own vocabulary. The gateway's S3 XML 503 is covered by
 * s3-backend.e2e.test.ts; here the JSON doors (the file API and the dashboard's explorer and
 * buckets) answer 503 `storage.unavailable` with Retry-After and a requestId, never a 500.
 * Runs on the s3 backend (RGW behind a TCP relay that refuses connections: a stopped store).
 */
describe('JSON doors during a storage backend outage (STORAGE_BACKEND=s3 on Ceph RGW)', () => {
  let relay: Awaited<ReturnType<typeof startTcpRelay>>;
  let server: TestServer;
  let user: SignedUp;
  let fileId: string;

  const apiKey = () => ({ 'x-api-key': `${user.firstKey.accessKey}:${user.firstKey.secretKey}` });
  const call = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: BodyInit } = {}) => {
    const response = await fetch(`${server.apiEndpoint}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers: init.headers, body: init.body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
  };

  /** 503 storage.unavailable JSON with Retry-After and the request id, no 500, nothing internal. */
  const expectUnavailable = (answer: Awaited<ReturnType<typeof call>>, what: string) => {
    expect([what, answer.status, answer.json?.error]).toEqual([what, 503, 'storage.unavailable']);
    expect(answer.headers.get('retry-after'), what).toMatch(/^\d+$/);
    expect(answer.headers.get('content-type'), what).toMatch(/^application\/json/);
    expect(answer.json.requestId, what).toBe(answer.headers.get('x-request-id'));
    expect(answer.json.detail, what).toBe('The storage backend is unavailable. Retry later.');
    // No stack frame, no backend address, no internal class name.
    expect(answer.text, what).not.toMatch(/\.ts:\d+|127\.0\.0\.1|S3Error|ECONN/);
  };

  beforeAll(async () => {
    const endpoint = new URL(parseEnvLines(readFileSync(inject('cephRgwEnvFile'), 'utf8')).BACKEND_S3_ENDPOINT);
    relay = await startTcpRelay({ host: endpoint.hostname, port: Number(endpoint.port) });
    server = await startTestServer({ BACKEND_S3_ENDPOINT: relay.endpoint, BACKEND_TIMEOUT_MS: 1500 });
    user = await signupViaApi(server);
    const stored = await call('/api/v1/files?key=before.txt', { headers: { ...apiKey(), 'content-type': 'text/plain' }, body: 'stored before the outage' });
    expect(stored.status).toBe(201);
    fileId = stored.json.id;
  });
  afterAll(async () => {
    await server?.close();
    await relay?.close();
  });

  it('answers uploads, listings, downloads, the explorer and bucket creation with 503 storage.unavailable, Retry-After and a requestId', async () => {
    relay.setMode('refuse');

    const raw = await call('/api/v1/files?key=during.txt', { headers: { ...apiKey(), 'content-type': 'text/plain' }, body: 'written during the outage' });
    expectUnavailable(raw, 'raw upload');
    const form = new FormData();
    form.append('file', new Blob(['a form part during the outage'], { type: 'text/plain' }), 'form.txt');
    expectUnavailable(await call('/api/v1/files', { headers: apiKey(), body: form }), 'multipart upload');
    expectUnavailable(await call('/api/v1/files?bucket=default', { headers: apiKey() }), 'list');
    expectUnavailable(await call(`/api/v1/files/${fileId}`, { headers: apiKey() }), 'download');
    expectUnavailable(await call(`/api/v1/files/${fileId}?meta=true`, { headers: apiKey() }), 'metadata');
    expectUnavailable(await call(`/api/v1/files/${fileId}`, { method: 'DELETE', headers: apiKey() }), 'delete');
    expectUnavailable(await call('/api/explorer?bucket=default', { headers: { cookie: user.cookie } }), 'explorer');
    const session = { cookie: user.cookie, origin: server.apiEndpoint, 'content-type': 'application/json' };
    expectUnavailable(await call('/api/buckets', { headers: session, body: JSON.stringify({ name: 'during-outage' }) }), 'create bucket');

    // The same condition through the S3 door: an upload whose backend connection is refused is
    // S3's 503 ServiceUnavailable (SDKs retry it), not an InternalError.
    const credentials = { accessKeyId: user.firstKey.accessKey, secretAccessKey: user.firstKey.secretKey };
    const put = await sendRaw(server.endpoint, await signRaw(server.endpoint, credentials, { method: 'PUT', path: '/default/during-s3.txt', body: 'written during the outage' }));
    expect([put.status, put.code, put.headers['retry-after']]).toEqual([503, 'ServiceUnavailable', '1']);
  });

  it('serves the same requests again once the backend is back, and the refused upload stored nothing', async () => {
    relay.setMode('forward');
    const downloaded = await call(`/api/v1/files/${fileId}`, { headers: apiKey() });
    expect([downloaded.status, downloaded.text]).toEqual([200, 'stored before the outage']);
    const listed = await call('/api/v1/files?bucket=default', { headers: apiKey() });
    expect(listed.status).toBe(200);
    expect(listed.json.files.map((file: { key: string }) => file.key)).toEqual(['before.txt']);
    expect((await call('/api/v1/files?key=after.txt', { headers: apiKey(), body: 'after' })).status).toBe(201);
    const browsed = await call('/api/explorer?bucket=default', { headers: { cookie: user.cookie } });
    expect([browsed.status, browsed.json.files.map((entry: { key: string }) => entry.key)]).toEqual([200, ['after.txt', 'before.txt']]);
  });
});
