import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw } from '../support/raw-s3.ts';
import { openRawConnection, requestHead, sleep, within, type RawConnection } from '../support/raw-tcp.ts';

/**
 * Issue #9 item 5: a body that stops arriving must not hold its connection, temp file and quota
 * reservation forever, and one account must not hold unboundedly many uploads open at once.
 * Everything goes over real sockets; stalls are real (a client that sends 10 bytes and waits).
 */

const IDLE_MS = 300;
/** Far beyond IDLE_MS: a guard that turns "never cut" into a failure instead of a hung test. */
const GUARD_MS = 5_000;
const SIZE = 1_000_000;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const creds = (account: TestAccount) => ({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey });
const apiKey = (account: TestAccount) => `${account.accessKeyId}:${account.secretAccessKey}`;

/** Files a partial upload could leave behind: the fs backend's tmp/, the s3 backend's spool. */
function leftoverFiles(server: TestServer): string[] {
  return [join(server.dataDir, 'tmp'), join(server.dataDir, 's3-backend', 'spool')].flatMap((dir) => (existsSync(dir) ? readdirSync(dir) : []));
}

/** Sends a signed request's head and the first bytes of its body, then nothing more. */
async function startStalledS3Request(server: TestServer, account: TestAccount, method: string, path: string, headers: Record<string, string>, payloadHash = 'UNSIGNED-PAYLOAD') {
  const signed = await signRaw(server.endpoint, creds(account), { method, path, headers, payloadHash });
  const connection = await openRawConnection(server.endpoint);
  connection.socket.write(requestHead(method, path, signed.headers!));
  return connection;
}

async function putObject(server: TestServer, account: TestAccount, key: string, body: Buffer) {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, creds(account), { method: 'PUT', path: `/default/${key}`, body, payloadHash: 'UNSIGNED-PAYLOAD' }));
}

async function headStatus(server: TestServer, account: TestAccount, key: string) {
  return (await sendRaw(server.endpoint, await signRaw(server.endpoint, creds(account), { method: 'HEAD', path: `/default/${key}` }))).status;
}

/** Waits until the server has cleaned up after a cut upload (asynchronous, just after the connection closed). */
async function expectReservationFreed(server: TestServer, account: TestAccount) {
  await vi.waitFor(() => expect(leftoverFiles(server)).toEqual([]), { timeout: GUARD_MS, interval: 20 });
  // The whole quota is free again: an upload of exactly the quota fits.
  await vi.waitFor(
    async () => {
      const full = await putObject(server, account, 'fills-the-quota.bin', Buffer.alloc(SIZE, 7));
      expect(full.status, full.text).toBe(200);
    },
    { timeout: GUARD_MS, interval: 50 },
  );
}

