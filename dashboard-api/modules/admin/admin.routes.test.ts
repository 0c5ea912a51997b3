import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer, sqliteOf } from '../../../test/support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, gatewayAnswer, newEmail, s3ClientFor, signupViaApi } from '../../../test/support/dashboard.ts';
import { adminOperations } from './admin.routes.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const isoDate = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
const DEFAULT_QUOTA = 1_000_000;

type Key = { accessKey: string; secretKey: string };

/** The S3 error name of a PUT of `bytes` bytes into the key's `default` bucket, or 'ok'. */
async function putAnswer(server: TestServer, key: Key, name: string, bytes: number): Promise<string> {
  const s3 = s3ClientFor(server, key);
  try {
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: name, Body: Buffer.alloc(bytes, 0x61) }));
    return 'ok';
  } catch (error) {
    return (error as { name: string }).name;
  } finally {
    s3.destroy();
  }
}

async function login(server: TestServer, email: string, password = DASHBOARD_PASSWORD) {
  const result = await callApi(server, '/api/auth/login', { body: { email, password } });
  const header = result.response.headers.getSetCookie().find((line) => line.startsWith('session='));
  return { status: result.status, json: result.json, cookie: header?.split(';')[0] };
}

/** An admin account (as `user create --admin` makes it) signed in over HTTP. */
async function signedInAdmin(server: TestServer) {
  const email = newEmail('admin');
  const { user } = await server.running.core.accountsUsecases.createAccount({ email, password: DASHBOARD_PASSWORD, isAdmin: true });
  const session = await login(server, email);
  expect(session.status).toBe(200);
  return { id: user.id, email, cookie: session.cookie! };
}

const me = (server: TestServer, cookie: string | undefined) => callApi(server, '/api/auth/me', { cookie });
const patchUser = (server: TestServer, cookie: string, id: string, body: unknown) => callApi(server, `/api/admin/users/${id}`, { method: 'PATCH', cookie, body });

