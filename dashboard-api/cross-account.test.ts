import { GetObjectCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test/support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, newEmail, s3ClientFor, signupViaApi, type SignedUp } from '../test/support/dashboard.ts';
import { dashboardOperations } from './app.ts';
import { createActivitySubscriber } from './modules/activity/activity.subscriber.ts';

/**
 * Account B, signed in and holding its own API key, tries every authenticated route against
 * account A's resources (A's bucket name, key id and file id). Each case asserts what B gets
 * and that A's resources are untouched. The case table must cover every documented operation
 * that needs authentication, so a new route cannot ship without its isolation check.
 */
describe('cross-account isolation over every authenticated dashboard route', () => {
  let server: TestServer;
  let a: SignedUp;
  let b: SignedUp;
  let aSecondKeyId: string;
  let aFileId: string;
  const aBucket = 'private-a';
  const secret = 'only for account A';

  const bKey = () => `${b.firstKey.accessKey}:${b.firstKey.secretKey}`;
  const asB = (path: string, options: Parameters<typeof callApi>[2] = {}) => callApi(server, path, { cookie: b.cookie, ...options });
  const withBKey = (path: string, init: RequestInit = {}) =>
    fetch(`${server.apiEndpoint}${path}`, { ...init, headers: { 'X-API-Key': bKey(), ...(init.headers as Record<string, string>) } });

  /** A's object, read through S3 with A's key: still there, still A's bytes. */
  async function expectAIntact() {
    const s3 = s3ClientFor(server, a.firstKey);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: aBucket, Key: 'secret.txt' }));
      expect(await got.Body!.transformToString()).toBe(secret);
    } finally {
      s3.destroy();
    }
    const keys = await callApi(server, '/api/keys', { cookie: a.cookie });
    expect(keys.json.keys.map((key: { id: string }) => key.id)).toContain(aSecondKeyId);
    const buckets = await callApi(server, '/api/buckets', { cookie: a.cookie });
    expect(buckets.json.buckets.map((bucket: { name: string }) => bucket.name)).toContain(aBucket);
  }

  /** A's share link of A's object (created once, on first use). */
  let aShareCreated: { id: string; code: string } | undefined;
  async function aShare() {
    aShareCreated ??= (await callApi(server, '/api/shares', { cookie: a.cookie, body: { bucket: aBucket, objectKey: 'secret.txt', expiresIn: '1h' } })).json;
    return aShareCreated!;
  }

  /** A's trash entry (a file of A's deleted through the file API, created once, on first use). */
  let aTrashCreated: string | undefined;
  async function aTrashId() {
    if (aTrashCreated) return aTrashCreated;
    const aKey = { 'X-API-Key': `${a.firstKey.accessKey}:${a.firstKey.secretKey}` };
    const upload = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${aBucket}&key=trashed.txt`, {
      method: 'POST',
      body: 'in the trash',
      headers: { ...aKey, 'Content-Type': 'text/plain' },
    });
    const deleted = await fetch(`${server.apiEndpoint}/api/v1/files/${(await upload.json()).id}`, { method: 'DELETE', headers: aKey });
    aTrashCreated = (await deleted.json()).trashId as string;
    return aTrashCreated;
  }
  const aTrashListed = async () => (await callApi(server, '/api/trash', { cookie: a.cookie })).json.files.map((entry: { id: string }) => entry.id);
  /** A's current version of its object, by this API's id. */
  const aVersionId = async () => (await callApi(server, `/api/versions?bucket=${aBucket}&key=secret.txt`, { cookie: a.cookie })).json.versions[0].versionId as string;

  const CASES: Record<string, () => Promise<void>> = {
    'GET /api/auth/me': async () => {
      const me = await asB('/api/auth/me');
      expect(me.json.user.email).toBe(b.email);
      expect(me.json.user.id).not.toBe(a.userId);
    },
    'GET /api/keys': async () => {
      const list = await asB('/api/keys');
      expect(list.status).toBe(200);
      const text = JSON.stringify(list.json);
      expect(text).not.toContain(a.firstKey.accessKey);
      expect(text).not.toContain(aSecondKeyId);
    },
    'POST /api/keys': async () => {
      const created = await asB('/api/keys', { body: { name: 'b-own', buckets: [aBucket] } });
      expect(created.status).toBe(201);
      // Scoped to "private-a", it could only ever reach B's bucket of that name (none yet); A's
      // bucket of that name is NoSuchBucket, as every other account's bucket is on the gateway.
      const s3 = s3ClientFor(server, { accessKey: created.json.accessKey, secretKey: created.json.secretKey });
      const denied = await s3.send(new GetObjectCommand({ Bucket: aBucket, Key: 'secret.txt' })).then(
        () => 'read',
        (error: { name: string }) => error.name,
      );
      s3.destroy();
      expect(denied).toBe('NoSuchBucket');
    },
    'DELETE /api/keys': async () => {
      const refused = await asB(`/api/keys?id=${encodeURIComponent(aSecondKeyId)}`, { method: 'DELETE' });
      expect([refused.status, refused.json.error]).toEqual([404, 'keys.not_found']);
      const firstRefused = await asB(`/api/keys?id=${encodeURIComponent(a.firstKey.id)}`, { method: 'DELETE' });
      expect([firstRefused.status, firstRefused.json.error]).toEqual([404, 'keys.not_found']);
    },
    'GET /api/buckets': async () => {
      const list = await asB('/api/buckets');
      expect(list.json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default']);
    },
    'DELETE /api/buckets': async () => {
      const refused = await asB(`/api/buckets?name=${aBucket}`, { method: 'DELETE' });
      expect([refused.status, refused.json.error]).toEqual([404, 'buckets.not_found']);
    },
    'POST /api/v1/files': async () => {
      const refused = await withBKey(`/api/v1/files?bucket=${aBucket}&key=secret.txt`, { method: 'POST', body: 'overwritten by B', headers: { 'Content-Type': 'text/plain' } });
      expect(refused.status).toBe(404);
      expect((await refused.json()).error).toBe('buckets.not_found');
    },
    'GET /api/v1/files': async () => {
      const foreign = await withBKey(`/api/v1/files?bucket=${aBucket}`);
      expect(foreign.status).toBe(404);
      const own = await withBKey('/api/v1/files');
      expect(own.status).toBe(200);
      expect(JSON.stringify(await own.json())).not.toContain(aFileId);
    },
    'GET /api/v1/files/{id}': async () => {
      for (const suffix of ['', '?meta=true']) {
        const refused = await withBKey(`/api/v1/files/${aFileId}${suffix}`);
        const body = await refused.text();
        expect(refused.status, suffix).toBe(404);
        expect(JSON.parse(body).error).toBe('files.not_found');
        expect(body).not.toContain(secret);
      }
      const head = await withBKey(`/api/v1/files/${aFileId}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
    },
    'DELETE /api/v1/files/{id}': async () => {
      const refused = await withBKey(`/api/v1/files/${aFileId}`, { method: 'DELETE' });
      expect(refused.status).toBe(404);
      expect((await refused.json()).error).toBe('files.not_found');
    },
    'GET /api/explorer': async () => {
      const refused = await asB(`/api/explorer?bucket=${aBucket}`);
      expect(refused.status).toBe(404);
      expect(JSON.stringify(refused.json)).not.toContain('secret.txt');
    },
    'GET /api/activity': async () => {
      // A's upload as the activity log records it (fed straight to the subscriber, as the dispatcher does).
      const aEventId = `evt-cross-account-${Date.now()}`;
      await createActivitySubscriber({ database: server.running.core.database }).handle([
        {
          id: aEventId,
          seq: 9_000_000,
          type: 'object.created',
          time: new Date().toISOString(),
          accountId: a.userId,
          actor: { kind: 'key', id: a.firstKey.accessKey },
          bucket: aBucket,
          key: 'secret.txt',
          size: secret.length,
        },
      ]);
      expect((await callApi(server, `/api/activity?bucket=${aBucket}`, { cookie: a.cookie })).json.items.map((item: { id: string }) => item.id)).toContain(aEventId);
      for (const query of ['', `?bucket=${aBucket}`, '?prefix=secret', `?account=${a.userId}`]) {
        const listed = await asB(`/api/activity${query}`);
        expect(listed.status, query).toBe(200);
        const text = JSON.stringify(listed.json);
        expect(text, query).not.toContain(aEventId);
        expect(text, query).not.toContain('secret.txt');
        expect(text, query).not.toContain(a.firstKey.accessKey);
      }
    },
    'GET /api/versions': async () => {
      for (const query of [`?bucket=${aBucket}&key=secret.txt`, `?bucket=${aBucket}`]) {
        const refused = await asB(`/api/versions${query}`);
        expect([refused.status, JSON.stringify(refused.json).includes('secret.txt')], query).toEqual([404, false]);
        expect((await withBKey(`/api/versions${query}`)).status, query).toBe(404);
      }
    },
    'POST /api/versions': async () => {
      const form = new FormData();
      form.append('bucket', aBucket);
      form.append('key', 'secret.txt');
      form.append('file', new Blob(['overwritten by B']), 'secret.txt');
      const refused = await withBKey('/api/versions', { method: 'POST', body: form });
      expect([refused.status, (await refused.json()).error]).toEqual([404, 'buckets.not_found']);
    },
    'PATCH /api/versions': async () => {
      const versionId = await aVersionId();
      const refused = await asB('/api/versions', { method: 'PATCH', body: { versionId } });
      expect([refused.status, refused.json.error]).toEqual([404, 'versions.not_found']);
      const byKey = await withBKey('/api/versions', { method: 'PATCH', body: JSON.stringify({ versionId }), headers: { 'Content-Type': 'application/json' } });
      expect(byKey.status).toBe(404);
    },
    'GET /api/versions/settings': async () => {
      expect((await asB(`/api/versions/settings?bucket=${aBucket}`)).status).toBe(404);
    },
    'PUT /api/versions/settings': async () => {
      const refused = await asB('/api/versions/settings', { method: 'PUT', body: { bucket: aBucket, enabled: false, maxVersions: 1 } });
      expect(refused.status).toBe(404);
      expect((await callApi(server, `/api/versions/settings?bucket=${aBucket}`, { cookie: a.cookie })).json).toMatchObject({ versioning: 'Enabled', maxVersions: 10 });
    },
    'GET /api/trash': async () => {
      const trashId = await aTrashId();
      expect(JSON.stringify((await asB('/api/trash')).json)).not.toContain(trashId);
      expect(JSON.stringify(await (await withBKey('/api/trash')).json())).not.toContain(trashId);
    },
    'POST /api/trash/{id}/restore': async () => {
      const trashId = await aTrashId();
      const refused = await asB(`/api/trash/${trashId}/restore`, { method: 'POST', body: {} });
      expect([refused.status, refused.json.error]).toEqual([404, 'trash.not_found']);
      expect((await withBKey(`/api/trash/${trashId}/restore`, { method: 'POST' })).status).toBe(404);
      expect(await aTrashListed()).toContain(trashId);
    },
    'DELETE /api/trash/{id}': async () => {
      const trashId = await aTrashId();
      const refused = await asB(`/api/trash/${trashId}`, { method: 'DELETE' });
      expect([refused.status, refused.json.error]).toEqual([404, 'trash.not_found']);
      expect(await aTrashListed()).toContain(trashId);
    },
    'POST /api/trash/empty': async () => {
      const trashId = await aTrashId();
      expect((await asB('/api/trash/empty', { method: 'POST', body: {} })).status).toBe(200);
      expect((await withBKey('/api/trash/empty', { method: 'POST' })).status).toBe(200);
      expect(await aTrashListed()).toContain(trashId);
    },
    'POST /api/buckets': async () => {
      // Bucket names are per account: B gets its own, empty "private-a".
      const created = await asB('/api/buckets', { body: { name: aBucket } });
      expect(created.status).toBe(201);
      const s3 = s3ClientFor(server, b.firstKey);
      const read = await s3.send(new GetObjectCommand({ Bucket: aBucket, Key: 'secret.txt' })).then(
        () => 'read A’s object',
        (error: { name: string }) => error.name,
      );
      s3.destroy();
      expect(read).toBe('NoSuchKey');
      const explorer = await asB(`/api/explorer?bucket=${aBucket}`);
      expect(explorer.status).toBe(200);
      expect(JSON.stringify(explorer.json)).not.toContain('secret.txt');
      const files = await withBKey(`/api/v1/files?bucket=${aBucket}`);
      expect(JSON.stringify(await files.json())).not.toContain('secret.txt');
      // A's file id still refers to A's bucket, not B's namesake.
      expect((await withBKey(`/api/v1/files/${aFileId}`)).status).toBe(404);
    },
    'POST /api/shares': async () => {
      // A's bucket name means nothing in B's namespace: no share of A's object, by session or key.
      const refused = await asB('/api/shares', { body: { bucket: aBucket, objectKey: 'secret.txt', expiresIn: '1h' } });
      expect(refused.status).toBe(404);
      const byKey = await withBKey('/api/shares', {
        method: 'POST',
        body: JSON.stringify({ bucket: aBucket, objectKey: 'secret.txt' }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(byKey.status).toBe(404);
      expect((await asB('/api/shares')).json.shares).toEqual([]);
    },
    'POST /api/shares/upload': async () => {
      const form = new FormData();
      form.append('file', new Blob(['from B']), 'secret.txt');
      const uploaded = await withBKey('/api/shares/upload', { method: 'POST', body: form });
      expect(uploaded.status).toBe(201);
      // Into B's own default bucket; A's list does not show it.
      expect(await uploaded.json()).toMatchObject({ bucket: 'default', objectKey: expect.stringMatching(/^shares\//) });
      expect((await callApi(server, '/api/shares', { cookie: a.cookie })).json.shares.map((entry: { fileName: string }) => entry.fileName)).not.toContain('secret.txt');
    },
    'GET /api/shares': async () => {
      const share = await aShare();
      const listed = JSON.stringify((await asB('/api/shares')).json);
      expect(listed).not.toContain(share.id);
      expect(listed).not.toContain(share.code);
    },
    'PATCH /api/shares': async () => {
      const share = await aShare();
      const refused = await asB('/api/shares', { method: 'PATCH', body: { id: share.id, maxDownloads: 1, password: 'taken over' } });
      expect([refused.status, refused.json.error]).toEqual([404, 'shares.not_found']);
      const mine = (await callApi(server, '/api/shares', { cookie: a.cookie })).json.shares.find((entry: { id: string }) => entry.id === share.id);
      expect(mine).toMatchObject({ maxDownloads: null, passwordProtected: false, active: true });
    },
    'DELETE /api/shares': async () => {
      const share = await aShare();
      const refused = await asB(`/api/shares?id=${share.id}`, { method: 'DELETE' });
      expect([refused.status, refused.json.error]).toEqual([404, 'shares.not_found']);
      expect(await (await fetch(`${server.apiEndpoint}/s/${share.code}/download`)).text()).toBe(secret);
    },
    'POST /api/auth/password': async () => {
      const changed = await asB('/api/auth/password', { body: { oldPassword: DASHBOARD_PASSWORD, newPassword: 'b changed its own password' } });
      expect(changed.status).toBe(204);
      b.cookie = changed.response.headers
        .getSetCookie()
        .find((line) => line.startsWith('session='))!
        .split(';')[0]!;
      const aLogin = await callApi(server, '/api/auth/login', { body: { email: a.email, password: DASHBOARD_PASSWORD } });
      expect(aLogin.status).toBe(200);
      expect((await callApi(server, '/api/auth/me', { cookie: a.cookie })).status).toBe(200);
    },
  };

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    a = await signupViaApi(server, newEmail('alice'));
    b = await signupViaApi(server, newEmail('bob'));
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name: aBucket } })).status).toBe(201);
    aSecondKeyId = (await callApi(server, '/api/keys', { cookie: a.cookie, body: { name: 'a-second' } })).json.id;
    const upload = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${aBucket}&key=secret.txt`, {
      method: 'POST',
      body: secret,
      headers: { 'X-API-Key': `${a.firstKey.accessKey}:${a.firstKey.secretKey}`, 'Content-Type': 'text/plain' },
    });
    expect(upload.status).toBe(201);
    aFileId = (await upload.json()).id;
  });
  afterAll(async () => server?.close());

  it('has a case for every authenticated operation (admin routes are checked below)', () => {
    const authenticated = dashboardOperations.filter((op) => op.auth === 'session' || op.auth === 'apiKey').map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect(Object.keys(CASES).sort()).toEqual([...new Set(authenticated)].sort());
  });

  for (const [route, check] of Object.entries(CASES)) {
    it(`${route}: account B never reaches account A's data`, async () => {
      await check();
      await expectAIntact();
    });
  }

  it('admin routes refuse a signed-in non-admin with 403, whatever the target', async () => {
    const admin = dashboardOperations.filter((op) => op.auth === 'admin');
    expect(admin.length).toBeGreaterThanOrEqual(6);
    for (const op of admin) {
      const path = op.path.replace('{id}', op.path.includes('/keys/') ? aSecondKeyId : a.userId);
      const body = op.method === 'get' ? undefined : op.method === 'patch' ? { status: 'deactivated' } : { email: newEmail('x'), password: DASHBOARD_PASSWORD };
      const refused = await asB(path, { method: op.method.toUpperCase(), body });
      expect([refused.status, refused.json.error], `${op.method} ${op.path}`).toEqual([403, 'admin.forbidden']);
    }
    await expectAIntact();
    const s3 = s3ClientFor(server, a.firstKey);
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name)).toContain(aBucket);
    s3.destroy();
  });
});
