import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { runCli } from '../../src/cli/cli.ts';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { backendUnderTest, startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { purgeVersions } from '../support/versioned-buckets.ts';

const DAY_MS = 86_400_000;

/**
 * The trash (issue #15): REST API deletes move files to the trash, on both storage backends
 * (vitest.config.ts BACKEND_INDEPENDENT_SUITES). In a versioned bucket the trash entry is the
 * delete marker S3 clients see; in an unversioned one the file leaves the bucket's listings for
 * the account's internal trash bucket (still counted in its quota). The purge after
 * TRASH_RETENTION_DAYS runs the sweep with the injected clock moved forward.
 */
describe('trash', () => {
  const clock = fixedClock(new Date());
  let server: TestServer;
  let alice: SignedUp;
  let bob: SignedUp;
  let s3: S3Client;
  const dropBuckets: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', TRASH_RETENTION_DAYS: 7 }, { clock });
    alice = await signupViaApi(server);
    bob = await signupViaApi(server);
    s3 = s3ClientFor(server, alice.firstKey);
  });
  afterAll(async () => {
    // The RGW keeps its objects in RAM: empty the trash (the internal bucket's copies) and every version written here.
    for (const account of [alice, bob]) await callApi(server, '/api/trash/empty', { method: 'POST', cookie: account.cookie }).catch(() => undefined);
    for (const [client, bucket] of [[s3, 'default'], [s3ClientFor(server, bob.firstKey), 'default'], ...dropBuckets.map((name) => [s3, name] as const)] as const) {
      await purgeVersions(client, bucket).catch(() => undefined);
      if (bucket !== 'default') await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    }
    await server?.close();
  });

  const apiKey = (account: SignedUp) => ({ 'x-api-key': `${account.firstKey.accessKey}:${account.firstKey.secretKey}` });
  const usedBytes = async (account: SignedUp) => (await server.running.core.quotasUsecases.usage(account.userId)).usedBytes;

  async function putFile(account: SignedUp, bucket: string, key: string, body: Buffer, contentType = 'application/pdf') {
    const response = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${bucket}&key=${encodeURIComponent(key)}`, {
      method: 'POST',
      headers: { ...apiKey(account), 'content-type': contentType },
      body: new Uint8Array(body),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return ((await response.json()) as { id: string }).id;
  }
  async function deleteFile(headers: Record<string, string>, id: string) {
    const response = await fetch(`${server.apiEndpoint}/api/v1/files/${id}`, { method: 'DELETE', headers });
    return { status: response.status, json: (await response.json()) as { success?: boolean; trashId?: string; error?: string } };
  }
  const trashOf = (account: SignedUp) => callApi(server, '/api/trash', { cookie: account.cookie });
  const restore = (account: SignedUp, id: string) => callApi(server, `/api/trash/${id}/restore`, { method: 'POST', cookie: account.cookie, body: {} });
  async function s3Status(bucket: string, key: string): Promise<{ status: number; deleteMarker?: string }> {
    try {
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { status: 200 };
    } catch (error) {
      const metadata = (error as { $metadata: { httpStatusCode: number }; $response?: { headers: Record<string, string> } }).$metadata;
      const marker = (error as { $response?: { headers: Record<string, string> } }).$response?.headers['x-amz-delete-marker'];
      return { status: metadata.httpStatusCode, ...(marker !== undefined && { deleteMarker: marker }) };
    }
  }

  it('in a versioned bucket a delete is a marker S3 clients see; restore removes it; events say trashed and restored', async () => {
    const key = `contracts/lease-${Date.now()}.pdf`;
    const bytes = randomBytes(3000);
    const id = await putFile(alice, 'default', key, bytes);
    const deleted = await deleteFile(apiKey(alice), id);
    expect([deleted.status, deleted.json.success, typeof deleted.json.trashId]).toEqual([200, true, 'string']);

    expect(await s3Status('default', key)).toEqual({ status: 404, deleteMarker: 'true' });
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'default', Prefix: key }));
    expect([versions.Versions?.length, versions.DeleteMarkers?.length, versions.DeleteMarkers?.[0]?.IsLatest]).toEqual([1, 1, true]);
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: key }));
    expect(listing.KeyCount).toBe(0);

    const trash = await trashOf(alice);
    const entry = trash.json.files.find((file: { id: string }) => file.id === deleted.json.trashId);
    expect(entry).toEqual({
      id: deleted.json.trashId,
      bucket: 'default',
      key,
      size: bytes.length,
      contentType: 'application/pdf',
      trashedAt: clock.now().toISOString(),
      expiresAt: new Date(clock.now().getTime() + 7 * DAY_MS).toISOString(),
    });
    expect(trash.json.retentionDays).toBe(7);

    const restored = await restore(alice, entry.id);
    expect([restored.status, restored.json.success, restored.json.restored.key]).toEqual([200, true, key]);
    const object = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: key }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
    expect((await trashOf(alice)).json.files.some((file: { id: string }) => file.id === entry.id)).toBe(false);

    await server.running.core.events.flush();
    const activity = await callApi(server, '/api/activity?action=object.deleted,object.restored&limit=50', { cookie: alice.cookie });
    const mine = activity.json.items.filter((item: { key: string }) => item.key === key);
    expect(mine.map((item: { type: string; detail?: { trashed?: boolean } }) => [item.type, item.detail?.trashed === true])).toEqual([
      ['object.restored', false],
      ['object.deleted', true],
    ]);
  });

  it('in an unversioned bucket the file leaves S3 listings but keeps counting toward the quota; restore brings back bytes and type', async () => {
    const bucket = `trash-plain-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    dropBuckets.push(bucket);
    const bytes = randomBytes(5000);
    const id = await putFile(alice, bucket, 'photo.jpg', bytes, 'image/jpeg');
    const usage = await usedBytes(alice);

    const deleted = await deleteFile(apiKey(alice), id);
    expect(deleted.status).toBe(200);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(0);
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions ?? []).toEqual([]);
    expect(await s3Status(bucket, 'photo.jpg')).toMatchObject({ status: 404 });
    // The internal trash bucket is nobody's to list or address.
    const names = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((entry) => entry.Name);
    expect(names).not.toContain('.trash');
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie })).json.buckets.map((entry: { name: string }) => entry.name)).not.toContain('.trash');
    const explorer = await callApi(server, '/api/explorer?bucket=.trash', { cookie: alice.cookie });
    expect(explorer.status).toBe(404);
    expect(await usedBytes(alice)).toBe(usage);
    // `usage reconcile` recounts the internal trash bucket too: the bytes it holds are the account's.
    const cliEnv = { DATA_DIR: server.dataDir, ...Object.fromEntries(Object.entries(backendUnderTest()).map(([name, value]) => [name, String(value)])) };
    const reconcile = (await runCli(['usage', 'reconcile', '--email', alice.email], cliEnv)) as {
      code: number;
      output: { accounts: { drift: boolean; buckets: { bucket: string; recounted: { bytes: number } }[] }[] };
    };
    expect(reconcile.code).toBe(0);
    const trashBucket = reconcile.output.accounts[0]!.buckets.find((entry) => entry.bucket === '.trash');
    expect(trashBucket?.recounted.bytes).toBeGreaterThanOrEqual(bytes.length);
    expect(reconcile.output.accounts[0]!.drift).toBe(false);

    const restored = await restore(alice, deleted.json.trashId!);
    expect(restored.status).toBe(200);
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'photo.jpg' }));
    expect(object.ContentType).toBe('image/jpeg');
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
    expect(await usedBytes(alice)).toBe(usage);
  });

  it('an account at its quota can still move a file to the trash and restore it (a move costs nothing)', async () => {
    const bucket = `trash-full-${Date.now()}`;
    const bobS3 = s3ClientFor(server, bob.firstKey);
    await bobS3.send(new CreateBucketCommand({ Bucket: bucket }));
    const bytes = randomBytes(4000);
    const id = await putFile(bob, bucket, 'report.pdf', bytes);
    const usage = await usedBytes(bob);
    await server.running.core.quotasUsecases.setQuota(bob.userId, usage);
    try {
      // Full: a new upload is refused, a delete into the trash is not.
      expect((await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${bucket}&key=more.bin`, { method: 'POST', headers: apiKey(bob), body: 'x' })).status).toBe(413);
      const deleted = await deleteFile(apiKey(bob), id);
      expect([deleted.status, typeof deleted.json.trashId]).toEqual([200, 'string']);
      expect(await usedBytes(bob)).toBe(usage);
      const restored = await restore(bob, deleted.json.trashId!);
      expect(restored.status).toBe(200);
      const object = await bobS3.send(new GetObjectCommand({ Bucket: bucket, Key: 'report.pdf' }));
      expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
      expect(await usedBytes(bob)).toBe(usage);
    } finally {
      await server.running.core.quotasUsecases.setQuota(bob.userId, null);
      await bobS3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'report.pdf' })).catch(() => undefined);
      await bobS3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    }
  });

  it('refuses to restore over a file that exists again in an unversioned bucket (409), and answers 409 when the bucket is gone', async () => {
    const bucket = `trash-clash-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    dropBuckets.push(bucket);
    const id = await putFile(alice, bucket, 'a.txt', Buffer.from('old'));
    const first = await deleteFile(apiKey(alice), id);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'new' }));
    const clash = await restore(alice, first.json.trashId!);
    expect([clash.status, clash.json.error, typeof clash.json.requestId]).toEqual([409, 'trash.key_exists', 'string']);
    expect(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a.txt' }))).Body!.transformToString()).toBe('new');

    const second = await deleteFile(apiKey(alice), await putFile(alice, bucket, 'b.txt', Buffer.from('b')));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a.txt' }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    const gone = await restore(alice, second.json.trashId!);
    expect([gone.status, gone.json.error]).toEqual([409, 'trash.bucket_gone']);
  });

  it('purges after TRASH_RETENTION_DAYS in the sweep (injected clock); DELETE /api/trash/{id} and POST /api/trash/empty delete for good', async () => {
    const bucket = `trash-purge-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    dropBuckets.push(bucket);
    // Earlier tests' entries would be due at the same time: start from an empty trash.
    await callApi(server, '/api/trash/empty', { method: 'POST', cookie: alice.cookie, body: {} });
    const base = await usedBytes(alice);
    const trashed = [];
    for (const [index, size] of [1000, 2000, 4000].entries()) {
      const deleted = await deleteFile(apiKey(alice), await putFile(alice, bucket, `f${index}.bin`, randomBytes(size)));
      trashed.push(deleted.json.trashId!);
    }
    // A versioned one too: its purge deletes the marker and the version it hid.
    const versionedKey = `purge-${Date.now()}.bin`;
    trashed.push((await deleteFile(apiKey(alice), await putFile(alice, 'default', versionedKey, randomBytes(500)))).json.trashId!);
    expect(await usedBytes(alice)).toBe(base + 7500);

    const one = await callApi(server, `/api/trash/${trashed[0]}`, { method: 'DELETE', cookie: alice.cookie });
    expect([one.status, one.json]).toEqual([200, { success: true }]);
    expect(await usedBytes(alice)).toBe(base + 6500);

    // Six days on nothing is due; eight days on the sweep purges the rest.
    const now = clock.now();
    try {
      clock.advance(6 * DAY_MS);
      expect((await server.running.timeMachine.sweeper.sweep()).purged).toBe(0);
      clock.advance(2 * DAY_MS);
      expect((await server.running.timeMachine.sweeper.sweep()).purged).toBeGreaterThanOrEqual(3);
    } finally {
      clock.set(now);
    }
    const left = (await trashOf(alice)).json.files.map((file: { id: string }) => file.id);
    for (const id of trashed) expect(left).not.toContain(id);
    expect(await usedBytes(alice)).toBe(base);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'default', Prefix: versionedKey }));
    expect([versions.Versions ?? [], versions.DeleteMarkers ?? []]).toEqual([[], []]);

    await deleteFile(apiKey(alice), await putFile(alice, bucket, 'last.bin', randomBytes(100)));
    const emptied = await callApi(server, '/api/trash/empty', { method: 'POST', cookie: alice.cookie, body: {} });
    expect([emptied.status, emptied.json.success, emptied.json.deleted >= 1]).toEqual([200, true, true]);
    expect((await trashOf(alice)).json.files).toEqual([]);
    expect(await usedBytes(alice)).toBe(base);
  });

  it("keeps a trashed file restorable for TRASH_RETENTION_DAYS even when the bucket's version retention is shorter", async () => {
    const bucket = `trash-keep-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name: bucket } })).status).toBe(201);
    dropBuckets.push(bucket);
    const settings = await callApi(server, '/api/versions/settings', { method: 'PUT', cookie: alice.cookie, body: { bucket, maxAgeDays: 1 } });
    expect(settings.json).toMatchObject({ versioning: 'Enabled', maxAgeDays: 1 });
    await putFile(alice, bucket, 'thesis.pdf', randomBytes(700));
    const bytes = randomBytes(900);
    const deleted = await deleteFile(apiKey(alice), await putFile(alice, bucket, 'thesis.pdf', bytes));
    expect(deleted.status).toBe(200);

    // Three days on (within the trash's 7, past the bucket's 1): the sweep may prune older history, never what the trash holds.
    const now = clock.now();
    try {
      clock.advance(3 * DAY_MS);
      await server.running.timeMachine.sweeper.sweep();
    } finally {
      clock.set(now);
    }
    expect((await trashOf(alice)).json.files.map((file: { id: string }) => file.id)).toContain(deleted.json.trashId);
    const restored = await restore(alice, deleted.json.trashId!);
    expect([restored.status, restored.json.error]).toEqual([200, undefined]);
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'thesis.pdf' }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
  });

  it('does not answer 200 to a restore that brought nothing back (the hidden version was deleted through S3): 410 trash.gone', async () => {
    const key = `gone-${Date.now()}.txt`;
    const { json } = await deleteFile(apiKey(alice), await putFile(alice, 'default', key, Buffer.from('soon gone')));
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'default', Prefix: key }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: key, VersionId: versions.Versions![0]!.VersionId }));
    const restored = await restore(alice, json.trashId!);
    expect([restored.status, restored.json.error, typeof restored.json.detail, typeof restored.json.requestId]).toEqual([410, 'trash.gone', 'string', 'string']);
    expect(await s3Status('default', key)).toMatchObject({ status: 404 });
    expect((await trashOf(alice)).json.files.map((file: { id: string }) => file.id)).not.toContain(json.trashId);
  });

  it('a restore and a purge of the same entry sent at once: one wins, and a restore that answered 200 left the file in place', async () => {
    const bucket = `trash-race-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    dropBuckets.push(bucket);
    const port = new URL(server.apiEndpoint).port;
    for (const [name, label] of [
      ['default', 'versioned'],
      [bucket, 'unversioned'],
    ] as const) {
      for (let round = 0; round < 3; round++) {
        const key = `race-${label}-${round}-${Date.now()}.bin`;
        const bytes = randomBytes(2000);
        const { json } = await deleteFile(apiKey(alice), await putFile(alice, name, key, bytes));
        const head = [`Host: 127.0.0.1:${port}`, `Origin: ${server.apiEndpoint}`, `Cookie: ${alice.cookie}`, 'Content-Type: application/json', 'Connection: close'];
        const [restored, purged] = await sendTogether(Number(port), [
          [`POST /api/trash/${json.trashId}/restore HTTP/1.1`, ...head, 'Content-Length: 2', '', '{}'].join('\r\n'),
          [`DELETE /api/trash/${json.trashId} HTTP/1.1`, ...head, 'Content-Length: 0', '', ''].join('\r\n'),
        ]);
        expect([label, [restored, purged].sort()]).toEqual([label, [200, 404]]);
        if (restored === 200) {
          const object = await s3.send(new GetObjectCommand({ Bucket: name, Key: key }));
          expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
        } else expect(await s3Status(name, key)).toMatchObject({ status: 404 });
      }
    }
  });

  it("answers 404 for another account's trash entries and lists only the caller's own", async () => {
    const id = await putFile(alice, 'default', `mine-${Date.now()}.txt`, Buffer.from('secret'));
    const { json } = await deleteFile(apiKey(alice), id);
    const trashId = json.trashId!;
    expect((await trashOf(bob)).json.files.map((file: { id: string }) => file.id)).not.toContain(trashId);
    const stolen = await restore(bob, trashId);
    expect([stolen.status, stolen.json.error, typeof stolen.json.detail, typeof stolen.json.requestId]).toEqual([404, 'trash.not_found', 'string', 'string']);
    const purged = await callApi(server, `/api/trash/${trashId}`, { method: 'DELETE', cookie: bob.cookie });
    expect([purged.status, purged.json.error]).toEqual([404, 'trash.not_found']);
    await callApi(server, '/api/trash/empty', { method: 'POST', cookie: bob.cookie, body: {} });
    expect((await trashOf(alice)).json.files.map((file: { id: string }) => file.id)).toContain(trashId);
    const viaKey = await fetch(`${server.apiEndpoint}/api/trash/${trashId}/restore`, { method: 'POST', headers: apiKey(bob) });
    expect(viaKey.status).toBe(404);
    expect((await fetch(`${server.apiEndpoint}/api/trash`)).status).toBe(401);
  });

  it('respects access key scopes: a read-only key cannot trash (403), and a key sees only entries its scope could read', async () => {
    const key = `scoped-${Date.now()}.txt`;
    const id = await putFile(alice, 'default', key, Buffer.from('scoped'));
    const readOnly = await callApi(server, '/api/keys', { cookie: alice.cookie, body: { name: 'ro', permission: 'read' } });
    const refused = await deleteFile({ 'x-api-key': `${readOnly.json.accessKey}:${readOnly.json.secretKey}` }, id);
    expect([refused.status, refused.json.error]).toEqual([403, 'files.access_denied']);
    expect(await s3Status('default', key)).toEqual({ status: 200 });

    const { json } = await deleteFile(apiKey(alice), id);
    const other = `trash-scope-${Date.now()}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name: other } })).status).toBe(201);
    dropBuckets.push(other);
    const scoped = await callApi(server, '/api/keys', { cookie: alice.cookie, body: { name: 'other', buckets: [other] } });
    const scopedKey = { 'x-api-key': `${scoped.json.accessKey}:${scoped.json.secretKey}` };
    const listed = (await (await fetch(`${server.apiEndpoint}/api/trash`, { headers: scopedKey })).json()) as { files: { id: string }[] };
    expect(listed.files.map((file) => file.id)).not.toContain(json.trashId);
    expect((await fetch(`${server.apiEndpoint}/api/trash/${json.trashId}/restore`, { method: 'POST', headers: scopedKey })).status).toBe(404);
    // `permanent=true` skips the trash.
    const trashedToo = await deleteFile(apiKey(alice), await putFile(alice, 'default', `${key}.2`, Buffer.from('x')));
    expect(trashedToo.json.trashId).toBeDefined();
    const gone = await fetch(`${server.apiEndpoint}/api/v1/files/${await putFile(alice, other, 'p.txt', Buffer.from('p'))}?permanent=true`, {
      method: 'DELETE',
      headers: apiKey(alice),
    });
    expect([gone.status, await gone.json()]).toEqual([200, { success: true }]);
  });
});

/** Opens one connection per request, then writes every request in the same tick: the server handles them concurrently. Answers the status codes. */
async function sendTogether(port: number, requests: string[]): Promise<number[]> {
  const sockets = await Promise.all(
    requests.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const answers = sockets.map(
    (socket) =>
      new Promise<number>((resolve, reject) => {
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          text += chunk;
        });
        socket.once('error', reject);
        socket.once('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      }),
  );
  for (const [index, socket] of sockets.entries()) socket.write(requests[index]!);
  return Promise.all(answers);
}
