import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../../src/clock.ts';
import { startTestServer, TEST_PASSWORD, type TestServer, sqliteOf } from '../../../test/support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, newEmail } from '../../../test/support/dashboard.ts';

const PASSWORD = DASHBOARD_PASSWORD;
const call = callApi;

/** The `session` Set-Cookie header of a response, split into its value and attributes. */
function sessionCookie(response: Response) {
  const header = response.headers.getSetCookie().find((line) => line.startsWith('session='));
  if (!header) return undefined;
  const [pair, ...attributes] = header.split(';').map((part) => part.trim());
  return { header, value: pair!.slice('session='.length), cookie: pair!, attributes };
}

async function signup(server: TestServer, email = newEmail(), password = PASSWORD) {
  const result = await call(server, '/api/auth/signup', { body: { email, password } });
  expect(result.status, JSON.stringify(result.json)).toBe(201);
  return { ...result, email, cookie: sessionCookie(result.response)!.cookie };
}

async function login(server: TestServer, email: string, password: string) {
  const result = await call(server, '/api/auth/login', { body: { email, password } });
  return { ...result, cookie: sessionCookie(result.response)?.cookie };
}

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);

describe('dashboard auth', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
  });
  afterAll(async () => server?.close());

  it('signs up: account, first access key (secret only here), default bucket, and a session cookie', async () => {
    const email = newEmail('Signup');
    const { response, json, cookie } = await signup(server, email);
    expect(json).toEqual({
      user: { id: expect.any(String), email: email.toLowerCase(), isAdmin: false, createdAt: expect.any(String) },
      accessKey: { id: expect.any(String), name: 'default', accessKey: expect.stringMatching(/^CS[A-Z0-9]{18}$/), secretKey: expect.any(String), createdAt: expect.any(String) },
      bucket: 'default',
    });
    expect(json.accessKey.secretKey).toHaveLength(40);
    expect(response.headers.get('cache-control')).toBe('no-store');

    const set = sessionCookie(response)!;
    expect(set.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(set.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/', 'Max-Age=604800']));
    expect(set.attributes).not.toContain('Secure');

    const me = await call(server, '/api/auth/me', { cookie });
    expect(me.status).toBe(200);
    expect(me.json).toEqual({ user: json.user });

    // Only the SHA-256 of the token is stored.
    const rows = sqliteOf(server.running.core).prepare('SELECT token_hash FROM sessions WHERE user_id = ?').all(json.user.id) as { token_hash: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.token_hash).not.toContain(set.value);

    const s3 = server.client({ userId: json.user.id, email, accessKeyId: json.accessKey.accessKey, secretAccessKey: json.accessKey.secretKey });
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
    s3.destroy();
  });

  it('refuses a weak password, an invalid email, a duplicate email (case-insensitive) and malformed bodies', async () => {
    const weak = await call(server, '/api/auth/signup', { body: { email: newEmail(), password: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.json).toEqual({ error: 'accounts.weak_password', detail: expect.stringContaining('8'), requestId: requestIdShape });
    expect(sessionCookie(weak.response)).toBeUndefined();

    const invalid = await call(server, '/api/auth/signup', { body: { email: 'not-an-email', password: PASSWORD } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toBe('accounts.invalid_email');

    const email = newEmail('dup');
    await signup(server, email);
    const duplicate = await call(server, '/api/auth/signup', { body: { email: email.toUpperCase(), password: PASSWORD } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json.error).toBe('accounts.email_taken');
    expect(sessionCookie(duplicate.response)).toBeUndefined();

    const missing = await call(server, '/api/auth/signup', { body: { email: newEmail() } });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('invalid_request');
    const notJson = await call(server, '/api/auth/login', { body: '{nope' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toBe('invalid_request');
  });

  it('logs in with the right password; a wrong password and an unknown email get the same 401', async () => {
    const { email, json: created } = await signup(server);
    const ok = await login(server, email.toUpperCase(), PASSWORD);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ user: created.user });
    expect((await call(server, '/api/auth/me', { cookie: ok.cookie })).json.user.id).toBe(created.user.id);

    const wrong = await login(server, email, 'wrong password!');
    const unknown = await login(server, newEmail('nobody'), 'wrong password!');
    for (const failed of [wrong, unknown]) {
      expect(failed.status).toBe(401);
      expect(failed.cookie).toBeUndefined();
    }
    const { requestId: _a, ...wrongBody } = wrong.json;
    const { requestId: _b, ...unknownBody } = unknown.json;
    expect(wrongBody).toEqual({ error: 'auth.invalid_credentials', detail: 'The email or password is incorrect.' });
    expect(unknownBody).toEqual(wrongBody);
  });

  it('refuses a deactivated account at login (after the password check) and drops its sessions', async () => {
    const { email, cookie, json } = await signup(server);
    sqliteOf(server.running.core).prepare("UPDATE users SET status = 'deactivated' WHERE id = ?").run(json.user.id);
    const refused = await login(server, email, PASSWORD);
    expect(refused.status).toBe(403);
    expect(refused.json.error).toBe('auth.account_deactivated');
    expect(refused.cookie).toBeUndefined();
    expect((await login(server, email, 'wrong password!')).status).toBe(401);
    expect((await call(server, '/api/auth/me', { cookie })).status).toBe(401);
  });

  it('answers /me without a valid session with 401 auth.unauthenticated', async () => {
    for (const cookie of [undefined, 'session=garbage', `session=${'A'.repeat(43)}`]) {
      const me = await call(server, '/api/auth/me', { cookie });
      expect(me.status).toBe(401);
      expect(me.json).toEqual({ error: 'auth.unauthenticated', detail: expect.any(String), requestId: requestIdShape });
    }
  });

  it('logs out: 204, the cookie is cleared and the session is gone server-side', async () => {
    const { cookie } = await signup(server);
    const other = await login(server, (await call(server, '/api/auth/me', { cookie })).json.user.email, PASSWORD);
    const out = await call(server, '/api/auth/logout', { method: 'POST', cookie });
    expect(out.status).toBe(204);
    const cleared = sessionCookie(out.response)!;
    expect(cleared.value).toBe('');
    expect(cleared.attributes).toContain('Max-Age=0');
    expect((await call(server, '/api/auth/me', { cookie })).status).toBe(401);
    // Only that session ended.
    expect((await call(server, '/api/auth/me', { cookie: other.cookie })).status).toBe(200);
  });

  it('changes the password: all sessions end, the caller gets a fresh one, the new password works and the old does not', async () => {
    const { email, cookie: first } = await signup(server);
    const second = (await login(server, email, PASSWORD)).cookie!;

    const wrongOld = await call(server, '/api/auth/password', { cookie: first, body: { oldPassword: 'not the password', newPassword: 'brand new password' } });
    expect(wrongOld.status).toBe(401);
    expect(wrongOld.json.error).toBe('auth.invalid_credentials');
    const weak = await call(server, '/api/auth/password', { cookie: first, body: { oldPassword: PASSWORD, newPassword: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.json.error).toBe('accounts.weak_password');
    expect((await call(server, '/api/auth/me', { cookie: second })).status).toBe(200);

    const changed = await call(server, '/api/auth/password', { cookie: first, body: { oldPassword: PASSWORD, newPassword: 'brand new password' } });
    expect(changed.status).toBe(204);
    const fresh = sessionCookie(changed.response)!;
    expect(fresh.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Lax', 'Path=/']));
    expect(fresh.cookie).not.toBe(first);

    expect((await call(server, '/api/auth/me', { cookie: first })).status).toBe(401);
    expect((await call(server, '/api/auth/me', { cookie: second })).status).toBe(401);
    expect((await call(server, '/api/auth/me', { cookie: fresh.cookie })).status).toBe(200);
    expect((await login(server, email, PASSWORD)).status).toBe(401);
    expect((await login(server, email, 'brand new password')).status).toBe(200);

    const anonymous = await call(server, '/api/auth/password', { body: { oldPassword: 'brand new password', newPassword: 'another new password' } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error).toBe('auth.unauthenticated');
  });

  it('CSRF: cookie-authenticated writes need our Origin; sign-in refuses a foreign Origin', async () => {
    const { cookie, email } = await signup(server);

    const foreign = await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.json).toEqual({ error: 'auth.csrf', detail: expect.any(String), requestId: requestIdShape });
    const noOrigin = await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: null });
    expect(noOrigin.status).toBe(403);
    expect(noOrigin.json.error).toBe('auth.csrf');
    const nullOrigin = await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    // Nothing happened: the session is still alive. Reads are not checked.
    expect((await call(server, '/api/auth/me', { cookie, origin: 'https://evil.example' })).status).toBe(200);

    const crossSiteLogin = await call(server, '/api/auth/login', { body: { email, password: PASSWORD }, origin: 'https://evil.example' });
    expect(crossSiteLogin.status).toBe(403);
    expect(crossSiteLogin.json.error).toBe('auth.csrf');
    expect(sessionCookie(crossSiteLogin.response)).toBeUndefined();
    const crossSiteSignup = await call(server, '/api/auth/signup', { body: { email: newEmail(), password: PASSWORD }, origin: 'https://evil.example' });
    expect(crossSiteSignup.status).toBe(403);
    // Scripts without a cookie and without Origin may sign in.
    expect((await call(server, '/api/auth/login', { body: { email, password: PASSWORD }, origin: null })).status).toBe(200);

    const sameOrigin = await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: server.apiEndpoint });
    expect(sameOrigin.status).toBe(204);
    expect((await call(server, '/api/auth/me', { cookie })).status).toBe(401);
  });

  it("never returns another account's data: each cookie resolves to its own user", async () => {
    const a = await signup(server, newEmail('alice'));
    const b = await signup(server, newEmail('bob'));
    const meA = await call(server, '/api/auth/me', { cookie: a.cookie });
    const meB = await call(server, '/api/auth/me', { cookie: b.cookie });
    expect(meA.json.user).toEqual(a.json.user);
    expect(meB.json.user).toEqual(b.json.user);
    expect(meB.json.user.id).not.toBe(a.json.user.id);
    // B logging out does not touch A's session.
    expect((await call(server, '/api/auth/logout', { method: 'POST', cookie: b.cookie })).status).toBe(204);
    expect((await call(server, '/api/auth/me', { cookie: a.cookie })).json.user.id).toBe(a.json.user.id);
  });
});

describe('dashboard auth with an https PUBLIC_URL', () => {
  let server: TestServer;
  const publicOrigin = 'https://dash.example.com';

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', PUBLIC_URL: `${publicOrigin}/app` });
  });
  afterAll(async () => server?.close());

  it('sets Secure cookies and accepts only the PUBLIC_URL origin', async () => {
    const { response, cookie } = await call(server, '/api/auth/signup', { body: { email: newEmail(), password: PASSWORD }, origin: null }).then((result) => ({
      ...result,
      cookie: sessionCookie(result.response)!.cookie,
    }));
    expect(response.status).toBe(201);
    expect(sessionCookie(response)!.attributes).toEqual(expect.arrayContaining(['Secure', 'HttpOnly', 'SameSite=Lax', 'Path=/']));

    const hostOrigin = await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: server.apiEndpoint });
    expect(hostOrigin.status).toBe(403);
    expect(hostOrigin.json.error).toBe('auth.csrf');
    expect((await call(server, '/api/auth/logout', { method: 'POST', cookie, origin: publicOrigin })).status).toBe(204);
  });
});

