import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../../src/clock.ts';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../../../test/support/dashboard.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const isoDate = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
const MiB = 1024 * 1024;

type Key = { accessKey: string; secretKey: string };
const apiKey = (key: Key) => ({ 'x-api-key': `${key.accessKey}:${key.secretKey}` });
const md5 = (bytes: Buffer | string) => createHash('md5').update(bytes).digest('hex');

describe('Simple REST file API /api/v1/files', () => {
  let server: TestServer;
  let alice: SignedUp;
  let aliceS3: S3Client;
  const clock = fixedClock(new Date());
  const clients: S3Client[] = [];

  /** One call over real HTTP; `body` goes as is (FormData, Buffer, string). */
  async function call(path: string, options: { method?: string; headers?: Record<string, string>; body?: BodyInit } = {}) {
    const response = await fetch(`${server.apiEndpoint}${path}`, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers: options.headers,
      body: options.body,
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const isJson = response.headers.get('content-type')?.startsWith('application/json') ?? false;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, headers: response.headers, bytes, json: (isJson && bytes.length > 0 ? JSON.parse(bytes.toString('utf8')) : undefined) as any };
  }

  function form(content: Buffer | string, filename: string | undefined, type = 'application/octet-stream', extra: Record<string, string> = {}) {
    const data = new FormData();
    for (const [name, value] of Object.entries(extra)) data.append(name, value);
    const blob = new Blob([typeof content === 'string' ? content : new Uint8Array(content)], { type });
    if (filename === undefined) data.append('file', blob, '');
    else data.append('file', blob, filename);
    return data;
  }

  async function createKey(account: SignedUp, scope: Record<string, unknown> = {}): Promise<Key & { id: string }> {
    const created = await callApi(server, '/api/keys', { cookie: account.cookie, body: { name: 'files', ...scope } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    return created.json;
  }

  async function upload(key: Key, name: string, content: Buffer | string, query = '') {
    const result = await call(`/api/v1/files${query}`, { headers: apiKey(key), body: form(content, name) });
    expect(result.status, JSON.stringify(result.json)).toBe(201);
    return result.json as { id: string; key: string; bucket: string; size: number; contentType: string; etag: string };
  }

  async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }

  /** Streams `total` bytes of generated data (plus a head and tail) through node:http with a Content-Length; returns status, JSON and the data's MD5. */
  function streamPost(path: string, headers: Record<string, string>, options: { head?: Buffer; size: number; tail?: Buffer; abortAfter?: number }) {
    const head = options.head ?? Buffer.alloc(0);
    const tail = options.tail ?? Buffer.alloc(0);
    const hash = createHash('md5');
    return new Promise<{ status: number; json: any; md5: string }>((resolve, reject) => {
      const req = httpRequest(
        `${server.apiEndpoint}${path}`,
        { method: 'POST', headers: { ...headers, 'content-length': String(head.length + options.size + tail.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'), md5: hash.digest('hex') }));
        },
      );
      req.on('error', reject);
      (async () => {
        const write = (chunk: Buffer) => (req.write(chunk) ? Promise.resolve() : new Promise<void>((drained) => req.once('drain', drained)));
        await write(head);
        let sent = 0;
        while (sent < options.size) {
          if (options.abortAfter !== undefined && sent >= options.abortAfter) {
            req.destroy();
            resolve({ status: 0, json: undefined, md5: '' });
            return;
          }
          const chunk = randomBytes(Math.min(MiB, options.size - sent));
          hash.update(chunk);
          await write(chunk);
          sent += chunk.length;
        }
        await write(tail);
        req.end();
      })().catch(reject);
    });
  }

  beforeAll(async () => {
    // Unversioned `default` buckets: these cases are about the file API over plain buckets (overwrites replace).
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off', TIME_MACHINE_DEFAULT: false }, { clock });
    alice = await signupViaApi(server);
    aliceS3 = s3ClientFor(server, alice.firstKey);
    clients.push(aliceS3);
    await aliceS3.send(new CreateBucketCommand({ Bucket: 'photos' }));
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await server?.close();
  });

  it('uploads a multipart file part, keeps its content type, and serves the same bytes over the API and S3', async () => {
    const content = randomBytes(100_000);
    const result = await call('/api/v1/files', { headers: apiKey(alice.firstKey), body: form(content, 'photo.jpg', 'image/jpeg') });
    expect(result.status).toBe(201);
    expect(result.json).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
      key: 'photo.jpg',
      bucket: 'default',
      size: 100_000,
      contentType: 'image/jpeg',
      etag: md5(content),
      updatedAt: isoDate,
      createdAt: isoDate,
    });
    const downloaded = await call(`/api/v1/files/${result.json.id}`, { headers: apiKey(alice.firstKey) });
    expect(downloaded.status).toBe(200);
    expect(downloaded.bytes.equals(content)).toBe(true);
    const viaS3 = await aliceS3.send(new GetObjectCommand({ Bucket: 'default', Key: 'photo.jpg' }));
    expect(viaS3.ContentType).toBe('image/jpeg');
    expect(Buffer.from(await viaS3.Body!.transformToByteArray()).equals(content)).toBe(true);

    // `key` names the file instead of the part's file name; `bucket` picks the bucket.
    const named = await call('/api/v1/files?bucket=photos&key=albums/2026/cat.png', { headers: apiKey(alice.firstKey), body: form('meow', 'ignored.bin', 'image/png') });
    expect(named.status).toBe(201);
    expect(named.json).toMatchObject({ key: 'albums/2026/cat.png', bucket: 'photos', size: 4, contentType: 'image/png' });
    expect(await (await aliceS3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'albums/2026/cat.png' }))).Body!.transformToString()).toBe('meow');
  });

  it('uploads a raw body named by the key query parameter, with the request content type', async () => {
    const result = await call('/api/v1/files?key=notes/raw.txt', { headers: { ...apiKey(alice.firstKey), 'content-type': 'text/plain; charset=utf-8' }, body: 'raw body' });
    expect(result.status).toBe(201);
    expect(result.json).toMatchObject({ key: 'notes/raw.txt', bucket: 'default', size: 8, contentType: 'text/plain; charset=utf-8', etag: md5('raw body') });
    const downloaded = await call(`/api/v1/files/${result.json.id}`, { headers: apiKey(alice.firstKey) });
    expect(downloaded.bytes.toString()).toBe('raw body');
    expect(downloaded.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    // An empty raw upload is an empty file.
    const empty = await call('/api/v1/files?key=empty', { headers: apiKey(alice.firstKey), body: '' });
    expect(empty.json).toMatchObject({ size: 0, etag: md5('') });
  });

  it('refuses uploads it cannot name, place, size or parse, storing nothing', async () => {
    const headers = apiKey(alice.firstKey);
    const cases: [string, Record<string, string>, BodyInit | undefined, number, string][] = [
      ['/api/v1/files', headers, 'no key for a raw body', 400, 'files.invalid_upload'],
      ['/api/v1/files', headers, form('x', undefined), 400, 'files.invalid_upload'],
      [
        '/api/v1/files?key=k',
        headers,
        (() => {
          const data = new FormData();
          data.append('other', 'x');
          return data;
        })(),
        400,
        'files.invalid_upload',
      ],
      [
        '/api/v1/files?key=k',
        { ...headers, 'content-type': 'multipart/form-data; boundary=zzz' },
        '--zzz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\ntruncated',
        400,
        'files.invalid_upload',
      ],
      ['/api/v1/files?key=k', { ...headers, 'content-type': 'multipart/form-data' }, 'no boundary', 400, 'files.invalid_upload'],
      ['/api/v1/files?bucket=nope-not-here', headers, form('x', 'x.txt'), 404, 'buckets.not_found'],
      [`/api/v1/files?key=${'k'.repeat(1025)}`, headers, 'x', 400, 'invalid_request'],
    ];
    for (const [path, requestHeaders, body, status, code] of cases) {
      const result = await call(path, { headers: requestHeaders, body, method: 'POST' });
      expect([result.status, result.json?.error], `${path} ${String(body)}`).toEqual([status, code]);
      expect(result.json.requestId).toEqual(requestIdShape);
    }
    expect(await exists(aliceS3, 'default', 'k')).toBe(false);
    expect(await exists(aliceS3, 'default', 'a')).toBe(false);

    // A body without Content-Length (chunked) cannot be held to the quota beforehand.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${server.apiEndpoint}/api/v1/files?key=chunked`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end('some bytes');
    });
    expect([chunked.status, JSON.parse(chunked.body).error]).toEqual([411, 'files.length_required']);
    expect(await exists(aliceS3, 'default', 'chunked')).toBe(false);
  });

  it('lists with limit and cursor across pages without duplicates or omissions, and filters by prefix', async () => {
    const bob = await signupViaApi(server);
    const bobS3 = s3ClientFor(server, bob.firstKey);
    clients.push(bobS3);
    const keys = Array.from({ length: 25 }, (_, i) => `paged/${String(i).padStart(2, '0')}.txt`);
    for (const key of keys) await bobS3.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: key, ContentType: 'text/plain' }));
    await bobS3.send(new PutObjectCommand({ Bucket: 'default', Key: 'other/z.txt', Body: 'z' }));

    const seen: string[] = [];
    let cursor: string | null = null;
    const pages: number[] = [];
    do {
      const page = await call(`/api/v1/files?prefix=paged/&limit=10${cursor ? `&cursor=${cursor}` : ''}`, { headers: apiKey(bob.firstKey) });
      expect(page.status).toBe(200);
      pages.push(page.json.files.length);
      seen.push(...page.json.files.map((file: { key: string }) => file.key));
      expect(page.json.hasMore).toBe(page.json.cursor !== null);
      cursor = page.json.cursor;
    } while (cursor);
    expect(pages).toEqual([10, 10, 5]);
    expect(seen).toEqual(keys);

    const all = await call('/api/v1/files?limit=1000', { headers: apiKey(bob.firstKey) });
    expect(all.json.hasMore).toBe(false);
    expect(all.json.cursor).toBeNull();
    expect(all.json.files).toHaveLength(26);
    expect(all.json.files[0]).toEqual({
      id: expect.any(String),
      key: 'other/z.txt',
      bucket: 'default',
      size: 1,
      contentType: 'application/octet-stream',
      etag: md5('z'),
      updatedAt: isoDate,
    });
    expect(all.json.files[1]).toMatchObject({ key: 'paged/00.txt', contentType: 'text/plain', size: 12 });
    // Default limit: 100.
    expect((await call('/api/v1/files', { headers: apiKey(bob.firstKey) })).json.files).toHaveLength(26);

    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'cursor=***', `cursor=${Buffer.from([0xff]).toString('base64url')}`]) {
      const refused = await call(`/api/v1/files?${query}`, { headers: apiKey(bob.firstKey) });
      expect(refused.status, query).toBe(400);
      expect(refused.json.error, query).toMatch(/^(invalid_request|files\.invalid_cursor)$/);
    }
  });

  it('downloads with Content-Type, Content-Length, Content-Disposition, ETag and single ranges; meta=true gives JSON', async () => {
    const content = Buffer.from('0123456789abcdefghij');
    const file = await upload(alice.firstKey, 'ranged.txt', content);
    const full = await call(`/api/v1/files/${file.id}`, { headers: apiKey(alice.firstKey) });
    expect(full.status).toBe(200);
    expect(
      Object.fromEntries(
        ['content-type', 'content-length', 'content-disposition', 'etag', 'accept-ranges', 'cache-control', 'x-content-type-options'].map((name) => [name, full.headers.get(name)]),
      ),
    ).toEqual({
      'content-type': 'application/octet-stream',
      'content-length': '20',
      'content-disposition': 'attachment; filename="ranged.txt"',
      etag: `"${md5(content)}"`,
      'accept-ranges': 'bytes',
      'cache-control': 'private',
      'x-content-type-options': 'nosniff',
    });
    expect(full.headers.get('last-modified')).toMatch(/GMT$/);

    const ranged = await call(`/api/v1/files/${file.id}`, { headers: { ...apiKey(alice.firstKey), range: 'bytes=5-9' } });
    expect([ranged.status, ranged.bytes.toString(), ranged.headers.get('content-range'), ranged.headers.get('content-length')]).toEqual([206, '56789', 'bytes 5-9/20', '5']);
    const suffix = await call(`/api/v1/files/${file.id}`, { headers: { ...apiKey(alice.firstKey), range: 'bytes=-3' } });
    expect([suffix.status, suffix.bytes.toString(), suffix.headers.get('content-range')]).toEqual([206, 'hij', 'bytes 17-19/20']);
    const open = await call(`/api/v1/files/${file.id}`, { headers: { ...apiKey(alice.firstKey), range: 'bytes=18-' } });
    expect([open.status, open.bytes.toString()]).toEqual([206, 'ij']);
    const unsatisfiable = await call(`/api/v1/files/${file.id}`, { headers: { ...apiKey(alice.firstKey), range: 'bytes=20-30' } });
    expect([unsatisfiable.status, unsatisfiable.json.error, unsatisfiable.headers.get('content-range')]).toEqual([416, 'files.range_not_satisfiable', 'bytes */20']);

    const meta = await call(`/api/v1/files/${file.id}?meta=true`, { headers: apiKey(alice.firstKey) });
    expect(meta.status).toBe(200);
    expect(meta.json).toEqual({ id: file.id, key: 'ranged.txt', bucket: 'default', size: 20, contentType: 'application/octet-stream', etag: md5(content), updatedAt: isoDate });

    const head = await fetch(`${server.apiEndpoint}/api/v1/files/${file.id}`, { method: 'HEAD', headers: apiKey(alice.firstKey) });
    expect([head.status, head.headers.get('content-length'), head.headers.get('etag')]).toEqual([200, '20', `"${md5(content)}"`]);

    // Non-ASCII names: an ASCII fallback and the exact UTF-8 name (RFC 6266).
    const unicode = await upload(alice.firstKey, 'ignored', 'x', `?key=${encodeURIComponent('docs/Résumé "final".pdf')}`);
    const disposition = (await call(`/api/v1/files/${unicode.id}`, { headers: apiKey(alice.firstKey) })).headers.get('content-disposition');
    expect(disposition).toBe(`attachment; filename="R_sum_ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf`);
  });

  it('deletes by id (to the trash): {success: true, trashId}, then 404 files.not_found for the id, and the object is gone from S3 too', async () => {
    const file = await upload(alice.firstKey, 'doomed.txt', 'bye');
    const deleted = await call(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: apiKey(alice.firstKey) });
    expect([deleted.status, deleted.json]).toEqual([200, { success: true, trashId: expect.any(String) }]);
    expect(await exists(aliceS3, 'default', 'doomed.txt')).toBe(false);
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '?meta=true'],
      ['DELETE', ''],
    ]) {
      const gone = await call(`/api/v1/files/${file.id}${suffix}`, { method, headers: apiKey(alice.firstKey) });
      expect([gone.status, gone.json.error]).toEqual([404, 'files.not_found']);
    }
    for (const bogus of ['not-an-id', 'AAAA', `${file.id}x`]) {
      const unknown = await call(`/api/v1/files/${bogus}`, { headers: apiKey(alice.firstKey) });
      expect([unknown.status, unknown.json.error], bogus).toEqual([404, 'files.not_found']);
    }
  });

  it('gives objects uploaded through S3 stable ids: found by listing, downloadable, unchanged by overwrites', async () => {
    const content = randomBytes(70_000);
    await aliceS3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'from-s3/data.bin', Body: content, ContentType: 'application/x-test' }));
    const listed = await call('/api/v1/files?bucket=photos&prefix=from-s3/', { headers: apiKey(alice.firstKey) });
    expect(listed.json.files).toHaveLength(1);
    const { id } = listed.json.files[0];
    const downloaded = await call(`/api/v1/files/${id}`, { headers: apiKey(alice.firstKey) });
    expect(downloaded.headers.get('content-type')).toBe('application/x-test');
    expect(downloaded.bytes.equals(content)).toBe(true);

    // Overwritten through the API and then through S3: still the same id, the newest bytes.
    const replaced = await call('/api/v1/files?bucket=photos&key=from-s3/data.bin', { headers: apiKey(alice.firstKey), body: 'v2' });
    expect(replaced.json.id).toBe(id);
    await aliceS3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'from-s3/data.bin', Body: 'v3' }));
    expect((await call(`/api/v1/files/${id}`, { headers: apiKey(alice.firstKey) })).bytes.toString()).toBe('v3');
  });

  it('holds uploads to the quota (413 files.quota_exceeded, nothing stored); an overwrite needs room only for its growth', async () => {
    const carol = await signupViaApi(server);
    await server.running.core.quotasUsecases.setQuota(carol.userId, 1 * MiB);
    const used = async () => (await server.running.core.quotasUsecases.usage(carol.userId)).usedBytes;
    const headers = apiKey(carol.firstKey);

    expect((await call('/api/v1/files?key=first.bin', { headers, body: randomBytes(600 * 1024) })).status).toBe(201);
    const raw = await call('/api/v1/files?key=second.bin', { headers, body: randomBytes(600 * 1024) });
    expect([raw.status, raw.json.error]).toEqual([413, 'files.quota_exceeded']);
    expect(raw.json.detail).toContain('quota 1048576');
    const multipart = await call('/api/v1/files', { headers, body: form(randomBytes(600 * 1024), 'third.bin') });
    expect([multipart.status, multipart.json.error]).toEqual([413, 'files.quota_exceeded']);
    expect(await used()).toBe(600 * 1024);
    const listed = await call('/api/v1/files', { headers });
    expect(listed.json.files.map((file: { key: string }) => file.key)).toEqual(['first.bin']);

    // 600 KiB replaced by 1000 KiB: 400 KiB of growth fits.
    expect((await call('/api/v1/files?key=first.bin', { headers, body: randomBytes(1000 * 1024) })).status).toBe(201);
    expect(await used()).toBe(1000 * 1024);
  });

  it('streams a 64 MiB multipart upload and a 64 MiB raw upload to storage and back', async () => {
    const boundary = 'cs-boundary-7d1f';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/x-big\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const multipart = await streamPost('/api/v1/files', { ...apiKey(alice.firstKey), 'content-type': `multipart/form-data; boundary=${boundary}` }, { head, size: 64 * MiB, tail });
    expect(multipart.status, JSON.stringify(multipart.json)).toBe(201);
    expect(multipart.json).toMatchObject({ key: 'big.bin', size: 64 * MiB, contentType: 'application/x-big', etag: multipart.md5 });

    const raw = await streamPost('/api/v1/files?key=big-raw.bin', apiKey(alice.firstKey), { size: 64 * MiB });
    expect(raw.status).toBe(201);
    expect(raw.json).toMatchObject({ size: 64 * MiB, etag: raw.md5 });

    const response = await fetch(`${server.apiEndpoint}/api/v1/files/${multipart.json.id}`, { headers: apiKey(alice.firstKey) });
    expect(response.headers.get('content-length')).toBe(String(64 * MiB));
    const hash = createHash('md5');
    let received = 0;
    for await (const chunk of response.body!) {
      hash.update(chunk);
      received += chunk.length;
    }
    expect([received, hash.digest('hex')]).toEqual([64 * MiB, multipart.md5]);
  });

  it('stores nothing from an upload cut short, and releases its quota reservation', async () => {
    const boundary = 'cut-short';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="partial.bin"\r\n\r\n`);
    const dave = await signupViaApi(server);
    const daveS3 = s3ClientFor(server, dave.firstKey);
    clients.push(daveS3);
    await streamPost('/api/v1/files', { ...apiKey(dave.firstKey), 'content-type': `multipart/form-data; boundary=${boundary}` }, { head, size: 8 * MiB, abortAfter: 2 * MiB });
    await streamPost('/api/v1/files?key=partial-raw.bin', apiKey(dave.firstKey), { size: 8 * MiB, abortAfter: 2 * MiB });
    // The server notices the closed socket asynchronously; then a full-quota upload must fit again.
    await server.running.core.quotasUsecases.setQuota(dave.userId, 8 * MiB + 1024);
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 201; attempt++) {
      status = (await call('/api/v1/files?key=after.bin', { headers: apiKey(dave.firstKey), body: Buffer.alloc(8 * MiB) })).status;
      if (status !== 201) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(201);
    expect(await exists(daveS3, 'default', 'partial.bin')).toBe(false);
    expect(await exists(daveS3, 'default', 'partial-raw.bin')).toBe(false);
  });

  it('authenticates with X-API-Key or Bearer; refuses missing, malformed, wrong, revoked, expired and deactivated keys with 401', async () => {
    const key = alice.firstKey;
    const bearer = await call('/api/v1/files?limit=1', { headers: { authorization: `Bearer ${key.accessKey}:${key.secretKey}` } });
    expect(bearer.status).toBe(200);

    const missing = await call('/api/v1/files');
    expect([missing.status, missing.json]).toEqual([401, { error: 'auth.unauthenticated', detail: expect.stringContaining('X-API-Key'), requestId: requestIdShape }]);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect((await call('/api/v1/files', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })).json.error).toBe('auth.unauthenticated');
    for (const credential of [
      key.accessKey,
      `${key.accessKey}:`,
      `${key.accessKey}:${key.secretKey}x`,
      `${key.accessKey}:${key.secretKey.slice(0, -1)}`,
      `CSUNKNOWNUNKNOWN0000:${key.secretKey}`,
      `:${key.secretKey}`,
    ]) {
      const refused = await call('/api/v1/files', { headers: { 'x-api-key': credential } });
      expect([refused.status, refused.json.error], credential).toEqual([401, 'auth.invalid_api_key']);
    }

    const revoked = await createKey(alice);
    expect((await call('/api/v1/files?limit=1', { headers: apiKey(revoked) })).status).toBe(200);
    await callApi(server, `/api/keys?id=${revoked.id}`, { method: 'DELETE', cookie: alice.cookie });
    expect((await call('/api/v1/files?limit=1', { headers: apiKey(revoked) })).json.error).toBe('auth.invalid_api_key');

    const expiring = await createKey(alice, { expiresAt: new Date(clock.now().getTime() + 1000).toISOString() });
    expect((await call('/api/v1/files?limit=1', { headers: apiKey(expiring) })).status).toBe(200);
    clock.advance(1000);
    expect((await call('/api/v1/files?limit=1', { headers: apiKey(expiring) })).json.error).toBe('auth.invalid_api_key');
    await callApi(server, `/api/keys?id=${expiring.id}`, { method: 'DELETE', cookie: alice.cookie });

    const erin = await signupViaApi(server);
    expect((await call('/api/v1/files', { headers: apiKey(erin.firstKey) })).status).toBe(200);
    await server.running.core.accountsRepository.setStatus(erin.userId, 'deactivated');
    server.running.core.keyStore.invalidate();
    expect((await call('/api/v1/files', { headers: apiKey(erin.firstKey) })).json.error).toBe('auth.invalid_api_key');
  });

  it("never lets one account read, list or delete another's files, by id or by bucket name", async () => {
    const mallory = await signupViaApi(server);
    const secret = await upload(alice.firstKey, 'private/diary.txt', 'dear diary', '?bucket=photos');
    const headers = apiKey(mallory.firstKey);
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '?meta=true'],
      ['DELETE', ''],
    ]) {
      const refused = await call(`/api/v1/files/${secret.id}${suffix}`, { method, headers });
      expect([refused.status, refused.json.error], `${method}${suffix}`).toEqual([404, 'files.not_found']);
    }
    // Mallory has no bucket named photos: Alice's is not there for her.
    const listing = await call('/api/v1/files?bucket=photos', { headers });
    expect([listing.status, listing.json.error]).toEqual([404, 'buckets.not_found']);
    const write = await call('/api/v1/files?bucket=photos&key=private/diary.txt', { headers, body: 'overwritten' });
    expect([write.status, write.json.error]).toEqual([404, 'buckets.not_found']);
    // Her own default bucket lists only her files.
    expect((await call('/api/v1/files', { headers })).json.files).toEqual([]);
    expect((await call(`/api/v1/files/${secret.id}`, { headers: apiKey(alice.firstKey) })).bytes.toString()).toBe('dear diary');
  });

  it("honours the key's scope: permission, buckets and prefix", async () => {
    const frank = await signupViaApi(server);
    const frankS3 = s3ClientFor(server, frank.firstKey);
    clients.push(frankS3);
    await frankS3.send(new CreateBucketCommand({ Bucket: 'shared' }));
    const inside = await upload(frank.firstKey, 'ignored', 'inside', '?key=in/a.txt');
    const outside = await upload(frank.firstKey, 'ignored', 'outside', '?key=out/b.txt');
    const other = await upload(frank.firstKey, 'ignored', 'other', '?bucket=shared&key=in/c.txt');
    const denied = (result: { status: number; json: { error: string } }) => [result.status, result.json?.error];

    const read = await createKey(frank, { permission: 'read' });
    expect((await call(`/api/v1/files/${inside.id}`, { headers: apiKey(read) })).bytes.toString()).toBe('inside');
    expect((await call('/api/v1/files', { headers: apiKey(read) })).json.files).toHaveLength(2);
    expect(denied(await call('/api/v1/files?key=new.txt', { headers: apiKey(read), body: 'x' }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call(`/api/v1/files/${inside.id}`, { method: 'DELETE', headers: apiKey(read) }))).toEqual([403, 'files.access_denied']);

    const write = await createKey(frank, { permission: 'write' });
    expect((await call('/api/v1/files?key=new.txt', { headers: apiKey(write), body: 'x' })).status).toBe(201);
    expect(denied(await call(`/api/v1/files/${inside.id}`, { headers: apiKey(write) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call(`/api/v1/files/${inside.id}?meta=true`, { headers: apiKey(write) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call('/api/v1/files', { headers: apiKey(write) }))).toEqual([403, 'files.access_denied']);

    const bucketScoped = await createKey(frank, { buckets: ['shared'] });
    expect((await call(`/api/v1/files/${other.id}`, { headers: apiKey(bucketScoped) })).bytes.toString()).toBe('other');
    expect(denied(await call(`/api/v1/files/${inside.id}`, { headers: apiKey(bucketScoped) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call('/api/v1/files', { headers: apiKey(bucketScoped) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call('/api/v1/files?key=x.txt', { headers: apiKey(bucketScoped), body: 'x' }))).toEqual([403, 'files.access_denied']);

    // Four keys so far (the sign-up key, read, write, bucket-scoped): make room for a fifth.
    await callApi(server, `/api/keys?id=${read.id}`, { method: 'DELETE', cookie: frank.cookie });
    const prefixed = await createKey(frank, { prefix: 'in/' });
    const listed = await call('/api/v1/files', { headers: apiKey(prefixed) });
    expect(listed.json.files.map((file: { key: string }) => file.key)).toEqual(['in/a.txt']);
    expect(denied(await call('/api/v1/files?prefix=out/', { headers: apiKey(prefixed) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call('/api/v1/files?prefix=', { headers: apiKey(prefixed) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call(`/api/v1/files/${outside.id}`, { headers: apiKey(prefixed) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call(`/api/v1/files/${outside.id}`, { method: 'DELETE', headers: apiKey(prefixed) }))).toEqual([403, 'files.access_denied']);
    expect(denied(await call('/api/v1/files', { headers: apiKey(prefixed), body: form('x', 'escape.txt') }))).toEqual([403, 'files.access_denied']);
    expect(await exists(frankS3, 'default', 'escape.txt')).toBe(false);
    expect((await call('/api/v1/files?key=in/ok.txt', { headers: apiKey(prefixed), body: 'ok' })).status).toBe(201);
    expect((await call(`/api/v1/files/${outside.id}`, { headers: apiKey(frank.firstKey) })).bytes.toString()).toBe('outside');
  });

  it('needs no Origin check for API-key requests: a cookie is not their credential', async () => {
    const result = await call('/api/v1/files?key=cross-origin.txt', {
      headers: { ...apiKey(alice.firstKey), origin: 'https://elsewhere.example', cookie: alice.cookie },
      body: 'ok',
    });
    expect(result.status).toBe(201);
    // The cookie alone authenticates nothing here.
    const cookieOnly = await call('/api/v1/files', { headers: { cookie: alice.cookie } });
    expect([cookieOnly.status, cookieOnly.json.error]).toEqual([401, 'auth.unauthenticated']);
  });
});
