import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { callApi, gatewayAnswer, signupViaApi } from '../../../test/support/dashboard.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const isoDate = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
const UNSCOPED = { buckets: null, prefix: null, permission: 'readwrite', expiresAt: null };

describe('dashboard /api/keys', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
  });
  afterAll(async () => server?.close());

  it('lists the sign-up key without its secret', async () => {
    const a = await signupViaApi(server);
    const list = await callApi(server, '/api/keys', { cookie: a.cookie });
    expect(list.status).toBe(200);
    expect(list.json).toEqual({ keys: [{ id: a.firstKey.id, name: 'default', accessKey: a.firstKey.accessKey, createdAt: isoDate, ...UNSCOPED }] });
    expect(JSON.stringify(list.json)).not.toContain(a.firstKey.secretKey);
  });

  it('creates keys (secret once, no-store) up to 5; the 6th is refused with keys.limit_reached', async () => {
    const a = await signupViaApi(server);
    const created = [];
    for (let i = 1; i <= 4; i += 1) {
      const result = await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: `laptop ${i}` } });
      expect(result.status, JSON.stringify(result.json)).toBe(201);
      expect(result.response.headers.get('cache-control')).toBe('no-store');
      expect(result.json).toEqual({
        id: expect.any(String),
        name: `laptop ${i}`,
        accessKey: expect.stringMatching(/^CS[A-Z0-9]{18}$/),
        secretKey: expect.any(String),
        createdAt: isoDate,
        ...UNSCOPED,
      });
      expect(result.json.secretKey).toHaveLength(40);
      created.push(result.json);
    }
    // Each new key works on the gateway at once.
    expect(await gatewayAnswer(server, created[3])).toBe('ok');

    const sixth = await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'one too many' } });
    expect(sixth.status).toBe(409);
    expect(sixth.json).toEqual({ error: 'keys.limit_reached', detail: expect.stringContaining('at most 5 access keys'), requestId: requestIdShape });

    const list = await callApi(server, '/api/keys', { cookie: a.cookie });
    expect(list.json.keys).toHaveLength(5);
    expect(list.json.keys.map((key: { id: string }) => key.id)).toEqual([a.firstKey.id, ...created.map((key) => key.id)]);
    for (const key of list.json.keys) expect(Object.keys(key).sort()).toEqual(['accessKey', 'buckets', 'createdAt', 'expiresAt', 'id', 'name', 'permission', 'prefix']);
    const listed = JSON.stringify(list.json);
    for (const key of [a.firstKey, ...created]) expect(listed).not.toContain(key.secretKey);

    // Deleting one frees a slot; revoked keys do not count.
    expect((await callApi(server, `/api/keys?id=${created[0].id}`, { method: 'DELETE', cookie: a.cookie })).status).toBe(200);
    expect((await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'replacement' } })).status).toBe(201);
    expect((await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'again too many' } })).json.error).toBe('keys.limit_reached');
  });

  it('creates a scoped key and shows its scope (never its secret) in the list', async () => {
    const a = await signupViaApi(server);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await callApi(server, '/api/keys', {
      cookie: a.cookie,
      body: { name: 'uploader', buckets: ['default', 'photos', 'photos'], prefix: 'in/', permission: 'write', expiresAt },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    // Duplicate names collapse; `photos` need not exist yet.
    expect(created.json).toMatchObject({ name: 'uploader', buckets: ['default', 'photos'], prefix: 'in/', permission: 'write', expiresAt });
    const list = await callApi(server, '/api/keys', { cookie: a.cookie });
    expect(list.json.keys[1]).toEqual({
      id: created.json.id,
      name: 'uploader',
      accessKey: created.json.accessKey,
      createdAt: isoDate,
      buckets: ['default', 'photos'],
      prefix: 'in/',
      permission: 'write',
      expiresAt,
    });
    expect(JSON.stringify(list.json)).not.toContain(created.json.secretKey);

    // An offset date-time is accepted and shown in UTC; an empty prefix means no prefix.
    const offset = await callApi(server, '/api/keys', { cookie: a.cookie, body: { permission: 'read', prefix: '', expiresAt: '2999-01-01T02:00:00+02:00' } });
    expect(offset.status).toBe(201);
    expect(offset.json).toMatchObject({ buckets: null, prefix: null, permission: 'read', expiresAt: '2999-01-01T00:00:00.000Z' });
  });

  it('refuses invalid scopes with keys.invalid_scope or invalid_request, creating nothing', async () => {
    const a = await signupViaApi(server);
    for (const body of [{ buckets: ['Not_A_Bucket'] }, { buckets: ['ok-bucket', 'x'] }, { expiresAt: new Date(Date.now() - 1000).toISOString() }]) {
      const refused = await callApi(server, '/api/keys', { cookie: a.cookie, body });
      expect([refused.status, refused.json.error], JSON.stringify(body)).toEqual([400, 'keys.invalid_scope']);
    }
    for (const body of [{ buckets: [] }, { buckets: 'default' }, { permission: 'admin' }, { expiresAt: 'tomorrow' }, { prefix: 'p'.repeat(1025) }]) {
      const refused = await callApi(server, '/api/keys', { cookie: a.cookie, body });
      expect([refused.status, refused.json.error], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
    expect((await callApi(server, '/api/keys', { cookie: a.cookie })).json.keys).toHaveLength(1);
  });

  it('accepts a missing name and refuses malformed bodies', async () => {
    const a = await signupViaApi(server);
    const unnamed = await callApi(server, '/api/keys', { cookie: a.cookie, body: {} });
    expect(unnamed.status).toBe(201);
    expect(unnamed.json.name).toBe('');
    for (const body of ['{nope', { name: 42 }, { name: 'x'.repeat(65) }]) {
      const refused = await callApi(server, '/api/keys', { cookie: a.cookie, body });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('invalid_request');
    }
    const missingId = await callApi(server, '/api/keys', { method: 'DELETE', cookie: a.cookie });
    expect(missingId.status).toBe(400);
    expect(missingId.json.error).toBe('invalid_request');
  });

  it('deletes a key: it stops working on the S3 gateway at once, and deleting it again is 404', async () => {
    const a = await signupViaApi(server);
    const created = (await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'doomed' } })).json;
    // Warm the key store's cache with this key first: deletion must drop it.
    expect(await gatewayAnswer(server, created)).toBe('ok');

    const deleted = await callApi(server, `/api/keys?id=${encodeURIComponent(created.id)}`, { method: 'DELETE', cookie: a.cookie });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ success: true });
    // "At once": the very next request is refused, with no wait or retry.
    expect(await gatewayAnswer(server, created)).toBe('InvalidAccessKeyId');

    // The account's other key is untouched; the deleted one is gone from the list.
    expect(await gatewayAnswer(server, a.firstKey)).toBe('ok');
    const list = await callApi(server, '/api/keys', { cookie: a.cookie });
    expect(list.json.keys.map((key: { id: string }) => key.id)).toEqual([a.firstKey.id]);

    const again = await callApi(server, `/api/keys?id=${created.id}`, { method: 'DELETE', cookie: a.cookie });
    expect(again.status).toBe(404);
    expect(again.json).toEqual({ error: 'keys.not_found', detail: expect.any(String), requestId: requestIdShape });
    const unknown = await callApi(server, '/api/keys?id=does-not-exist', { method: 'DELETE', cookie: a.cookie });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe('keys.not_found');
  });

  it("isolates accounts: B never sees A's keys and deleting A's key id is 404 with A's key still working", async () => {
    const a = await signupViaApi(server);
    const b = await signupViaApi(server);
    const aSecond = (await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'a second' } })).json;

    const listB = await callApi(server, '/api/keys', { cookie: b.cookie });
    expect(listB.json.keys.map((key: { id: string }) => key.id)).toEqual([b.firstKey.id]);
    expect(JSON.stringify(listB.json)).not.toContain(a.firstKey.accessKey);

    for (const id of [a.firstKey.id, aSecond.id]) {
      const foreign = await callApi(server, `/api/keys?id=${id}`, { method: 'DELETE', cookie: b.cookie });
      expect(foreign.status).toBe(404);
      expect(foreign.json.error).toBe('keys.not_found');
    }
    expect(await gatewayAnswer(server, a.firstKey)).toBe('ok');
    expect(await gatewayAnswer(server, aSecond)).toBe('ok');
    expect((await callApi(server, '/api/keys', { cookie: a.cookie })).json.keys).toHaveLength(2);
    // B's limit is B's own: A's keys do not count against it.
    expect((await callApi(server, '/api/keys', { cookie: b.cookie, body: { name: 'b second' } })).status).toBe(201);
  });

  it('requires a session (401) and our Origin on writes (403)', async () => {
    const a = await signupViaApi(server);
    for (const [method, path, body] of [
      ['GET', '/api/keys', undefined],
      ['POST', '/api/keys', { name: 'x' }],
      ['DELETE', `/api/keys?id=${a.firstKey.id}`, undefined],
    ] as const) {
      for (const cookie of [undefined, `session=${'A'.repeat(43)}`]) {
        const result = await callApi(server, path, { method, body, cookie });
        expect(result.status).toBe(401);
        expect(result.json).toEqual({ error: 'auth.unauthenticated', detail: expect.any(String), requestId: requestIdShape });
      }
    }
    const crossSite = await callApi(server, `/api/keys?id=${a.firstKey.id}`, { method: 'DELETE', cookie: a.cookie, origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.error).toBe('auth.csrf');
    expect(await gatewayAnswer(server, a.firstKey)).toBe('ok');
  });
});
