import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { unzipWithPython } from '../support/unzip.ts';

/**
 * Share links (issue #16) over HTTP against the real servers, on both storage backends (this file
 * is in vitest.config.ts BACKEND_INDEPENDENT_SUITES). Objects are uploaded through the file API
 * (no request signing, so the injected clock can move for the expiry rules).
 */
describe('share links', () => {
  const clock = fixedClock(new Date());
  let server: TestServer;
  let alice: SignedUp;
  let bob: SignedUp;
  const created: { account: SignedUp; key: string }[] = [];

  beforeAll(async () => {
    // Unversioned buckets: a deleted file leaves its bucket empty (deletable), as these cases expect.
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_SHARE_ACCESS: 'off', RATE_LIMIT_SHARE_PASSWORD: '2/1m', TIME_MACHINE_DEFAULT: false }, { clock });
    alice = await signupViaApi(server);
    bob = await signupViaApi(server);
  });
  afterAll(async () => {
    // The RGW keeps its objects in RAM: delete what this suite stored.
    for (const { account, key } of created) await deleteFile(account, key).catch(() => undefined);
    await server?.close();
  });

  const apiKey = (account: SignedUp) => ({ 'x-api-key': `${account.firstKey.accessKey}:${account.firstKey.secretKey}` });

  async function putFile(account: SignedUp, key: string, body: Uint8Array | string, bucket = 'default') {
    const response = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${bucket}&key=${encodeURIComponent(key)}`, {
      method: 'POST',
      headers: { ...apiKey(account), 'content-type': 'application/octet-stream' },
      body: typeof body === 'string' ? body : Buffer.from(body),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    if (bucket === 'default') created.push({ account, key });
    return (await response.json()) as { id: string };
  }
  async function deleteFile(account: SignedUp, key: string, bucket = 'default') {
    const listing = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${bucket}&prefix=${encodeURIComponent(key)}&limit=1`, { headers: apiKey(account) });
    const file = ((await listing.json()) as { files: { id: string; key: string }[] }).files.find((entry) => entry.key === key);
    if (file) await fetch(`${server.apiEndpoint}/api/v1/files/${file.id}`, { method: 'DELETE', headers: apiKey(account) });
  }
  /** Password attempts from this address are limited (2/1m here; 5/1m by default) and the injected clock only moves when told: a full budget. */
  const freshPasswordBudget = () => clock.advance(60_000);
  /** A JSON POST from another loopback source address (another client, as far as the limits can tell). */
  const postFrom = (localAddress: string, path: string, body: string) =>
    new Promise<{ status: number }>((resolve, reject) => {
      const request = httpRequest(`${server.apiEndpoint}${path}`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
      });
      request.on('error', reject);
      request.end(body);
    });
  const share = (account: SignedUp, body: Record<string, unknown>) => callApi(server, '/api/shares', { cookie: account.cookie, body });
  const publicGet = (path: string, headers: Record<string, string> = {}) => fetch(`${server.apiEndpoint}${path}`, { headers });
  const postPassword = (code: string, password: string, headers: Record<string, string> = {}) =>
    fetch(`${server.apiEndpoint}/s/${code}/download`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ password }) });

  it('creates, lists, patches and deactivates a share; downloads serve the exact bytes with the file name', async () => {
    const bytes = randomBytes(70_000);
    await putFile(alice, 'docs/presentation.pdf', bytes);
    const createdShare = await share(alice, { bucket: 'default', objectKey: 'docs/presentation.pdf', expiresIn: '7d', maxDownloads: 50 });
    expect(createdShare.status).toBe(201);
    const body = createdShare.json;
    expect(body).toMatchObject({ id: expect.stringMatching(/^share_/), maxDownloads: 50, fileName: 'presentation.pdf', url: `${server.apiEndpoint}/s/${body.code}` });
    // At least 48 random bits, URL-safe.
    expect(body.code).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(Date.parse(body.expiresAt) - clock.now().getTime()).toBe(7 * 86_400_000);

    const info = await (await publicGet(`/s/${body.code}/info`)).json();
    expect(info).toEqual({
      code: body.code,
      fileName: 'presentation.pdf',
      kind: 'file',
      size: bytes.length,
      contentType: 'application/octet-stream',
      expiresAt: body.expiresAt,
      passwordProtected: false,
      downloadsRemaining: 50,
    });
    // Nothing about the owner: no bucket, key, email or id.
    expect(JSON.stringify(info)).not.toMatch(/default|docs\/|@example|share_/);

    const download = await publicGet(`/s/${body.code}/download`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="presentation.pdf"');
    expect(download.headers.get('content-length')).toBe(String(bytes.length));
    expect(download.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    // The spec's public endpoint serves the same bytes.
    const viaApi = await publicGet(`/api/shares/download?code=${body.code}`);
    expect(Buffer.from(await viaApi.arrayBuffer()).equals(bytes)).toBe(true);

    const listed = await callApi(server, '/api/shares', { cookie: alice.cookie });
    const row = listed.json.shares.find((entry: { id: string }) => entry.id === body.id);
    expect(row).toMatchObject({ code: body.code, fileName: 'presentation.pdf', downloads: 2, views: 1, maxDownloads: 50, expiresAt: body.expiresAt, active: true });

    const patched = await callApi(server, '/api/shares', { method: 'PATCH', cookie: alice.cookie, body: { id: body.id, maxDownloads: 3, expiresIn: '1h', password: 'sesame' } });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ maxDownloads: 3, passwordProtected: true, expiresAt: new Date(clock.now().getTime() + 3_600_000).toISOString() });
    expect((await publicGet(`/s/${body.code}/download`)).status).toBe(401);
    freshPasswordBudget();
    expect((await postPassword(body.code, 'sesame')).status).toBe(200);

    const removed = await callApi(server, `/api/shares?id=${body.id}`, { method: 'DELETE', cookie: alice.cookie });
    expect([removed.status, removed.json]).toEqual([200, { success: true }]);
    const gone = await postPassword(body.code, 'sesame');
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ error: 'shares.gone', detail: expect.stringContaining('deactivated'), requestId: expect.any(String) });
    expect((await publicGet(`/s/${body.code}/info`)).status).toBe(410);
    expect((await publicGet('/s/no-such-code-here/info')).status).toBe(404);
    expect((await (await publicGet('/s/no-such-code-here/info')).json()).error).toBe('shares.not_found');
  });

  it('records share.created and share.downloaded in the activity log through the events outbox', async () => {
    await putFile(alice, 'events/report.txt', 'quarterly');
    const { json } = await share(alice, { bucket: 'default', objectKey: 'events/report.txt', expiresIn: 'never' });
    await (await publicGet(`/s/${json.code}/download`)).arrayBuffer();
    await server.running.core.events.flush();
    const activity = await callApi(server, '/api/activity?action=share.created,share.downloaded&limit=10', { cookie: alice.cookie });
    expect(activity.status).toBe(200);
    const entries = activity.json.items;
    const mine = entries.filter((entry: { detail?: { shareId?: string } }) => entry.detail?.shareId === json.id);
    expect(mine.map((entry: { type: string }) => entry.type).sort()).toEqual(['share.created', 'share.downloaded']);
    // The code (the secret in the link) is never recorded.
    expect(JSON.stringify(mine)).not.toContain(json.code);
  });

  it('serves one Range and names a non-ASCII file with RFC 5987 filename*', async () => {
    const bytes = randomBytes(10_000);
    await putFile(alice, 'photos/été à Zürich.bin', bytes);
    const { json } = await share(alice, { bucket: 'default', objectKey: 'photos/été à Zürich.bin', expiresIn: '24h', fileName: 'Été "à" Zürich.bin' });
    const partial = await publicGet(`/s/${json.code}/download`, { range: 'bytes=100-199' });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(Buffer.from(await partial.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
    // An ASCII fallback (non-ASCII and quotes replaced) and the exact UTF-8 name percent-encoded.
    expect(partial.headers.get('content-disposition')).toBe(`attachment; filename="_t_ ___ Z_rich.bin"; filename*=UTF-8''%C3%89t%C3%A9%20%22%C3%A0%22%20Z%C3%BCrich.bin`);
    const unsatisfiable = await publicGet(`/s/${json.code}/download`, { range: 'bytes=20000-' });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
  });

  it('counts downloads atomically: with maxDownloads 5, exactly 5 of 20 parallel downloads get the bytes', async () => {
    const bytes = randomBytes(4096);
    await putFile(alice, 'race/file.bin', bytes);
    const { json } = await share(alice, { bucket: 'default', objectKey: 'race/file.bin', expiresIn: '1h', maxDownloads: 5 });
    // HEAD (link checkers) tells the size without spending a download.
    for (let index = 0; index < 3; index++) {
      const head = await fetch(`${server.apiEndpoint}/s/${json.code}/download`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-length')]).toEqual([200, '4096']);
    }
    const responses = await Promise.all(Array.from({ length: 20 }, () => publicGet(`/s/${json.code}/download`)));
    const statuses = responses.map((response) => response.status).sort();
    const bodies = await Promise.all(responses.map((response) => response.arrayBuffer()));
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(15).fill(410)]);
    for (const [index, response] of responses.entries()) if (response.status === 200) expect(Buffer.from(bodies[index]!).equals(bytes)).toBe(true);
    const listed = await callApi(server, '/api/shares', { cookie: alice.cookie });
    expect(listed.json.shares.find((entry: { id: string }) => entry.id === json.id).downloads).toBe(5);
    expect((await publicGet(`/s/${json.code}`)).status).toBe(410);
  });

  it('keeps accounts apart: B cannot list, patch or delete A’s shares, nor share A’s bucket', async () => {
    await putFile(alice, 'private/secret.txt', 'for alice only');
    const { json } = await share(alice, { bucket: 'default', objectKey: 'private/secret.txt', expiresIn: '1h' });
    const listed = await callApi(server, '/api/shares', { cookie: bob.cookie });
    expect(listed.json.shares.map((entry: { id: string }) => entry.id)).not.toContain(json.id);
    const patch = await callApi(server, '/api/shares', { method: 'PATCH', cookie: bob.cookie, body: { id: json.id, maxDownloads: 1 } });
    expect([patch.status, patch.json.error]).toEqual([404, 'shares.not_found']);
    const remove = await callApi(server, `/api/shares?id=${json.id}`, { method: 'DELETE', cookie: bob.cookie });
    expect([remove.status, remove.json.error]).toEqual([404, 'shares.not_found']);
    expect((await publicGet(`/s/${json.code}/info`)).status).toBe(200);

    // Bob names Alice's bucket by its name in Alice's account: in his namespace it is not his.
    await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name: `alice-only-${Date.now()}` } }).then(async ({ json: bucket }) => {
      const name = bucket.name;
      await putFile(alice, 'x.txt', 'x', name);
      const refused = await share(bob, { bucket: name, objectKey: 'x.txt', expiresIn: '1h' });
      expect([403, 404]).toContain(refused.status);
      expect(refused.json.error).not.toBe('shares.slug_taken');
      await deleteFile(alice, 'x.txt').catch(() => undefined);
      const files = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${name}`, { headers: apiKey(alice) }).then((response) => response.json());
      for (const file of files.files) await fetch(`${server.apiEndpoint}/api/v1/files/${file.id}`, { method: 'DELETE', headers: apiKey(alice) });
      await callApi(server, `/api/buckets?name=${name}`, { method: 'DELETE', cookie: alice.cookie });
    });
    // Without a session or an API key: 401.
    expect((await callApi(server, '/api/shares', { origin: null })).status).toBe(401);
  });

  it('refuses a share outside the API key scope, and stops serving when the creating key is revoked', async () => {
    await putFile(alice, 'scoped/in.txt', 'inside');
    await putFile(alice, 'elsewhere.txt', 'outside');
    const key = await callApi(server, '/api/keys', { cookie: alice.cookie, body: { name: 'scoped', prefix: 'scoped/' } });
    expect(key.status).toBe(201);
    const scoped = { 'x-api-key': `${key.json.accessKey}:${key.json.secretKey}` };
    const outside = await fetch(`${server.apiEndpoint}/api/shares`, {
      method: 'POST',
      headers: { ...scoped, 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'default', objectKey: 'elsewhere.txt', expiresIn: '1h' }),
    });
    expect(outside.status).toBe(403);
    const inside = await fetch(`${server.apiEndpoint}/api/shares`, {
      method: 'POST',
      headers: { ...scoped, 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'default', objectKey: 'scoped/in.txt', expiresIn: '1h' }),
    });
    expect(inside.status).toBe(201);
    const { code } = await inside.json();
    expect(await (await publicGet(`/s/${code}/download`)).text()).toBe('inside');
    expect((await callApi(server, `/api/keys?id=${key.json.id}`, { method: 'DELETE', cookie: alice.cookie })).status).toBe(200);
    const afterRevoke = await publicGet(`/s/${code}/download`);
    expect(afterRevoke.status).toBe(410);
    expect(await afterRevoke.text()).not.toContain('inside');
  });

  it('answers 410 and serves no byte once the object is deleted, the link expires or the owner is deactivated', async () => {
    await putFile(alice, 'gone/deleted.txt', 'soon deleted');
    const deleted = (await share(alice, { bucket: 'default', objectKey: 'gone/deleted.txt', expiresIn: '1h' })).json;
    await deleteFile(alice, 'gone/deleted.txt');
    const afterDelete = await publicGet(`/s/${deleted.code}/download`);
    expect([afterDelete.status, (await afterDelete.json()).error]).toEqual([410, 'shares.gone']);
    expect((await publicGet(`/s/${deleted.code}`)).status).toBe(410);

    await putFile(alice, 'gone/expiring.txt', 'expiring');
    const expiring = (await share(alice, { bucket: 'default', objectKey: 'gone/expiring.txt', expiresIn: '1h' })).json;
    expect((await publicGet(`/s/${expiring.code}/download`)).status).toBe(200);
    const now = clock.now();
    clock.advance(3_600_000);
    try {
      const expired = await publicGet(`/s/${expiring.code}/download`);
      expect([expired.status, (await expired.json()).detail]).toEqual([410, 'This share link has expired.']);
    } finally {
      clock.set(now);
    }

    // A bucket deleted and re-created under the same name is another bucket: the link does not follow the name.
    const bucket = `recreated-${randomBytes(4).toString('hex')}`;
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name: bucket } })).status).toBe(201);
    await putFile(alice, 'same-key.txt', 'first bucket', bucket);
    const first = (await share(alice, { bucket, objectKey: 'same-key.txt', expiresIn: '1h' })).json;
    expect(await (await publicGet(`/s/${first.code}/download`)).text()).toBe('first bucket');
    await deleteFile(alice, 'same-key.txt', bucket);
    expect((await callApi(server, `/api/buckets?name=${bucket}`, { method: 'DELETE', cookie: alice.cookie })).status).toBe(200);
    expect((await publicGet(`/s/${first.code}/download`)).status).toBe(410);
    expect((await callApi(server, '/api/buckets', { cookie: alice.cookie, body: { name: bucket } })).status).toBe(201);
    await putFile(alice, 'same-key.txt', 'second bucket', bucket);
    const afterRecreate = await publicGet(`/s/${first.code}/download`);
    expect(afterRecreate.status).toBe(410);
    expect(await afterRecreate.text()).not.toContain('second bucket');
    await deleteFile(alice, 'same-key.txt', bucket);
    await callApi(server, `/api/buckets?name=${bucket}`, { method: 'DELETE', cookie: alice.cookie });

    const carol = await signupViaApi(server);
    await putFile(carol, 'carol.txt', 'carol');
    const carols = (await share(carol, { bucket: 'default', objectKey: 'carol.txt', expiresIn: 'never' })).json;
    expect((await publicGet(`/s/${carols.code}/download`)).status).toBe(200);
    await server.running.core.accountsRepository.setStatus(carol.userId, 'deactivated');
    server.running.core.keyStore.invalidate();
    try {
      const refused = await publicGet(`/s/${carols.code}/download`);
      expect(refused.status).toBe(410);
      expect(await refused.text()).not.toContain('carol');
    } finally {
      await server.running.core.accountsRepository.setStatus(carol.userId, 'active');
      server.running.core.keyStore.invalidate();
    }
  });

  it('throttles password guesses per share and address before hashing: 429 with Retry-After, even for the right password', async () => {
    await putFile(alice, 'locked/vault.txt', 'treasure');
    const { json } = await share(alice, { bucket: 'default', objectKey: 'locked/vault.txt', expiresIn: '1h', password: 'open sesame' });
    const other = (await share(alice, { bucket: 'default', objectKey: 'locked/vault.txt', expiresIn: '1h', password: 'other' })).json;
    expect((await publicGet(`/s/${json.code}/download`)).status).toBe(401);
    freshPasswordBudget();
    for (let attempt = 0; attempt < 2; attempt++) {
      const wrong = await postPassword(json.code, `guess ${attempt}`);
      expect([wrong.status, (await wrong.json()).error]).toEqual([401, 'shares.wrong_password']);
    }
    const throttled = await postPassword(json.code, 'open sesame');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await throttled.json()).toMatchObject({ error: 'shares.rate_limited' });
    // Per address: another share from the same address is refused too; per share: this share from another address too.
    expect((await postPassword(other.code, 'other')).status).toBe(429);
    expect((await postFrom('127.0.0.2', `/s/${json.code}/download`, JSON.stringify({ password: 'open sesame' }))).status).toBe(429);
    expect((await postFrom('127.0.0.2', `/s/${other.code}/download`, JSON.stringify({ password: 'other' }))).status).toBe(200);
    clock.advance(60_000);
    const right = await postPassword(json.code, 'open sesame');
    expect([right.status, await right.text()]).toEqual([200, 'treasure']);
  });

  it('validates custom slugs and keeps them unique', async () => {
    await putFile(alice, 'slug/q4.pdf', 'q4');
    const slug = `q4-report-${randomBytes(3).toString('hex')}`;
    expect((await share(alice, { bucket: 'default', objectKey: 'slug/q4.pdf', expiresIn: '7d', customSlug: slug })).json.code).toBe(slug);
    const taken = await share(bob, { bucket: 'default', objectKey: 'slug/q4.pdf', expiresIn: '7d', customSlug: slug });
    expect(taken.status).toBe(404); // Bob has no such object: checked before the slug
    const again = await share(alice, { bucket: 'default', objectKey: 'slug/q4.pdf', expiresIn: '7d', customSlug: slug });
    expect([again.status, again.json.error]).toEqual([409, 'shares.slug_taken']);
    for (const bad of ['a', '../etc', 'with space', '<script>', 'ünï']) {
      const refused = await share(alice, { bucket: 'default', objectKey: 'slug/q4.pdf', expiresIn: '7d', customSlug: bad });
      expect(refused.status, bad).toBe(400);
    }
    expect(await (await publicGet(`/s/${slug}/download`)).text()).toBe('q4');
  });

  it('serves a strict, escaped landing page without JavaScript that shows no owner details', async () => {
    await putFile(alice, 'page/evil.txt', 'payload');
    const { json } = await share(alice, { bucket: 'default', objectKey: 'page/evil.txt', expiresIn: '1h', fileName: '<img src=x onerror=alert(1)>"\'.txt', password: 'pw' });
    const page = await publicGet(`/s/${json.code}`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    for (const directive of ["default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) expect(csp).toContain(directive);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('script-src');
    const html = await page.text();
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;.txt');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(`<form method="post" action="/s/${json.code}/download">`);
    expect(html).toContain('type="password"');
    expect(html).not.toContain(alice.email);
    expect(html).not.toContain('page/evil.txt');
    expect(html).not.toMatch(/default|cs-/);
    // A wrong password from the form shows the form again; unknown and gone links are pages too.
    freshPasswordBudget();
    const wrong = await fetch(`${server.apiEndpoint}/s/${json.code}/download`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'password=nope',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toContain('text/html');
    expect(await wrong.text()).toContain('Wrong password.');
    const unknown = await publicGet('/s/unknown-code-xyz');
    expect([unknown.status, unknown.headers.get('content-type')]).toEqual([404, 'text/html; charset=utf-8']);
  });

  it('shares a folder as a zip streamed file by file (unzipped by python3 zipfile, byte for byte)', async () => {
    const files = new Map<string, Buffer>();
    for (let index = 0; index < 12; index++) files.set(`album/${index % 3 === 0 ? 'sub/' : ''}photo-${index}.jpg`, randomBytes(500 + index * 97));
    files.set('album/ünïcødé.txt', Buffer.from('utf-8 name'));
    for (const [key, bytes] of files) await putFile(alice, key, bytes);
    const { json } = await share(alice, { bucket: 'default', objectKey: 'album/', expiresIn: '1h', maxDownloads: 2 });
    expect(json).toMatchObject({ kind: 'folder', fileName: 'album.zip' });
    const response = await publicGet(`/s/${json.code}/download`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    const zip = Buffer.from(await response.arrayBuffer());
    expect(await unzipWithPython(zip)).toEqual(Object.fromEntries([...files].map(([key, bytes]) => [key.slice('album/'.length), bytes.toString('hex')])));
    // Once every file in it is deleted, the folder link is gone too.
    for (const key of files.keys()) await deleteFile(alice, key);
    expect((await publicGet(`/s/${json.code}/download`)).status).toBe(410);
    expect((await publicGet(`/s/${json.code}/info`)).status).toBe(410);
  });

  it('uploads and shares in one step (POST /api/shares/upload) with an API key', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('uploaded for sharing')]), 'notes.txt');
    const response = await fetch(`${server.apiEndpoint}/api/shares/upload?expiresIn=24h&maxDownloads=3`, {
      method: 'POST',
      headers: { ...apiKey(alice), 'x-share-password': 'pw2' },
      body: form,
    });
    expect(response.status).toBe(201);
    const body = await response.json();
    expect(body).toMatchObject({
      bucket: 'default',
      objectKey: expect.stringMatching(/^shares\/[A-Za-z0-9_-]+\/notes\.txt$/),
      fileName: 'notes.txt',
      maxDownloads: 3,
      passwordProtected: true,
    });
    created.push({ account: alice, key: body.objectKey });
    freshPasswordBudget();
    expect(await (await postPassword(body.code, 'pw2')).text()).toBe('uploaded for sharing');
  });
});
