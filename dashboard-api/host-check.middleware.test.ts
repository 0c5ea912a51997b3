import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { startTestServer, type TestServer } from '../test/support/cloudstorage.ts';
import { DASHBOARD_PASSWORD, newEmail } from '../test/support/dashboard.ts';
import { rawHttp } from '../test/support/raw-http.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const invalidHost = { error: 'invalid_host', detail: expect.stringContaining('ALLOWED_HOSTS'), requestId: requestIdShape };

/** A request with exactly this Host header (undefined: none, over HTTP/1.0, which allows that). */
function send(server: TestServer, host: string | undefined, options: { method?: string; path?: string; origin?: string; cookie?: string; body?: unknown } = {}) {
  const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const head = [`${options.method ?? 'GET'} ${options.path ?? '/api/auth/me'} ${host === undefined ? 'HTTP/1.0' : 'HTTP/1.1'}`];
  if (host !== undefined) head.push(`Host: ${host}`);
  if (options.origin) head.push(`Origin: ${options.origin}`);
  if (options.cookie) head.push(`Cookie: ${options.cookie}`);
  if (body) head.push('Content-Type: application/json', `Content-Length: ${body.length}`);
  head.push('Connection: close');
  return rawHttp(server.running.apiPort, head, body ? (socket) => socket.write(body) : undefined);
}

const sessionOf = (response: { headers: Record<string, string> }) => response.headers['set-cookie']?.split(';')[0];

describe('dashboard API Host check (DNS rebinding), without PUBLIC_URL', () => {
  let server: TestServer;
  let port: number;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    port = server.running.apiPort;
  });
  afterAll(async () => server?.close());

  it('refuses a rebound name: sign-up and sign-in "same-origin" to attacker.example get 421 invalid_host and create nothing', async () => {
    // The attacker's page on http://attacker.example:PORT, its name re-resolved to 127.0.0.1: the
    // browser sends Host and Origin of the attacker's name, which the CSRF rule used to take as ours.
    const email = newEmail('rebound');
    const host = `attacker.example:${port}`;
    const signup = await send(server, host, { method: 'POST', path: '/api/auth/signup', origin: `http://${host}`, body: { email, password: DASHBOARD_PASSWORD } });
    expect(signup.status).toBe(421);
    expect(signup.json).toEqual(invalidHost);
    expect(signup.headers['set-cookie']).toBeUndefined();
    expect(await server.running.core.accountsRepository.findByEmail(email)).toBeUndefined();

    await server.createAccount(email);
    const login = await send(server, host, { method: 'POST', path: '/api/auth/login', origin: `http://${host}`, body: { email, password: 'correct horse battery staple' } });
    expect(login.status).toBe(421);
    expect(login.headers['set-cookie']).toBeUndefined();
    // Reads too: a rebound page learns nothing, not even the API description.
    for (const path of ['/api/auth/me', '/api/openapi.json', '/api/docs']) expect((await send(server, host, { path })).status, path).toBe(421);
  });

  it('refuses names that only look local, and malformed or missing Host headers', async () => {
    for (const host of [
      'attacker.example',
      `localhost.attacker.example:${port}`,
      `127.0.0.1.attacker.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      '10.0.0.1',
      '[::2]',
      '128.0.0.1',
      '127.0.0.256',
    ]) {
      const response = await send(server, host);
      expect(response.status, host).toBe(421);
      expect(response.json, host).toEqual(invalidHost);
    }
    // Malformed, empty or missing Host values never reach a route either (@hono/node-server refuses them itself, with 400).
    for (const host of ['localhost:port', `user@localhost:${port}`, `localhost:${port}/x`, '', undefined]) expect([400, 421], host).toContain((await send(server, host)).status);
  });

  it('serves loopback names, so a fresh install works from curl and from a browser on localhost', async () => {
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, 'localhost.', `dashboard.localhost:${port}`, `127.0.0.1:${port}`, '127.10.20.30', `[::1]:${port}`]) {
      const response = await send(server, host);
      expect(response.status, host).toBe(401);
      expect(response.json.error, host).toBe('auth.unauthenticated');
    }
    // curl: no Origin.
    const curl = await send(server, `localhost:${port}`, { method: 'POST', path: '/api/auth/signup', body: { email: newEmail('curl'), password: DASHBOARD_PASSWORD } });
    expect(curl.status).toBe(201);
    // A browser at http://localhost:PORT: same-origin sign-up, then a cookie-authenticated write.
    const origin = `http://localhost:${port}`;
    const browser = await send(server, `localhost:${port}`, {
      method: 'POST',
      path: '/api/auth/signup',
      origin,
      body: { email: newEmail('browser'), password: DASHBOARD_PASSWORD },
    });
    expect(browser.status).toBe(201);
    const write = await send(server, `localhost:${port}`, { method: 'POST', path: '/api/buckets', origin, cookie: sessionOf(browser), body: { name: `b-${Date.now()}` } });
    expect(write.status, write.body).toBe(201);
  });

  it('leaves the health probes reachable under any Host (orchestrators probe by address)', async () => {
    expect((await send(server, '10.1.2.3:3000', { path: '/health' })).status).toBe(200);
    expect((await send(server, '10.1.2.3:3000', { path: '/health/status' })).status).toBe(200);
  });
});

describe('dashboard API Host check with PUBLIC_URL and ALLOWED_HOSTS', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', PUBLIC_URL: 'https://dash.example.com/app', ALLOWED_HOSTS: 'storage.example.net, .corp.example' });
  });
  afterAll(async () => server?.close());

  it("serves PUBLIC_URL's host, the ALLOWED_HOSTS names (.domain: and its subdomains) and loopback; nothing else", async () => {
    const served = ['dash.example.com', 'dash.example.com:443', 'storage.example.net:3000', 'corp.example', 'a.b.corp.example', `127.0.0.1:${server.running.apiPort}`];
    for (const host of served) expect((await send(server, host)).status, host).toBe(401);
    const refused = ['example.com', 'evil.dash.example.com', 'storage.example.net.evil', 'xcorp.example', 'corp.example.evil'];
    for (const host of refused) expect((await send(server, host)).json, host).toEqual(invalidHost);
  });

  it('reads ALLOWED_HOSTS as a comma-separated list of names and refuses URLs or ports in it', () => {
    expect(loadConfig({}).ALLOWED_HOSTS).toEqual([]);
    expect(loadConfig({ ALLOWED_HOSTS: ' A.example , .b.example,,[fd00::1], storage_1 ' }).ALLOWED_HOSTS).toEqual(['a.example', '.b.example', '[fd00::1]', 'storage_1']);
    expect(() => loadConfig({ ALLOWED_HOSTS: 'https://a.example' })).toThrow(ConfigError);
    expect(() => loadConfig({ ALLOWED_HOSTS: 'a.example:8080' })).toThrow(/ALLOWED_HOSTS: not host names: a\.example:8080/);
  });
});