describe(`body idle timeout (BODY_IDLE_TIMEOUT_MS=${IDLE_MS})`, () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ BODY_IDLE_TIMEOUT_MS: IDLE_MS });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function accountWithQuota(bytes: number) {
    const account = await server.createAccount();
    await server.running.core.quotasUsecases.setQuota(account.userId, bytes);
    return account;
  }

  it('a PutObject that sends 10 of 1,000,000 bytes and stalls is cut: no object, no temp file, its quota reservation freed', async () => {
    const account = await accountWithQuota(SIZE);
    const stalled = await startStalledS3Request(server, account, 'PUT', '/default/stalled.bin', { 'content-length': String(SIZE) });
    stalled.socket.write(Buffer.alloc(10, 1));

    const outcome = await within(stalled.closed, GUARD_MS, 'still open');
    expect(outcome).not.toBe('still open');
    expect(outcome).not.toMatch(/^HTTP\/1\.1 2/);

    await expectReservationFreed(server, account);
    expect(await headStatus(server, account, 'stalled.bin')).toBe(404);
  });

  it('a signed UploadPart that got 100 Continue and stalls is cut; the part is not stored', async () => {
    const account = await accountWithQuota(SIZE);
    const create = await sendRaw(server.endpoint, await signRaw(server.endpoint, creds(account), { method: 'POST', path: '/default/parts.bin?uploads' }));
    expect(create.status, create.text).toBe(200);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(create.text)![1]!;
    const path = `/default/parts.bin?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`;
    // A signed payload hash sends the body through the verifying stream chain, not straight to the backend.
    const body = Buffer.alloc(SIZE, 2);
    const stalled = await startStalledS3Request(server, account, 'PUT', path, { 'content-length': String(SIZE), expect: '100-continue' }, sha256(body));
    // The server holds the body back until it sends 100 Continue: no stall is counted before that.
    await stalled.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    stalled.socket.write(body.subarray(0, 10));

    expect(await within(stalled.closed, GUARD_MS, 'still open')).not.toBe('still open');
    await expectReservationFreed(server, account);
    const parts = await sendRaw(
      server.endpoint,
      await signRaw(server.endpoint, creds(account), { method: 'GET', path: `/default/parts.bin?uploadId=${encodeURIComponent(uploadId)}` }),
    );
    expect(parts.status, parts.text).toBe(200);
    expect(parts.text).not.toContain('<Part>');
  });

  it('a CreateBucket whose small XML body stalls is cut and creates nothing', async () => {
    const account = await accountWithQuota(SIZE);
    const stalled = await startStalledS3Request(server, account, 'PUT', '/stalled-bucket', { 'content-length': '200' });
    stalled.socket.write('<CreateBucketConfiguration>');

    expect(await within(stalled.closed, GUARD_MS, 'still open')).not.toBe('still open');
    const list = await sendRaw(server.endpoint, await signRaw(server.endpoint, creds(account), { method: 'GET', path: '/' }));
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('stalled-bucket');
  });

  it('a slow upload that sends a byte every 100 ms is never cut and is stored whole', async () => {
    const account = await accountWithQuota(SIZE);
    const body = Buffer.from('slow but moving');
    const slow = await startStalledS3Request(server, account, 'PUT', '/default/slow.txt', { 'content-length': String(body.length) }, sha256(body));
    // 15 bytes over 1.5 s: five times the idle timeout in total, never more than a third of it between bytes.
    for (const byte of body) {
      await sleep(100);
      expect(slow.socket.destroyed).toBe(false);
      slow.socket.write(Buffer.from([byte]));
    }
    const response = await within(slow.waitFor(/^HTTP\/1\.1 \d{3} [^\r]*\r\n(?:.*\r\n)*\r\n/), GUARD_MS, 'no answer');
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    slow.socket.destroy();

    const get = await sendRaw(server.endpoint, await signRaw(server.endpoint, creds(account), { method: 'GET', path: '/default/slow.txt' }));
    expect(get.status).toBe(200);
    expect(get.text).toBe('slow but moving');
  });

  it('a file API upload (raw and multipart) that sends 10 of 1,000,000 bytes and stalls is cut: nothing stored, quota freed', async () => {
    const account = await accountWithQuota(SIZE);
    const boundary = 'stalledboundary';
    const variants = [
      { query: 'key=stalled-raw.bin', contentType: 'application/octet-stream', first: Buffer.alloc(10, 3) },
      {
        query: '',
        contentType: `multipart/form-data; boundary=${boundary}`,
        first: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stalled-form.bin"\r\n\r\n0123456789`),
      },
    ];
    for (const variant of variants) {
      const connection: RawConnection = await openRawConnection(server.apiEndpoint);
      connection.socket.write(
        requestHead('POST', `/api/v1/files?bucket=default${variant.query ? `&${variant.query}` : ''}`, {
          host: new URL(server.apiEndpoint).host,
          'x-api-key': apiKey(account),
          'content-type': variant.contentType,
          'content-length': String(SIZE),
        }),
      );
      connection.socket.write(variant.first);
      const outcome = await within(connection.closed, GUARD_MS, 'still open');
      expect(outcome).not.toBe('still open');
      expect(outcome).not.toMatch(/^HTTP\/1\.1 2/);
    }
    await expectReservationFreed(server, account);
    const listing = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=default`, { headers: { 'x-api-key': apiKey(account) } });
    const keys = ((await listing.json()) as { files: { key: string }[] }).files.map((file) => file.key);
    expect(keys).toEqual(['fills-the-quota.bin']);
  });
});

describe('concurrent uploads per account (MAX_CONCURRENT_UPLOADS_PER_ACCOUNT=2)', () => {
  let server: TestServer;
  const open: RawConnection[] = [];

  beforeAll(async () => {
    // A long idle timeout: the held uploads must stay in progress for the whole test.
    server = await startTestServer({ MAX_CONCURRENT_UPLOADS_PER_ACCOUNT: 2, BODY_IDLE_TIMEOUT_MS: 60_000 });
  });
  afterAll(async () => {
    for (const connection of open) connection.socket.destroy();
    await server?.close();
  });

  /** An upload the server has accepted (it sent 100 Continue) and that now waits for its body. */
  async function holdUpload(account: TestAccount, key: string) {
    const connection = await startStalledS3Request(server, account, 'PUT', `/default/${key}`, { 'content-length': '1000', expect: '100-continue' });
    open.push(connection);
    await connection.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    return connection;
  }

  it('the third concurrent upload of an account gets 503 SlowDown (S3) and 429 (file API); other accounts are unaffected; a finished upload frees its slot', async () => {
    const alice = await server.createAccount();
    const bob = await server.createAccount();
    const first = await holdUpload(alice, 'held-1.bin');
    const second = await holdUpload(alice, 'held-2.bin');

    const refused = await putObject(server, alice, 'third.bin', Buffer.from('third'));
    expect(refused.status, refused.text).toBe(503);
    expect(refused.code).toBe('SlowDown');
    expect(refused.headers['retry-after']).toBe('1');

    // The file API counts against the same slots.
    const viaApi = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=default&key=third-api.bin`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey(alice), 'content-type': 'application/octet-stream' },
      body: 'third via the file API',
    });
    expect(viaApi.status).toBe(429);
    expect(((await viaApi.json()) as { error: string }).error).toBe('files.too_many_uploads');

    // Reads and other accounts' uploads are not held back.
    expect(await headStatus(server, alice, 'missing.bin')).toBe(404);
    expect((await putObject(server, bob, 'bob.bin', Buffer.from('bob'))).status).toBe(200);

    // One held upload finishes: its slot is free for the next one.
    first.socket.write(Buffer.alloc(1000, 1));
    await first.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    await vi.waitFor(async () => expect((await putObject(server, alice, 'after.bin', Buffer.from('after'))).status).toBe(200), { timeout: GUARD_MS, interval: 20 });
    // Nothing left in flight when the server shuts down.
    second.socket.write(Buffer.alloc(1000, 2));
    await second.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  });
});