describe('dashboard /api/admin', () => {
  let server: TestServer;
  let admin: Awaited<ReturnType<typeof signedInAdmin>>;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off', DEFAULT_QUOTA_BYTES: String(DEFAULT_QUOTA) });
    admin = await signedInAdmin(server);
  });
  afterAll(async () => server?.close());

  it('answers every admin route with 401 without a session and 403 admin.forbidden for a non-admin, changing nothing', async () => {
    const victim = await signupViaApi(server);
    const regular = await signupViaApi(server);
    const requests = Object.values(adminOperations).map((operation) => ({
      method: operation.method.toUpperCase(),
      path: operation.path.replace('{id}', operation.path.startsWith('/api/admin/keys') ? victim.firstKey.id : victim.userId),
      body:
        operation.method === 'patch'
          ? { status: 'deactivated' }
          : operation.method === 'post' && !operation.path.endsWith('/revoke')
            ? { email: newEmail(), password: DASHBOARD_PASSWORD, isAdmin: true }
            : undefined,
    }));
    expect(requests).toHaveLength(6);
    for (const { method, path, body } of requests) {
      for (const cookie of [undefined, `session=${'A'.repeat(43)}`]) {
        const anonymous = await callApi(server, path, { method, body, cookie });
        expect(anonymous.status, `${method} ${path}`).toBe(401);
        expect(anonymous.json).toEqual({ error: 'auth.unauthenticated', detail: expect.any(String), requestId: requestIdShape });
      }
      const forbidden = await callApi(server, path, { method, body, cookie: regular.cookie });
      expect(forbidden.status, `${method} ${path}`).toBe(403);
      expect(forbidden.json).toEqual({ error: 'admin.forbidden', detail: 'This route is for administrators only.', requestId: requestIdShape });
    }
    // Nothing happened to the victim: still active, key still working, no account created.
    expect((await me(server, victim.cookie)).status).toBe(200);
    expect(await gatewayAnswer(server, victim.firstKey)).toBe('ok');
    expect((await server.running.core.accountsRepository.listAll()).filter((user) => user.isAdmin)).toHaveLength(1);
  });

  it('lists users with state, quota, usage and counts, page by page', async () => {
    const users = [await signupViaApi(server), await signupViaApi(server), await signupViaApi(server)];
    expect(await putAnswer(server, users[1]!.firstKey, 'photo.jpg', 1234)).toBe('ok');
    await callApi(server, '/api/keys', { cookie: users[1]!.cookie, body: { name: 'second' } });
    await callApi(server, '/api/buckets', { cookie: users[1]!.cookie, body: { name: 'photos' } });

    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await callApi(server, `/api/admin/users?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { cookie: admin.cookie });
      expect(page.status).toBe(200);
      expect(Object.keys(page.json).sort()).toEqual(['nextCursor', 'users']);
      expect(page.json.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.users);
      cursor = page.json.nextCursor;
      if (cursor !== null) expect(cursor).toBe(page.json.users[1].id);
      pages += 1;
    } while (cursor !== null && pages < 50);

    const total = (await server.running.core.accountsRepository.listAll()).length;
    expect(seen).toHaveLength(total);
    expect(new Set(seen.map((user) => user.id)).size).toBe(total);
    expect(pages).toBe(Math.ceil(total / 2));
    // Oldest first: the admin made in beforeAll leads, the three just made close the list.
    expect(seen[0].id).toBe(admin.id);
    expect(seen.slice(-3).map((user) => user.id)).toEqual(users.map((user) => user.userId));
    expect(seen.at(-2)).toEqual({
      id: users[1]!.userId,
      email: users[1]!.email.toLowerCase(),
      isAdmin: false,
      status: 'active',
      createdAt: isoDate,
      quotaBytes: DEFAULT_QUOTA,
      defaultQuota: true,
      usedBytes: 1234,
      keyCount: 2,
      bucketCount: 2,
    });
    expect(seen.at(-1)).toMatchObject({ usedBytes: 0, keyCount: 1, bucketCount: 1 });
    expect(seen[0]).toMatchObject({ email: admin.email.toLowerCase(), isAdmin: true });
    expect(JSON.stringify(seen)).not.toMatch(/scrypt|password/i);

    const one = await callApi(server, `/api/admin/users/${users[1]!.userId}`, { cookie: admin.cookie });
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ user: seen.at(-2) });
    const missing = await callApi(server, '/api/admin/users/no-such-user', { cookie: admin.cookie });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'admin.user_not_found', detail: expect.any(String), requestId: requestIdShape });

    const unknownCursor = await callApi(server, '/api/admin/users?cursor=no-such-user', { cookie: admin.cookie });
    expect(unknownCursor.status).toBe(400);
    expect(unknownCursor.json.error).toBe('admin.invalid_cursor');
    for (const limit of ['0', '101', 'many', '1.5']) {
      const refused = await callApi(server, `/api/admin/users?limit=${limit}`, { cookie: admin.cookie });
      expect(refused.status, limit).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    }
    // Without a limit: one page of up to 50.
    const firstPage = await callApi(server, '/api/admin/users', { cookie: admin.cookie });
    expect(firstPage.json.users).toHaveLength(Math.min(total, 50));
  });

  it('creates accounts as sign-up does: key secret once, default bucket, admin flag and quota', async () => {
    const email = newEmail('Created');
    const created = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email, password: DASHBOARD_PASSWORD, isAdmin: true, quotaBytes: 5000 } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.response.headers.get('cache-control')).toBe('no-store');
    expect(created.json).toEqual({
      user: {
        id: expect.any(String),
        email: email.toLowerCase(),
        isAdmin: true,
        status: 'active',
        createdAt: isoDate,
        quotaBytes: 5000,
        defaultQuota: false,
        usedBytes: 0,
        keyCount: 1,
        bucketCount: 1,
      },
      accessKey: { id: expect.any(String), name: 'default', accessKey: expect.stringMatching(/^CS[A-Z0-9]{18}$/), secretKey: expect.any(String), createdAt: isoDate },
      bucket: 'default',
    });
    // No session for the new account rides on the admin's response.
    expect(created.response.headers.getSetCookie()).toEqual([]);
    expect(await gatewayAnswer(server, created.json.accessKey)).toBe('ok');
    expect(await putAnswer(server, created.json.accessKey, 'too-big', 5001)).toBe('QuotaExceeded');

    // The new admin signs in and administers.
    const session = await login(server, email);
    expect(session.status).toBe(200);
    expect(session.json.user.isAdmin).toBe(true);
    expect((await callApi(server, '/api/admin/keys', { cookie: session.cookie })).status).toBe(200);

    const plain = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email: newEmail(), password: DASHBOARD_PASSWORD } });
    expect(plain.status).toBe(201);
    expect(plain.json.user).toMatchObject({ isAdmin: false, quotaBytes: DEFAULT_QUOTA, defaultQuota: true });

    const duplicate = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email: email.toUpperCase(), password: DASHBOARD_PASSWORD } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json.error).toBe('accounts.email_taken');
    const weak = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email: newEmail(), password: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.json.error).toBe('accounts.weak_password');
    const invalidEmail = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email: 'nope', password: DASHBOARD_PASSWORD } });
    expect(invalidEmail.json.error).toBe('accounts.invalid_email');
    for (const body of [
      '{nope',
      { email: newEmail() },
      { email: newEmail(), password: DASHBOARD_PASSWORD, quotaBytes: -1 },
      { email: newEmail(), password: DASHBOARD_PASSWORD, isAdmin: 'yes' },
    ]) {
      const refused = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    }
  });

  it('deactivates an account: its sessions and S3 keys stop at once; reactivation restores the keys, not the sessions', async () => {
    const user = await signupViaApi(server);
    const secondSession = (await login(server, user.email)).cookie!;
    // Warm the key store's cache with this key: deactivation must drop it.
    expect(await gatewayAnswer(server, user.firstKey)).toBe('ok');

    const deactivated = await patchUser(server, admin.cookie, user.userId, { status: 'deactivated' });
    expect(deactivated.status).toBe(200);
    expect(deactivated.json.user).toMatchObject({ id: user.userId, status: 'deactivated', keyCount: 1 });
    // "At once": the very next request is refused, with no wait or retry.
    expect(await gatewayAnswer(server, user.firstKey)).toBe('InvalidAccessKeyId');
    for (const cookie of [user.cookie, secondSession]) {
      const refused = await me(server, cookie);
      expect(refused.status).toBe(401);
      expect(refused.json.error).toBe('auth.unauthenticated');
    }
    const relogin = await login(server, user.email);
    expect(relogin.status).toBe(403);
    expect(relogin.json.error).toBe('auth.account_deactivated');
    expect(sqliteOf(server.running.core).prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').get(user.userId)).toEqual({ n: 0 });
    // Deactivating again is a no-op, not an error.
    expect((await patchUser(server, admin.cookie, user.userId, { status: 'deactivated' })).status).toBe(200);

    const activated = await patchUser(server, admin.cookie, user.userId, { status: 'active' });
    expect(activated.status).toBe(200);
    expect(activated.json.user.status).toBe('active');
    expect(await gatewayAnswer(server, user.firstKey)).toBe('ok');
    expect((await me(server, user.cookie)).status).toBe(401);
    const back = await login(server, user.email);
    expect(back.status).toBe(200);
    expect((await me(server, back.cookie)).status).toBe(200);
  });

  it('refuses to let an admin deactivate themself; another admin may', async () => {
    const self = await patchUser(server, admin.cookie, admin.id, { status: 'deactivated' });
    expect(self.status).toBe(409);
    expect(self.json).toEqual({ error: 'admin.cannot_deactivate_self', detail: expect.stringContaining('your own account'), requestId: requestIdShape });
    expect((await me(server, admin.cookie)).status).toBe(200);

    const other = await signedInAdmin(server);
    const byOther = await patchUser(server, admin.cookie, other.id, { status: 'deactivated' });
    expect(byOther.status).toBe(200);
    const otherNow = await callApi(server, '/api/admin/users', { cookie: other.cookie });
    expect(otherNow.status).toBe(401);
  });

  it('changes the quota: the next S3 upload is held to it; null returns to the default', async () => {
    const user = await signupViaApi(server);
    const limited = await patchUser(server, admin.cookie, user.userId, { quotaBytes: 100 });
    expect(limited.status).toBe(200);
    expect(limited.json.user).toMatchObject({ quotaBytes: 100, defaultQuota: false, usedBytes: 0 });

    expect(await putAnswer(server, user.firstKey, 'big', 101)).toBe('QuotaExceeded');
    expect(await putAnswer(server, user.firstKey, 'fits', 60)).toBe('ok');
    expect(await putAnswer(server, user.firstKey, 'more', 41)).toBe('QuotaExceeded');
    expect((await callApi(server, `/api/admin/users/${user.userId}`, { cookie: admin.cookie })).json.user.usedBytes).toBe(60);

    const reset = await patchUser(server, admin.cookie, user.userId, { quotaBytes: null });
    expect(reset.json.user).toMatchObject({ quotaBytes: DEFAULT_QUOTA, defaultQuota: true, usedBytes: 60 });
    expect(await putAnswer(server, user.firstKey, 'more', 41)).toBe('ok');

    // Zero is a quota too: nothing more fits.
    expect((await patchUser(server, admin.cookie, user.userId, { quotaBytes: 0 })).json.user.quotaBytes).toBe(0);
    expect(await putAnswer(server, user.firstKey, 'one', 1)).toBe('QuotaExceeded');
  });

  it("resets a password: the account's sessions end, the new password signs in and the old does not", async () => {
    const user = await signupViaApi(server);
    const weak = await patchUser(server, admin.cookie, user.userId, { password: 'short', status: 'deactivated' });
    expect(weak.status).toBe(400);
    expect(weak.json.error).toBe('accounts.weak_password');
    // Validated before anything is applied: the status change did not happen either.
    expect((await me(server, user.cookie)).status).toBe(200);

    const reset = await patchUser(server, admin.cookie, user.userId, { password: 'a brand new password' });
    expect(reset.status).toBe(200);
    expect(reset.json.user.status).toBe('active');
    expect((await me(server, user.cookie)).status).toBe(401);
    expect((await login(server, user.email)).status).toBe(401);
    const fresh = await login(server, user.email, 'a brand new password');
    expect(fresh.status).toBe(200);
    expect((await me(server, fresh.cookie)).status).toBe(200);
    // S3 keys are not passwords: they keep working.
    expect(await gatewayAnswer(server, user.firstKey)).toBe('ok');
    // The admin's own session is untouched.
    expect((await me(server, admin.cookie)).status).toBe(200);
  });

  it('refuses malformed changes and unknown users', async () => {
    const user = await signupViaApi(server);
    for (const body of [{}, { isAdmin: true }, { quotaBytes: -1 }, { quotaBytes: 1.5 }, { quotaBytes: '100' }, { status: 'banned' }, '{nope']) {
      const refused = await patchUser(server, admin.cookie, user.userId, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    }
    const missing = await patchUser(server, admin.cookie, 'no-such-user', { status: 'deactivated' });
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('admin.user_not_found');
    const crossSite = await callApi(server, `/api/admin/users/${user.userId}`, {
      method: 'PATCH',
      cookie: admin.cookie,
      body: { status: 'deactivated' },
      origin: 'https://evil.example',
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.error).toBe('auth.csrf');
    expect((await me(server, user.cookie)).status).toBe(200);
  });

  it("lists every account's keys without secrets (by account, by status, page by page) and revokes any key: the gateway refuses it at once", async () => {
    const a = await signupViaApi(server);
    const b = await signupViaApi(server);
    const aSecond = (await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'laptop' } })).json;

    const ofA = await callApi(server, `/api/admin/keys?userId=${a.userId}`, { cookie: admin.cookie });
    expect(ofA.status).toBe(200);
    expect(ofA.json).toEqual({
      keys: [
        { id: a.firstKey.id, name: 'default', accessKey: a.firstKey.accessKey, userId: a.userId, userEmail: a.email.toLowerCase(), createdAt: isoDate, revokedAt: null },
        { id: aSecond.id, name: 'laptop', accessKey: aSecond.accessKey, userId: a.userId, userEmail: a.email.toLowerCase(), createdAt: isoDate, revokedAt: null },
      ],
      nextCursor: null,
    });
    expect(JSON.stringify(ofA.json)).not.toContain(a.firstKey.secretKey);

    // All accounts, one key per page: both accounts' keys appear, in creation order.
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await callApi(server, `/api/admin/keys?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
      expect(page.status).toBe(200);
      expect(page.json.keys.length).toBeLessThanOrEqual(1);
      seen.push(...page.json.keys);
      cursor = page.json.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 500);
    expect(seen.slice(-2).map((key) => key.id)).toEqual([b.firstKey.id, aSecond.id]);
    expect(seen.map((key) => key.userId)).toEqual(expect.arrayContaining([a.userId, b.userId, admin.id]));
    expect(seen.every((key) => key.revokedAt === null)).toBe(true);
    const listed = JSON.stringify(seen);
    for (const key of [a.firstKey, b.firstKey, aSecond]) expect(listed).not.toContain(key.secretKey);

    // Warm the cache, revoke from the admin side: refused at once; the owner's other key still works.
    expect(await gatewayAnswer(server, aSecond)).toBe('ok');
    const revoked = await callApi(server, `/api/admin/keys/${aSecond.id}/revoke`, { method: 'POST', cookie: admin.cookie });
    expect(revoked.status).toBe(200);
    expect(revoked.json.key).toMatchObject({ id: aSecond.id, userId: a.userId, revokedAt: isoDate });
    expect(await gatewayAnswer(server, aSecond)).toBe('InvalidAccessKeyId');
    expect(await gatewayAnswer(server, a.firstKey)).toBe('ok');
    expect((await callApi(server, '/api/keys', { cookie: a.cookie })).json.keys.map((key: { id: string }) => key.id)).toEqual([a.firstKey.id]);

    const live = await callApi(server, `/api/admin/keys?userId=${a.userId}`, { cookie: admin.cookie });
    expect(live.json.keys.map((key: { id: string }) => key.id)).toEqual([a.firstKey.id]);
    const revokedOnly = await callApi(server, `/api/admin/keys?userId=${a.userId}&status=revoked`, { cookie: admin.cookie });
    expect(revokedOnly.json.keys.map((key: { id: string }) => key.id)).toEqual([aSecond.id]);
    const all = await callApi(server, `/api/admin/keys?userId=${a.userId}&status=all`, { cookie: admin.cookie });
    expect(all.json.keys.map((key: { id: string }) => key.id)).toEqual([a.firstKey.id, aSecond.id]);
    expect((await callApi(server, '/api/admin/keys?userId=nobody', { cookie: admin.cookie })).json).toEqual({ keys: [], nextCursor: null });

    for (const id of [aSecond.id, 'no-such-key']) {
      const again = await callApi(server, `/api/admin/keys/${id}/revoke`, { method: 'POST', cookie: admin.cookie });
      expect(again.status).toBe(404);
      expect(again.json).toEqual({ error: 'keys.not_found', detail: expect.any(String), requestId: requestIdShape });
    }
    for (const query of ['status=expired', 'limit=0', 'cursor=no-such-key']) {
      const refused = await callApi(server, `/api/admin/keys?${query}`, { cookie: admin.cookie });
      expect(refused.status, query).toBe(400);
      expect(refused.json.error).toBe(query.startsWith('cursor') ? 'admin.invalid_cursor' : 'invalid_request');
    }
  });
});

describe('dashboard /api/admin with sign-up disabled', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off', SIGNUP_ENABLED: 'false' });
  });
  afterAll(async () => server?.close());

  it('refuses self-service sign-up with 403 while an admin still creates accounts', async () => {
    const email = newEmail('invited');
    const refused = await callApi(server, '/api/auth/signup', { body: { email, password: DASHBOARD_PASSWORD } });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toBe('auth.signup_disabled');

    const admin = await signedInAdmin(server);
    const created = await callApi(server, '/api/admin/users', { cookie: admin.cookie, body: { email, password: DASHBOARD_PASSWORD } });
    expect(created.status).toBe(201);
    expect(created.json.user.email).toBe(email.toLowerCase());
    expect(await gatewayAnswer(server, created.json.accessKey)).toBe('ok');
    const session = await login(server, email);
    expect(session.status).toBe(200);
    expect(session.json.user.id).toBe(created.json.user.id);
  });
});
