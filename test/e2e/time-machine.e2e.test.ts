import { CreateBucketCommand, DeleteBucketCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { purgeVersions } from '../support/versioned-buckets.ts';

const DAY_MS = 86_400_000;

/**
 * Time Machine (issue #15): `/api/versions` over HTTP against the real servers, on both storage
 * backends (vitest.config.ts BACKEND_INDEPENDENT_SUITES). Retention by age runs the sweep with the
 * injected clock moved forward, never a sleep.
 */
describe('Time Machine API', () => {
  const clock = fixedClock(new Date());
  let server: TestServer;
  let alice: SignedUp;
  let bob: SignedUp;
  let s3: S3Client;
  /** Buckets (besides `default`) to empty and delete at the end: the RGW keeps its objects in RAM. */
  const buckets: { client: S3Client; bucket: string; drop: boolean }[] = [];

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', DEFAULT_QUOTA_BYTES: 1024 * 1024 }, { clock });
    alice = await signupViaApi(server);
    bob = await signupViaApi(server);
    s3 = s3ClientFor(server, alice.firstKey);
    buckets.push({ client: s3, bucket: 'default', drop: false }, { client: s3ClientFor(server, bob.firstKey), bucket: 'default', drop: false });
  });
  afterAll(async () => {
    for (const { client, bucket, drop } of buckets) {
      await purgeVersions(client, bucket).catch(() => undefined);
      if (drop) await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    }
    await server?.close();
  });

  const apiKey = (account: SignedUp) => ({ 'x-api-key': `${account.firstKey.accessKey}:${account.firstKey.secretKey}` });

  /** `POST /api/versions` as the spec's curl sends it (file first, then bucket and key), or with the fields first. */
  async function uploadVersion(account: SignedUp, bucket: string, key: string, bytes: Uint8Array, fieldsFirst = false) {
    const form = new FormData();
    const file = new Blob([Buffer.from(bytes)], { type: 'text/plain' });
    if (fieldsFirst) {
      form.append('bucket', bucket);
      form.append('key', key);
      form.append('file', file, 'report.txt');
    } else {
      form.append('file', file, 'report.txt');
      form.append('bucket', bucket);
      form.append('key', key);
    }
    const response = await fetch(`${server.apiEndpoint}/api/versions`, { method: 'POST', headers: { cookie: account.cookie, origin: server.apiEndpoint }, body: form });
    return { status: response.status, json: await response.json() };
  }

  const versionsOf = (account: SignedUp, bucket: string, key: string) =>
    callApi(server, `/api/versions?bucket=${bucket}&key=${encodeURIComponent(key)}`, { cookie: account.cookie });

  async function read(client: S3Client, bucket: string, key: string, versionId?: string): Promise<Buffer> {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  it('starts dashboard and sign-up buckets versioned (TIME_MACHINE_DEFAULT); S3 CreateBucket buckets stay unversioned', async () => {
    const settings = await callApi(server, '/api/versions/settings?bucket=default', { cookie: alice.cookie });
    expect([settings.status, settings.json]).toEqual([200, { bucket: 'default', versioning: 'Enabled', maxVersions: 10, maxAgeDays: 30 }]);

    const name = `tm-dash-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name } })).status).toBe(201);
    buckets.push({ client: s3, bucket: name, drop: true });
    expect((await callApi(server, `/api/versions/settings?bucket=${name}`, { cookie: alice.cookie })).json.versioning).toBe('Enabled');

    const viaS3 = `tm-s3-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: viaS3 }));
    buckets.push({ client: s3, bucket: viaS3, drop: true });
    expect((await callApi(server, `/api/versions/settings?bucket=${viaS3}`, { cookie: alice.cookie })).json.versioning).toBe('Unversioned');
    // Switchable through the API; POST /api/versions refuses a bucket without versioning.
    const refused = await uploadVersion(alice, viaS3, 'a.txt', Buffer.from('x'));
    expect([refused.status, refused.json.error]).toEqual([409, 'versions.not_enabled']);
    const enabled = await callApi(server, '/api/versions/settings', { method: 'PUT', cookie: alice.cookie, body: { bucket: viaS3, enabled: true, maxVersions: 3 } });
    expect([enabled.status, enabled.json]).toEqual([200, { bucket: viaS3, versioning: 'Enabled', maxVersions: 3, maxAgeDays: 30 }]);
    const suspended = await callApi(server, '/api/versions/settings', { method: 'PUT', cookie: alice.cookie, body: { bucket: viaS3, enabled: false } });
    expect(suspended.json.versioning).toBe('Suspended');
  });

  it('uploads versions numbered in write order, lists them newest first and restores one as the next number (object.restored)', async () => {
    const key = `docs/report-${Date.now()}.txt`;
    const contents = ['first draft', 'second draft, longer', 'third'].map((text) => Buffer.from(text));
    const uploaded = [];
    for (const [index, bytes] of contents.entries()) {
      const answer = await uploadVersion(alice, 'default', key, bytes, index === 1);
      expect(answer.status, JSON.stringify(answer.json)).toBe(201);
      expect(answer.json).toMatchObject({ key, bucket: 'default', size: bytes.length, versionNumber: index + 1, versionId: expect.stringMatching(/^ver_/) });
      uploaded.push(answer.json);
    }

    const listed = await versionsOf(alice, 'default', key);
    expect(listed.status).toBe(200);
    expect(listed.json.versions.map((version: { versionNumber: number; size: number; isCurrent: boolean }) => [version.versionNumber, version.size, version.isCurrent])).toEqual([
      [3, contents[2]!.length, true],
      [2, contents[1]!.length, false],
      [1, contents[0]!.length, false],
    ]);
    expect(listed.json.versions.map((version: { versionId: string }) => version.versionId)).toEqual(uploaded.map((answer) => answer.versionId).reverse());
    // S3 clients see the same versions, under the ids the API reports as s3VersionId.
    const viaS3 = await s3.send(new ListObjectVersionsCommand({ Bucket: 'default', Prefix: key }));
    expect(viaS3.Versions?.map((version) => version.VersionId)).toEqual(listed.json.versions.map((version: { s3VersionId: string }) => version.s3VersionId));
    expect(await read(s3, 'default', key, listed.json.versions[2].s3VersionId)).toEqual(contents[0]);

    // The spec's body: the version id alone.
    const restored = await callApi(server, '/api/versions', { method: 'PATCH', cookie: alice.cookie, body: { versionId: uploaded[0].versionId } });
    expect([restored.status, restored.json]).toEqual([
      200,
      { success: true, restoredVersion: uploaded[0].versionId, newVersionNumber: 4, versionId: expect.stringMatching(/^ver_/) },
    ]);
    expect(await read(s3, 'default', key)).toEqual(contents[0]);
    const after = await versionsOf(alice, 'default', key);
    expect(after.json.versions.map((version: { versionNumber: number }) => version.versionNumber)).toEqual([4, 3, 2, 1]);

    await server.running.core.events.flush();
    const activity = await callApi(server, '/api/activity?action=object.restored&limit=10', { cookie: alice.cookie });
    expect(activity.json.items.filter((item: { key: string }) => item.key === key)).toHaveLength(1);

    // The bucket's versioned files, with their counts.
    const files = await callApi(server, `/api/versions?bucket=default&prefix=${encodeURIComponent(key)}`, { cookie: alice.cookie });
    expect(files.json).toEqual({
      bucket: 'default',
      files: [{ key, versionCount: 4, currentVersionId: after.json.versions[0].versionId, size: contents[0]!.length, updatedAt: expect.any(String), deleted: false }],
      hasMore: false,
      cursor: null,
    });
  });

  it('keeps 10 versions of a file overwritten 12 times, numbers never reused, and usage is exactly the kept versions', async () => {
    const key = `retention/overwritten-${Date.now()}.bin`;
    const sizes = Array.from({ length: 12 }, (_, index) => 1000 + index * 37);
    const before = (await server.running.core.quotasUsecases.usage(alice.userId)).usedBytes;
    for (const size of sizes) await s3.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: randomBytes(size) }));
    // Retention runs after each write through the event subscriber: wait for it, never for time.
    await server.running.core.events.flush();

    const listed = await versionsOf(alice, 'default', key);
    expect(listed.json.versions.map((version: { versionNumber: number }) => version.versionNumber)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3]);
    expect(listed.json.versions.map((version: { size: number }) => version.size)).toEqual(sizes.slice(2).reverse());
    const viaS3 = await s3.send(new ListObjectVersionsCommand({ Bucket: 'default', Prefix: key }));
    expect(viaS3.Versions).toHaveLength(10);
    const kept = sizes.slice(2).reduce((sum, size) => sum + size, 0);
    expect((await server.running.core.quotasUsecases.usage(alice.userId)).usedBytes - before).toBe(kept);
  });

  it('applies per-bucket retention settings after the next write, and prunes by age in the sweep with the injected clock', async () => {
    const name = `tm-age-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name } })).status).toBe(201);
    buckets.push({ client: s3, bucket: name, drop: true });
    for (const text of ['v1', 'v2', 'v3', 'v4']) await s3.send(new PutObjectCommand({ Bucket: name, Key: 'notes.txt', Body: text }));
    await server.running.core.events.flush();
    expect((await versionsOf(alice, name, 'notes.txt')).json.versions).toHaveLength(4);

    const changed = await callApi(server, '/api/versions/settings', { method: 'PUT', cookie: alice.cookie, body: { bucket: name, maxVersions: 2, maxAgeDays: 1 } });
    expect(changed.json).toMatchObject({ maxVersions: 2, maxAgeDays: 1 });
    await s3.send(new PutObjectCommand({ Bucket: name, Key: 'notes.txt', Body: 'v5' }));
    await server.running.core.events.flush();
    expect((await versionsOf(alice, name, 'notes.txt')).json.versions.map((version: { versionNumber: number }) => version.versionNumber)).toEqual([5, 4]);

    // A day and a bit later the noncurrent version is past maxAgeDays: the periodic sweep prunes it, the current one stays.
    const now = clock.now();
    clock.advance(DAY_MS + 60_000);
    try {
      const swept = await server.running.timeMachine.sweeper.sweep();
      expect(swept.pruned).toBeGreaterThanOrEqual(1);
    } finally {
      clock.set(now);
    }
    const left = await versionsOf(alice, name, 'notes.txt');
    expect(left.json.versions.map((version: { versionNumber: number; isCurrent: boolean }) => [version.versionNumber, version.isCurrent])).toEqual([[5, true]]);
    expect(await read(s3, name, 'notes.txt')).toEqual(Buffer.from('v5'));
  });

  it('holds uploads to the quota before reading the body, also a file part spooled because bucket and key follow it', async () => {
    const key = `big-${Date.now()}.bin`;
    for (const fieldsFirst of [false, true]) {
      const refused = await uploadVersion(alice, 'default', key, randomBytes(1100 * 1024), fieldsFirst);
      expect([fieldsFirst, refused.status, refused.json.error]).toEqual([fieldsFirst, 413, 'storage.quota_exceeded']);
    }
    expect((await versionsOf(alice, 'default', key)).status).toBe(404);
  });

  it("answers 404 for another account's versions, version ids and buckets, and JSON errors everywhere", async () => {
    const key = `private-${Date.now()}.txt`;
    const mine = await uploadVersion(alice, 'default', key, Buffer.from('alice only'));
    expect(mine.status).toBe(201);

    // Bob has his own `default`: alice's key is not in it.
    const listed = await versionsOf(bob, 'default', key);
    expect([listed.status, listed.json.error, typeof listed.json.detail, typeof listed.json.requestId]).toEqual([404, 'versions.not_found', 'string', 'string']);
    const restored = await callApi(server, '/api/versions', { method: 'PATCH', cookie: bob.cookie, body: { versionId: mine.json.versionId } });
    expect([restored.status, restored.json.error]).toEqual([404, 'versions.not_found']);
    const raw = await callApi(server, '/api/versions', { method: 'PATCH', cookie: bob.cookie, body: { versionId: mine.json.s3VersionId, bucket: 'default', key } });
    expect([raw.status, raw.json.error]).toEqual([404, 'versions.not_found']);
    const name = `tm-alice-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name } })).status).toBe(201);
    buckets.push({ client: s3, bucket: name, drop: true });
    for (const path of [`/api/versions/settings?bucket=${name}`, `/api/versions?bucket=${name}`, `/api/versions?bucket=${name}&key=x`]) {
      const answer = await callApi(server, path, { cookie: bob.cookie });
      expect([path, answer.status]).toEqual([path, 404]);
    }
    const settings = await callApi(server, '/api/versions/settings', { method: 'PUT', cookie: bob.cookie, body: { bucket: name, enabled: false } });
    expect(settings.status).toBe(404);
    expect((await callApi(server, `/api/versions/settings?bucket=${name}`, { cookie: alice.cookie })).json.versioning).toBe('Enabled');
    expect((await callApi(server, '/api/versions?bucket=default')).status).toBe(401);
  });

  it("respects an access key's scope: another bucket is 403, and only an unrestricted key may change versioning", async () => {
    const key = `scoped-${Date.now()}.txt`;
    await uploadVersion(alice, 'default', key, Buffer.from('one'));
    const name = `tm-scope-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name } })).status).toBe(201);
    buckets.push({ client: s3, bucket: name, drop: true });
    const scoped = await callApi(server, '/api/keys', { cookie: alice.cookie, body: { name: 'scoped', buckets: [name] } });
    expect(scoped.status).toBe(201);
    const scopedKey = { 'x-api-key': `${scoped.json.accessKey}:${scoped.json.secretKey}` };

    const outside = await fetch(`${server.apiEndpoint}/api/versions?bucket=default&key=${key}`, { headers: scopedKey });
    expect([outside.status, ((await outside.json()) as { error: string }).error]).toEqual([403, 'storage.forbidden']);
    const inside = await fetch(`${server.apiEndpoint}/api/versions?bucket=${name}`, { headers: scopedKey });
    expect(inside.status).toBe(200);
    const change = await fetch(`${server.apiEndpoint}/api/versions/settings`, {
      method: 'PUT',
      headers: { ...scopedKey, 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: name, enabled: false }),
    });
    expect(change.status).toBe(403);
    // The account's unrestricted key may.
    const full = await fetch(`${server.apiEndpoint}/api/versions?bucket=default&key=${key}`, { headers: apiKey(alice) });
    expect(full.status).toBe(200);
  });
});
