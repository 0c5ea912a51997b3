import { DeleteObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi } from '../../../test/support/dashboard.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const isoDate = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
let bucketCounter = 0;
const newBucketName = (prefix = 'bucket') => `${prefix}-${++bucketCounter}-${Date.now()}`;

describe('dashboard /api/buckets', () => {
  let server: TestServer;

  beforeAll(async () => {
    // Unversioned buckets: emptying one here is a plain S3 delete (a versioned bucket keeps versions until deleted one by one).
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off', TIME_MACHINE_DEFAULT: false });
  });
  afterAll(async () => server?.close());

  it('lists the sign-up bucket, creates one (visible over S3 too) and deletes it', async () => {
    const a = await signupViaApi(server);
    const initial = await callApi(server, '/api/buckets', { cookie: a.cookie });
    expect(initial.status).toBe(200);
    expect(initial.json).toEqual({ buckets: [{ name: 'default', createdAt: isoDate }] });

    const name = newBucketName('photos');
    const created = await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ name, createdAt: isoDate });

    const listed = await callApi(server, '/api/buckets', { cookie: a.cookie });
    expect(listed.json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default', name]);
    for (const bucket of listed.json.buckets) expect(Object.keys(bucket).sort()).toEqual(['createdAt', 'name']);
    const s3 = s3ClientFor(server, a.firstKey);
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name)).toEqual(['default', name]);

    const deleted = await callApi(server, `/api/buckets?name=${encodeURIComponent(name)}`, { method: 'DELETE', cookie: a.cookie });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ success: true });
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default']);
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
    s3.destroy();
  });

  it('refuses invalid names (400), duplicates (409), malformed requests (400) and a missing bucket (404)', async () => {
    const a = await signupViaApi(server);
    for (const name of ['ab', 'Upper-Case', 'under_score', '-leading', '192.168.0.1', 'xn--reserved', 'a'.repeat(64)]) {
      const invalid = await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name } });
      expect(invalid.status, name).toBe(400);
      expect(invalid.json).toEqual({ error: 'buckets.invalid_name', detail: expect.any(String), requestId: requestIdShape });
    }
    const duplicate = await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name: 'default' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json.error).toBe('buckets.already_exists');

    for (const body of ['{nope', {}, { name: 7 }]) {
      const malformed = await callApi(server, '/api/buckets', { cookie: a.cookie, body });
      expect(malformed.status).toBe(400);
      expect(malformed.json.error).toBe('invalid_request');
    }
    const noName = await callApi(server, '/api/buckets', { method: 'DELETE', cookie: a.cookie });
    expect(noName.status).toBe(400);
    expect(noName.json.error).toBe('invalid_request');

    const missing = await callApi(server, '/api/buckets?name=no-such-bucket', { method: 'DELETE', cookie: a.cookie });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'buckets.not_found', detail: expect.any(String), requestId: requestIdShape });
  });

  it('refuses the 11th bucket with buckets.limit_reached', async () => {
    const a = await signupViaApi(server);
    // The sign-up `default` bucket is the first of ten.
    for (let i = 2; i <= 10; i += 1) {
      const created = await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name: newBucketName(`b${i}`) } });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
    }
    const eleventh = await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name: newBucketName('eleventh') } });
    expect(eleventh.status).toBe(400);
    expect(eleventh.json).toEqual({ error: 'buckets.limit_reached', detail: expect.stringContaining('10'), requestId: requestIdShape });
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets).toHaveLength(10);
  });

  it('refuses to delete a non-empty bucket (409 buckets.not_empty), then deletes it once emptied', async () => {
    const a = await signupViaApi(server);
    const name = newBucketName('full');
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name } })).status).toBe(201);
    const s3 = s3ClientFor(server, a.firstKey);
    await s3.send(new PutObjectCommand({ Bucket: name, Key: 'hello.txt', Body: 'hello' }));

    const refused = await callApi(server, `/api/buckets?name=${name}`, { method: 'DELETE', cookie: a.cookie });
    expect(refused.status).toBe(409);
    expect(refused.json).toEqual({ error: 'buckets.not_empty', detail: expect.stringContaining(name), requestId: requestIdShape });
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toContain(name);

    await s3.send(new DeleteObjectCommand({ Bucket: name, Key: 'hello.txt' }));
    expect((await callApi(server, `/api/buckets?name=${name}`, { method: 'DELETE', cookie: a.cookie })).status).toBe(200);
    s3.destroy();
  });

  it("isolates accounts: B neither sees nor deletes A's bucket, and may own the same name", async () => {
    const a = await signupViaApi(server);
    const b = await signupViaApi(server);
    const name = newBucketName('private');
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie, body: { name } })).status).toBe(201);

    const listB = await callApi(server, '/api/buckets', { cookie: b.cookie });
    expect(listB.json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default']);

    const foreign = await callApi(server, `/api/buckets?name=${name}`, { method: 'DELETE', cookie: b.cookie });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error).toBe('buckets.not_found');
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toContain(name);

    // Bucket names are per account: B's own bucket of that name is a different bucket.
    expect((await callApi(server, '/api/buckets', { cookie: b.cookie, body: { name } })).status).toBe(201);
    const s3A = s3ClientFor(server, a.firstKey);
    await s3A.send(new PutObjectCommand({ Bucket: name, Key: 'a.txt', Body: 'a' }));
    // A's bucket is not empty, B's is: B deletes its own, A's stays.
    expect((await callApi(server, `/api/buckets?name=${name}`, { method: 'DELETE', cookie: b.cookie })).status).toBe(200);
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toContain(name);
    expect((await callApi(server, '/api/buckets', { cookie: b.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default']);
    s3A.destroy();
  });

  it('requires a session (401) and our Origin on writes (403)', async () => {
    const a = await signupViaApi(server);
    for (const [method, path, body] of [
      ['GET', '/api/buckets', undefined],
      ['POST', '/api/buckets', { name: newBucketName() }],
      ['DELETE', '/api/buckets?name=default', undefined],
    ] as const) {
      const result = await callApi(server, path, { method, body });
      expect(result.status).toBe(401);
      expect(result.json).toEqual({ error: 'auth.unauthenticated', detail: expect.any(String), requestId: requestIdShape });
    }
    const crossSite = await callApi(server, '/api/buckets?name=default', { method: 'DELETE', cookie: a.cookie, origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.error).toBe('auth.csrf');
    expect((await callApi(server, '/api/buckets', { cookie: a.cookie })).json.buckets.map((bucket: { name: string }) => bucket.name)).toEqual(['default']);
  });
});
