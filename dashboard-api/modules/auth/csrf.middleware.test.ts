import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { DASHBOARD_PASSWORD, newEmail, signupViaApi, type SignedUp } from '../../../test/support/dashboard.ts';

const EVIL = 'https://evil.example';
const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const csrfRefusal = { error: 'auth.csrf', detail: expect.any(String), requestId: requestIdShape };

/** One call with exactly these headers (Origin only when given). */
async function call(server: TestServer, path: string, init: { method: string; headers?: Record<string, string>; body?: unknown }) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.apiEndpoint}${path}`, { method: init.method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: response.status, json: (text ? JSON.parse(text) : undefined) as any, response };
}

describe('dashboard CSRF: the principal decides, not the headers present', () => {
  let server: TestServer;
  let victim: SignedUp;
  let apiKey: string;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    victim = await signupViaApi(server);
    apiKey = `${victim.firstKey.accessKey}:${victim.firstKey.secretKey}`;
  });
  afterAll(async () => server?.close());

  const keyCount = async () => (await call(server, '/api/keys', { method: 'GET', headers: { cookie: victim.cookie } })).json.keys.length;

  it('checks cookie-authenticated writes even when an X-API-Key or Bearer header rides along (valid, invalid or empty)', async () => {
    const before = await keyCount();
    const apiKeyHeaders: Record<string, string>[] = [
      { 'x-api-key': 'AKIAFORGED:nothing' },
      { 'x-api-key': apiKey },
      { 'x-api-key': '' },
      { authorization: 'Bearer forged:nothing' },
      { authorization: `Bearer ${apiKey}` },
    ];
    for (const extra of apiKeyHeaders) {
      // A foreign or opaque Origin, or a browser's Sec-Fetch-Site without any Origin.
      for (const browser of [{ origin: EVIL }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
        const headers = { cookie: victim.cookie, ...extra, ...browser };
        const label = `${JSON.stringify(extra)} ${JSON.stringify(browser)}`;
        // Create a key in the victim's account, delete their bucket, end their session.
        const create = await call(server, '/api/keys', { method: 'POST', headers, body: { name: 'attacker' } });
        expect(create.status, label).toBe(403);
        expect(create.json, label).toEqual(csrfRefusal);
        const removeBucket = await call(server, '/api/buckets?name=default', { method: 'DELETE', headers });
        expect(removeBucket.status, label).toBe(403);
        const logout = await call(server, '/api/auth/logout', { method: 'POST', headers });
        expect(logout.status, label).toBe(403);
      }
    }
    // Nothing happened: same keys, the bucket and the session are still there.
    expect(await keyCount()).toBe(before);
    const buckets = await call(server, '/api/buckets', { method: 'GET', headers: { cookie: victim.cookie } });
    expect(buckets.json.buckets.map((bucket: { name: string }) => bucket.name)).toContain('default');
  });

  it('refuses login CSRF with an API-key header too: a foreign Origin cannot sign the browser into another account', async () => {
    const email = newEmail('attacker');
    await server.running.core.accountsUsecases.createAccount({ email, password: DASHBOARD_PASSWORD });
    for (const extra of [{ 'x-api-key': apiKey }, { authorization: 'Bearer x:y' }] as Record<string, string>[]) {
      const login = await call(server, '/api/auth/login', { method: 'POST', headers: { origin: EVIL, ...extra }, body: { email, password: DASHBOARD_PASSWORD } });
      expect(login.status).toBe(403);
      expect(login.json.error).toBe('auth.csrf');
      expect(login.response.headers.getSetCookie()).toEqual([]);
    }
  });

  it('lets same-origin cookie writes through whatever API-key header they carry (the cookie is the principal)', async () => {
    const create = await call(server, '/api/keys', {
      method: 'POST',
      headers: { cookie: victim.cookie, origin: server.apiEndpoint, 'x-api-key': 'AKIAFORGED:nothing' },
      body: { name: 'mine' },
    });
    expect(create.status, JSON.stringify(create.json)).toBe(201);
    const revoke = await call(server, `/api/keys?id=${create.json.id}`, {
      method: 'DELETE',
      headers: { cookie: victim.cookie, origin: server.apiEndpoint, authorization: 'Bearer x:y' },
    });
    expect(revoke.status).toBe(200);
  });

  it('the file API is authenticated by the access key alone: a cookie there grants nothing, so no Origin is needed', async () => {
    const upload = await call(server, '/api/v1/files?key=a.txt', { method: 'POST', headers: { 'x-api-key': apiKey, origin: EVIL, cookie: victim.cookie }, body: 'x' });
    expect(upload.status).toBe(201);
    const path = `/api/v1/files/${encodeURIComponent(upload.json.id)}`;
    // The session cookie alone (same origin even) does not authenticate the file API.
    const cookieOnly = await call(server, path, { method: 'DELETE', headers: { cookie: victim.cookie, origin: server.apiEndpoint } });
    expect(cookieOnly.status).toBe(401);
    expect(cookieOnly.json.error).toBe('auth.unauthenticated');
    // A forged key beside the cookie is refused by the key check, not waved through.
    const forged = await call(server, path, { method: 'DELETE', headers: { cookie: victim.cookie, origin: EVIL, 'x-api-key': 'AKIAFORGED:nothing' } });
    expect(forged.status).toBe(401);
    const withKey = await call(server, path, { method: 'DELETE', headers: { cookie: victim.cookie, origin: EVIL, authorization: `Bearer ${apiKey}` } });
    expect(withKey.status).toBe(200);
  });
});

/**
 * What curl sends: exactly these headers (node:http adds only Host, Content-Length and
 * Connection), so no Origin and no Sec-Fetch-Site unless a test names them.
 */
function curl(server: TestServer, path: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; json: any }> {
  const url = new URL(path, server.apiEndpoint);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: init.method, path: `${url.pathname}${url.search}`, headers: init.headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.once('error', reject);
    req.end(init.body);
  });
}

describe('dashboard CSRF: scripts (curl) write with the session cookie and JSON, browsers need our Origin', () => {
  let server: TestServer;
  let user: SignedUp;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    user = await signupViaApi(server);
  });
  afterAll(async () => server?.close());

  const keyNames = async () => (await curl(server, '/api/keys', { method: 'GET', headers: { cookie: user.cookie } })).json.keys.map((key: { name: string }) => key.name).sort();

  it('accepts a cookie-authenticated JSON write without Origin and Sec-Fetch-Site, as the API spec shows with curl', async () => {
    const created = await curl(server, '/api/keys', {
      method: 'POST',
      headers: { cookie: user.cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from-curl' }),
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json).toMatchObject({ name: 'from-curl', accessKey: expect.any(String), secretKey: expect.any(String) });
    const bucket = await curl(server, '/api/buckets', {
      method: 'POST',
      headers: { cookie: user.cookie, 'content-type': 'Application/JSON; charset=utf-8' },
      body: JSON.stringify({ name: 'curl-bucket' }),
    });
    expect(bucket.status, JSON.stringify(bucket.json)).toBe(201);
    expect(await keyNames()).toContain('from-curl');
  });

  it('still refuses browser-style requests without our Origin: a cross-site Origin, or Sec-Fetch-Site without Origin, even with a JSON body', async () => {
    const before = await keyNames();
    const json = { cookie: user.cookie, 'content-type': 'application/json' };
    for (const browser of [
      { origin: EVIL },
      { origin: EVIL, 'sec-fetch-site': 'cross-site' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
    ] as Record<string, string>[]) {
      const refused = await curl(server, '/api/keys', { method: 'POST', headers: { ...json, ...browser }, body: JSON.stringify({ name: 'forged' }) });
      expect(refused.status, JSON.stringify(browser)).toBe(403);
      expect(refused.json, JSON.stringify(browser)).toEqual(csrfRefusal);
    }
    expect(await keyNames()).toEqual(before);
    // The dashboard itself: our Origin (and the Sec-Fetch-Site a browser adds) is accepted.
    const sameOrigin = await curl(server, '/api/keys', {
      method: 'POST',
      headers: { ...json, origin: server.apiEndpoint, 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ name: 'from-dashboard' }),
    });
    expect(sameOrigin.status).toBe(201);
  });

  it('refuses form and text bodies (what a cross-site HTML form sends) and body-less writes without Origin', async () => {
    const before = await keyNames();
    const body = JSON.stringify({ name: 'forged' });
    for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain', 'text/plain;charset=UTF-8', 'application/json-patch']) {
      const refused = await curl(server, '/api/keys', { method: 'POST', headers: { cookie: user.cookie, 'content-type': contentType }, body });
      expect(refused.status, contentType).toBe(403);
      expect(refused.json, contentType).toEqual(csrfRefusal);
    }
    const noType = await curl(server, '/api/keys', { method: 'POST', headers: { cookie: user.cookie }, body });
    expect(noType.status).toBe(403);
    const removeBucket = await curl(server, '/api/buckets?name=curl-bucket', { method: 'DELETE', headers: { cookie: user.cookie } });
    expect(removeBucket.status).toBe(403);
    const logout = await curl(server, '/api/auth/logout', { method: 'POST', headers: { cookie: user.cookie } });
    expect(logout.status).toBe(403);
    // Nothing happened: same keys, and the session still works.
    expect(await keyNames()).toEqual(before);
  });
});