describe('dashboard auth with sign-up disabled', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', SIGNUP_ENABLED: 'false' });
  });
  afterAll(async () => server?.close());

  it('refuses sign-up with 403 auth.signup_disabled and creates nothing; CLI-made accounts still sign in', async () => {
    const email = newEmail();
    const refused = await call(server, '/api/auth/signup', { body: { email, password: PASSWORD } });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ error: 'auth.signup_disabled', detail: expect.any(String), requestId: requestIdShape });
    expect(sessionCookie(refused.response)).toBeUndefined();
    expect(await server.running.core.accountsRepository.findByEmail(email)).toBeUndefined();

    const account = await server.createAccount();
    expect((await login(server, account.email, TEST_PASSWORD)).status).toBe(200);
  });
});

describe('dashboard sessions expire', () => {
  const clock = fixedClock('2026-11-24T12:00:00Z');
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', SESSION_TTL_MS: 3_600_000 }, { clock });
  });
  afterAll(async () => server?.close());

  it('after SESSION_TTL_MS (by the injected clock), and the cookie says so', async () => {
    const { response, cookie } = await signup(server);
    expect(sessionCookie(response)!.attributes).toContain('Max-Age=3600');
    clock.advance(3_599_000);
    expect((await call(server, '/api/auth/me', { cookie })).status).toBe(200);
    clock.advance(1_000);
    const expired = await call(server, '/api/auth/me', { cookie });
    expect(expired.status).toBe(401);
    expect(expired.json.error).toBe('auth.unauthenticated');
  });
});

