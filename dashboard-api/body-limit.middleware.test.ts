import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, newEmail, signupViaApi, type SignedUp } from '../test/support/dashboard.ts';
import { rawHttp, writeChunked } from '../test/support/raw-http.ts';
import { dashboardOperations } from './app.ts';

const DEFAULT_CAP = 64 * 1024;
/** What the attacker sent to /api/auth/login; only the header is ever sent here. */
const HUGE = 400 * 1024 * 1024;
const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const tooLarge = (cap: number) => ({ error: 'payload_too_large', detail: expect.stringContaining(String(cap)), requestId: requestIdShape });
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('dashboard API body cap (API_BODY_LIMIT_BYTES)', () => {
  let server: TestServer;
  let port: number;
  let admin: { cookie: string; userId: string };
  let user: SignedUp;
  let apiKey: string;
  let fileId: string;

  /** Every credential at once (admin session, same Origin, an access key), so only the body can be refused. */
  const credentialHeaders = () => [`Host: 127.0.0.1:${port}`, `Origin: ${server.apiEndpoint}`, `Cookie: ${admin.cookie}`, `X-API-Key: ${apiKey}`];

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    port = server.running.apiPort;
    const email = newEmail('admin');
    const { user: created } = await server.running.core.accountsUsecases.createAccount({ email, password: DASHBOARD_PASSWORD, isAdmin: true });
    const login = await callApi(server, '/api/auth/login', { body: { email, password: DASHBOARD_PASSWORD } });
    admin = { cookie: login.response.headers.getSetCookie()[0]!.split(';')[0]!, userId: created.id };
    user = await signupViaApi(server);
    apiKey = `${user.firstKey.accessKey}:${user.firstKey.secretKey}`;
    const upload = await fetch(`${server.apiEndpoint}/api/v1/files?key=keep.txt`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: 'kept' });
    expect(upload.status).toBe(201);
    fileId = ((await upload.json()) as { id: string }).id;
  });
  afterAll(async () => server?.close());

  /** Every documented operation that can carry a body, except the streamed uploads, plus an unknown route. */
  const cappedTargets = () => {
    const ids: Record<string, string> = { '/api/admin/users/{id}': user.userId, '/api/admin/keys/{id}/revoke': user.firstKey.id, '/api/v1/files/{id}': encodeURIComponent(fileId) };
    const documented = dashboardOperations
      .filter((operation) => operation.method !== 'get' && !(operation.method === 'post' && ['/api/v1/files', '/api/shares/upload', '/api/versions'].includes(operation.path)))
      .map((operation) => ({ method: operation.method.toUpperCase(), path: operation.path.replace('{id}', ids[operation.path] ?? 'x') }));
    return [...documented, { method: 'POST', path: '/api/no-such-route' }, { method: 'POST', path: '/health' }];
  };

  it('answers 413 to an oversized Content-Length on every route that reads a body, before reading a byte of it', async () => {
    const targets = cappedTargets();
    // Every route class: anonymous (sign-up, sign-in), session, admin, access key, unknown.
    expect(targets.map((target) => target.path)).toEqual(
      expect.arrayContaining(['/api/auth/login', '/api/keys', '/api/admin/users', `/api/v1/files/${encodeURIComponent(fileId)}`]),
    );
    for (const { method, path } of targets) {
      // Headers only: a server that waited for these 400 MB would never answer.
      const response = await rawHttp(port, [`${method} ${path} HTTP/1.1`, ...credentialHeaders(), 'Content-Type: application/json', `Content-Length: ${HUGE}`]);
      expect(response.status, `${method} ${path}`).toBe(413);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.json, `${method} ${path}`).toEqual(tooLarge(DEFAULT_CAP));
    }
    // Nothing was done: the key still works, the file is still there, the account still active.
    const file = await fetch(`${server.apiEndpoint}/api/v1/files/${encodeURIComponent(fileId)}`, { headers: { 'x-api-key': apiKey } });
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('kept');
    expect((await callApi(server, '/api/auth/me', { cookie: user.cookie })).status).toBe(200);
  });

  it('counts a chunked body without Content-Length while it streams: 413 once past the cap, though the body never ends', async () => {
    const overCap = Buffer.alloc(DEFAULT_CAP + 16 * 1024, 0x20);
    const targets = [
      { path: '/api/auth/login', contentType: 'application/json' },
      { path: '/api/auth/signup', contentType: 'application/x-www-form-urlencoded' },
      { path: '/api/keys', contentType: 'application/json' },
      { path: '/api/admin/users', contentType: 'application/json' },
      { path: '/api/no-such-route', contentType: 'application/json' },
    ];
    for (const { path, contentType } of targets) {
      // The terminating chunk is never sent: buffering the whole body first would wait forever.
      const response = await rawHttp(port, [`POST ${path} HTTP/1.1`, ...credentialHeaders(), `Content-Type: ${contentType}`, 'Transfer-Encoding: chunked'], (socket) =>
        writeChunked(socket, overCap, { finish: false }),
      );
      expect(response.status, path).toBe(413);
      expect(response.json, path).toEqual(tooLarge(DEFAULT_CAP));
    }
  });

  it('reads bodies up to the cap, chunked or not, exactly as before', async () => {
    // A chunked sign-up within the cap reaches the handler intact.
    const email = newEmail('chunked');
    const json = Buffer.from(JSON.stringify({ email, password: DASHBOARD_PASSWORD }));
    const chunked = await rawHttp(port, ['POST /api/auth/signup HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked'], (socket) =>
      writeChunked(socket, json, { chunkSize: 7 }),
    );
    expect(chunked.status, chunked.body).toBe(201);
    expect(chunked.json.user.email).toBe(email);

    // Exactly the cap is read (then refused by validation, not by size); one byte more is not.
    const atCap = (size: number) => {
      const body = JSON.stringify({ email, password: 'x' });
      return Buffer.from(body.slice(0, -1) + ' '.repeat(size - body.length) + '}');
    };
    for (const [size, status] of [
      [DEFAULT_CAP, 401],
      [DEFAULT_CAP + 1, 413],
    ] as const) {
      const body = atCap(size);
      expect(body.length).toBe(size);
      const response = await rawHttp(port, ['POST /api/auth/login HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', `Content-Length: ${size}`], (socket) =>
        socket.write(body),
      );
      expect(response.status, `${size} bytes: ${response.body}`).toBe(status);
    }
  });

  it('does not cap the streamed file upload (POST /api/v1/files): raw and multipart bodies far above the cap are stored intact', async () => {
    const data = randomBytes(DEFAULT_CAP * 16);
    const raw = await fetch(`${server.apiEndpoint}/api/v1/files?key=big.bin`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(raw.status, await raw.clone().text()).toBe(201);
    const form = new FormData();
    form.set('file', new Blob([data]), 'big-form.bin');
    const multipart = await fetch(`${server.apiEndpoint}/api/v1/files`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form });
    expect(multipart.status, await multipart.clone().text()).toBe(201);
    for (const response of [raw, multipart]) {
      const { id, size } = (await response.json()) as { id: string; size: number };
      expect(size).toBe(data.length);
      const download = await fetch(`${server.apiEndpoint}/api/v1/files/${encodeURIComponent(id)}`, { headers: { 'x-api-key': apiKey } });
      expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(data));
    }
  });

  it('takes its size from API_BODY_LIMIT_BYTES', async () => {
    const small = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', API_BODY_LIMIT_BYTES: 2048 });
    try {
      const body = JSON.stringify({ email: newEmail(), password: 'p'.repeat(3000) });
      const refused = await callApi(small, '/api/auth/signup', { body });
      expect(refused.status).toBe(413);
      expect(refused.json).toEqual(tooLarge(2048));
      expect((await callApi(small, '/api/auth/signup', { body: { email: newEmail(), password: DASHBOARD_PASSWORD } })).status).toBe(201);
    } finally {
      await small.close();
    }
  });
});
