import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { freePort } from '../support/ports.ts';
import { parsePrometheus } from '../support/prometheus.ts';
import { presignRaw, sendRaw, signRaw } from '../support/raw-s3.ts';

/**
 * Issue #11, observability: `GET /metrics` (Prometheus text, API port, METRICS_TOKEN) is scraped
 * after real S3 and file API requests and parsed, and each request's access line is asserted
 * (request id, account, key id, operation, bucket, status, bytes in/out) without a signature,
 * credential, secret or query string in any line.
 */

type AccessLine = Record<string, unknown> & { message: string; server: string; status: number | null; path: string };

describe('logs and metrics over the network', () => {
  const token = 'metrics-token-0123456789abcdef';
  const lines: string[] = [];
  let server: TestServer;
  let account: TestAccount;

  const s3 = async (method: string, path: string, body?: Buffer) => sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, body }));
  const upload = (key: string, body: Buffer) =>
    fetch(`${server.apiEndpoint}/api/v1/files?bucket=default&key=${key}`, {
      method: 'POST',
      headers: { 'X-API-Key': `${account.accessKeyId}:${account.secretAccessKey}`, 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(body),
    });
  const scrape = async (authorization = `Bearer ${token}`) => {
    const response = await fetch(`${server.apiEndpoint}/metrics`, { headers: { authorization } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await response.text());
  };
  const accessLines = () => lines.map((line) => JSON.parse(line) as AccessLine).filter((line) => line.message === 'access');

  beforeAll(async () => {
    server = await startTestServer(
      // 100 KiB quota: the 200 KiB uploads below are refused; one listing per hour: the second is refused.
      { LOG_LEVEL: 'info', METRICS_TOKEN: token, DEFAULT_QUOTA_BYTES: 100 * 1024, RATE_LIMIT_LIST: '1/1h' },
      { logger: createLogger('info', (line) => lines.push(line)) },
    );
    account = await server.createAccount();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('counts S3 requests per operation and status class, bytes in and out, backend calls, quota and rate-limit refusals, and the outbox backlog', async () => {
    const body = Buffer.alloc(5000, 7);
    expect((await s3('PUT', '/default/m.bin', body)).status).toBe(200);
    expect((await s3('GET', '/default/m.bin')).body).toEqual(body);
    const presigned = await presignRaw(server.endpoint, account, { method: 'GET', path: '/default/m.bin', expiresIn: 600 });
    expect((await sendRaw(server.endpoint, { method: 'GET', path: presigned })).body).toEqual(body);
    expect((await s3('GET', '/default/missing.bin')).code).toBe('NoSuchKey');
    expect((await s3('PUT', '/default/too-big.bin', Buffer.alloc(200 * 1024))).code).toBe('QuotaExceeded');
    expect((await s3('GET', '/')).status).toBe(200);
    expect((await s3('GET', '/')).code).toBe('TooManyRequests');
    const uploaded = await upload('f.bin', Buffer.alloc(3000, 1));
    expect(uploaded.status).toBe(201);
    expect((await upload('f-too-big.bin', Buffer.alloc(200 * 1024))).status).toBe(413);
    // Nothing delivered yet to the activity subscriber once the dispatcher stops: the next event stays in the outbox.
    await server.running.core.events.flush();
    await server.running.core.events.dispatcher.close();
    expect((await s3('PUT', '/outbox-bucket')).status).toBe(200);

    const m = await scrape();
    const s3Requests = (operation: string, statusClass: string) => m.get(`cloudstorage_s3_requests_total{operation="${operation}",status_class="${statusClass}"}`);
    expect(s3Requests('PutObject', '2xx')).toBe(1);
    expect(s3Requests('GetObject', '2xx')).toBe(2);
    expect(s3Requests('GetObject', '4xx')).toBe(1);
    expect(s3Requests('PutObject', '4xx')).toBe(1);
    expect(s3Requests('ListBuckets', '2xx')).toBe(1);
    expect(s3Requests('ListBuckets', '4xx')).toBe(1);
    expect(s3Requests('CreateBucket', '2xx')).toBe(1);
    expect(m.get('cloudstorage_s3_received_bytes_total{operation="PutObject",status_class="2xx"}')).toBe(5000);
    expect(m.get('cloudstorage_s3_sent_bytes_total{operation="PutObject",status_class="2xx"}')).toBe(0);
    expect(m.get('cloudstorage_s3_sent_bytes_total{operation="GetObject",status_class="2xx"}')).toBe(10_000);
    // A histogram: every request in the +Inf bucket and the count.
    expect(m.get('cloudstorage_s3_request_duration_seconds_bucket{le="+Inf",operation="PutObject",status_class="2xx"}')).toBe(1);
    expect(m.get('cloudstorage_s3_request_duration_seconds_count{operation="GetObject",status_class="2xx"}')).toBe(2);
    expect(m.get('cloudstorage_s3_request_duration_seconds_sum{operation="GetObject",status_class="2xx"}')).toBeGreaterThan(0);

    expect(m.get('cloudstorage_api_requests_total{method="POST",route="/api/v1/files",status_class="2xx"}')).toBe(1);
    expect(m.get('cloudstorage_api_requests_total{method="POST",route="/api/v1/files",status_class="4xx"}')).toBe(1);
    expect(m.get('cloudstorage_api_received_bytes_total{method="POST",route="/api/v1/files",status_class="2xx"}')).toBe(3000);

    // The S3 PUT and the file upload stored one object each; the quota refused the two others before the backend.
    expect(m.get('cloudstorage_backend_call_duration_seconds_count{call="putObject"}')).toBe(2);
    expect(m.get('cloudstorage_backend_call_duration_seconds_count{call="getObject"}')).toBe(3);
    // Not found is an answer, not a backend error.
    expect([...m.keys()].filter((name) => name.startsWith('cloudstorage_backend_errors_total'))).toEqual([]);
    expect(m.get('cloudstorage_quota_refusals_total{door="s3"}')).toBe(1);
    expect(m.get('cloudstorage_quota_refusals_total{door="api"}')).toBe(1);
    expect(m.get('cloudstorage_rate_limit_refusals_total{scope="s3:list"}')).toBe(1);
    expect(m.get('cloudstorage_redis_degraded')).toBe(0);
    expect(m.get('cloudstorage_outbox_backlog_events{subscriber="activity"}')).toBe(1);
    // The scrape itself and process figures are there too.
    expect(m.get('process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('writes one access line per request with request id, account, key id, operation, bucket, status and bytes, never a signature, secret or query', async () => {
    const key = 'logged.bin';
    const body = Buffer.alloc(1234, 3);
    const put = await s3('PUT', `/default/${key}`, body);
    const presigned = await presignRaw(server.endpoint, account, { method: 'GET', path: `/default/${key}`, expiresIn: 600 });
    const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(presigned)![1]!;
    const get = await sendRaw(server.endpoint, { method: 'GET', path: presigned });
    expect(get.body).toEqual(body);
    const missing = await s3('GET', '/default/not-there.bin');
    const uploaded = await upload('logged-upload.bin', Buffer.alloc(777, 2));
    const { id } = (await uploaded.json()) as { id: string };
    // Access lines are written when the response is done: after the client got it.
    await expect.poll(() => accessLines().filter((line) => line.path === `/api/v1/files`).length).toBeGreaterThan(1);

    const byRequestId = (requestId: unknown) => accessLines().filter((line) => line.requestId === requestId);
    expect(byRequestId(put.headers['x-amz-request-id'])).toEqual([
      expect.objectContaining({
        level: 'info',
        server: 's3',
        method: 'PUT',
        path: `/default/${key}`,
        operation: 'PutObject',
        bucket: 'default',
        accountId: account.userId,
        keyId: account.accessKeyId,
        status: 200,
        bytesIn: 1234,
        bytesOut: 0,
        durationMs: expect.any(Number),
      }),
    ]);
    const [getLine] = byRequestId(get.headers['x-amz-request-id']);
    // The path without the presigned query: nothing of the signature or credential.
    expect(getLine).toMatchObject({ operation: 'GetObject', path: `/default/${key}`, status: 200, bytesIn: 0, bytesOut: 1234, keyId: account.accessKeyId });
    expect(byRequestId(missing.headers['x-amz-request-id'])).toEqual([
      expect.objectContaining({ operation: 'GetObject', status: 404, error: 'NoSuchKey', bytesOut: Number(missing.headers['content-length']) }),
    ]);
    expect(byRequestId(uploaded.headers.get('x-request-id'))).toEqual([
      expect.objectContaining({
        server: 'api',
        method: 'POST',
        path: '/api/v1/files',
        operation: '/api/v1/files',
        accountId: account.userId,
        keyId: account.accessKeyId,
        status: 201,
        bytesIn: 777,
      }),
    ]);
    expect(id).toEqual(expect.any(String));

    for (const line of lines) {
      expect(line).not.toContain(signature);
      expect(line).not.toContain(account.secretAccessKey);
      expect(line).not.toMatch(/X-Amz-(Signature|Credential)=(?!REDACTED)/i);
      expect(line).not.toContain('?bucket=default');
    }
  });

  it('counts a failing backend call as a backend error (a data file removed behind the fs backend)', async () => {
    // Another account (fresh quota); a body big enough to get a data file of its own (small ones are inlined in the index).
    const other = await server.createAccount();
    const body = Buffer.alloc(90 * 1024 + 17, 9);
    expect((await sendRaw(server.endpoint, await signRaw(server.endpoint, other, { method: 'PUT', path: '/default/broken.bin', body }))).status).toBe(200);
    const removed = dataFiles(join(server.dataDir, 'objects')).filter((file) => statSync(file).size === body.length);
    expect(removed).toHaveLength(1);
    rmSync(removed[0]!);
    const get = await sendRaw(server.endpoint, await signRaw(server.endpoint, other, { method: 'GET', path: '/default/broken.bin' }));
    expect(get.status).toBe(500);
    const m = await scrape();
    expect(m.get('cloudstorage_backend_errors_total{call="getObject",kind="internal"}')).toBe(1);
    expect(m.get('cloudstorage_s3_requests_total{operation="GetObject",status_class="5xx"}')).toBe(1);
  });

  it('answers /metrics only with the METRICS_TOKEN bearer token, in JSON otherwise', async () => {
    for (const authorization of ['', 'Bearer wrong-token-0123456789abcdef', `Basic ${token}`, `Bearer ${token}x`]) {
      const response = await fetch(`${server.apiEndpoint}/metrics`, { headers: authorization ? { authorization } : {} });
      expect([authorization, response.status]).toEqual([authorization, 401]);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.json()).toEqual({ error: 'metrics.unauthorized', detail: expect.any(String), requestId: response.headers.get('x-request-id') });
    }
    expect((await scrape()).get('cloudstorage_api_requests_total{method="GET",route="/metrics",status_class="4xx"}')).toBe(4);
  });
});

describe('/metrics without a token, with Redis unreachable', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Nothing listens there: the limits start degraded (after their 2 s first-connection wait).
    server = await startTestServer({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT_MS: 50, RATE_LIMIT_LIST: '100/1s' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is open when METRICS_TOKEN is unset, and reports Redis degraded and the checks let through unchecked', async () => {
    const account = await server.createAccount();
    expect((await sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method: 'GET', path: '/' }))).status).toBe(200);
    const response = await fetch(`${server.apiEndpoint}/metrics`);
    expect(response.status).toBe(200);
    const m = parsePrometheus(await response.text());
    expect(m.get('cloudstorage_redis_degraded')).toBe(1);
    expect(m.get('cloudstorage_rate_limit_fail_open_total{scope="s3:list"}')).toBe(1);
  });
});

function dataFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...dataFiles(path));
    else if (!/\.sqlite/.test(entry.name)) found.push(path);
  }
  return found;
}