/** A login from a chosen loopback address (127.0.0.x), to tell per-address from per-email limits. */
function loginFrom(server: TestServer, localAddress: string, email: string, password: string): Promise<{ status: number; retryAfter?: string; json: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/api/auth/login', server.apiEndpoint);
    const body = JSON.stringify({ email, password });
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

describe('dashboard login rate limit (RATE_LIMIT_LOGIN 5/1m)', () => {
  const clock = fixedClock('2026-11-24T12:00:00Z');
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: '5/1m' }, { clock });
  });
  afterAll(async () => server?.close());
  // A fresh budget for every test.
  beforeEach(() => clock.advance(120_000));

  it('refuses the 6th attempt for one email within a minute with 429 and Retry-After, even with the right password', async () => {
    const account = await server.createAccount();
    for (let i = 0; i < 5; i++) expect((await loginFrom(server, '127.0.0.1', account.email, 'wrong password!')).status).toBe(401);
    const limited = await loginFrom(server, '127.0.0.1', account.email, TEST_PASSWORD);
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBe('12');
    expect(limited.json).toEqual({ error: 'rate_limited', detail: expect.stringContaining('12 seconds'), requestId: requestIdShape });
    // Per email: another address does not help.
    expect((await loginFrom(server, '127.0.0.2', account.email, TEST_PASSWORD)).status).toBe(429);
    clock.advance(12_000);
    expect((await loginFrom(server, '127.0.0.3', account.email, TEST_PASSWORD)).status).toBe(200);
  });

  it('limits per client address too: spreading guesses over emails does not help', async () => {
    for (let i = 0; i < 5; i++) expect((await loginFrom(server, '127.0.0.4', newEmail('spray'), 'wrong password!')).status).toBe(401);
    const limited = await loginFrom(server, '127.0.0.4', newEmail('spray'), 'wrong password!');
    expect(limited.status).toBe(429);
    expect(limited.json.error).toBe('rate_limited');
    // Another address with a fresh email is unaffected.
    expect((await loginFrom(server, '127.0.0.5', newEmail('spray'), 'wrong password!')).status).toBe(401);
  });
});
