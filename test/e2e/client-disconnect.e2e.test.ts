import { PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseEnvLines } from '../support/ceph-rgw.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { startHoldingRelay } from '../support/holding-relay.ts';
import { signRaw } from '../support/raw-s3.ts';
import { openRawConnection, requestHead, within } from '../support/raw-tcp.ts';

/**
 * A client that goes away cancels the backend work it started (issue #10, AbortSignal on every
 * backend call): on the s3 proxy backend, the gateway closes its upstream request to the store
 * instead of leaving it to run (or wait) for nobody. A relay between the gateway and Ceph RGW
 * holds the store's answer back, so the test sees on the wire whether the gateway gave it up.
 */
describe('a client disconnecting from a GET cancels the upstream request (s3 backend on Ceph RGW)', () => {
  const OBJECT_BYTES = 4 * 1024 * 1024;
  // Far beyond the test's wait: an upstream request only closes early here if it was cancelled.
  const BACKEND_TIMEOUT_MS = 120_000;
  const WAIT_MS = 10_000;
  let relay: Awaited<ReturnType<typeof startHoldingRelay>>;
  let server: TestServer;
  let account: TestAccount;

  beforeAll(async () => {
    const rgw = parseEnvLines(readFileSync(inject('cephRgwEnvFile'), 'utf8'));
    const endpoint = new URL(rgw.BACKEND_S3_ENDPOINT);
    relay = await startHoldingRelay({ host: endpoint.hostname, port: Number(endpoint.port) });
    server = await startTestServer({ STORAGE_BACKEND: 's3', BACKEND_S3_ENDPOINT: relay.endpoint, BACKEND_TIMEOUT_MS });
    account = await server.createAccount();
    const s3 = server.client(account);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'large.bin', Body: randomBytes(OBJECT_BYTES) }));
    s3.destroy();
  });
  afterAll(async () => {
    await server?.close();
    await relay?.close();
  });

  /** Sends a signed GET over a bare socket the test can cut. */
  async function openGet(key: string) {
    const signed = await signRaw(server.endpoint, { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey }, { method: 'GET', path: `/default/${key}` });
    const connection = await openRawConnection(server.endpoint);
    connection.socket.write(requestHead('GET', `/default/${key}`, signed.headers ?? {}));
    return connection;
  }

  it('closes the upstream request when the client leaves mid-body', async () => {
    const held = relay.holdNext('GET /cs-', 256 * 1024);
    const client = await openGet('large.bin');
    const upstream = await held;
    // The client has the status line and some of the body, then goes away.
    await client.waitFor(/^HTTP\/1\.1 200 /);
    client.socket.destroy();
    expect(
      await within(
        upstream.clientClosed.then(() => 'closed'),
        WAIT_MS,
        'still open',
      ),
    ).toBe('closed');
    expect(upstream.relayedBytes()).toBeLessThan(OBJECT_BYTES);
  });

  it('closes the upstream request when the client leaves before the store answered', async () => {
    // Nothing of the store's answer reaches the gateway: without cancellation it would wait for
    // it (up to BACKEND_TIMEOUT_MS) with the upstream connection open.
    const held = relay.holdNext('GET /cs-', 0);
    const client = await openGet('large.bin');
    const upstream = await held;
    client.socket.destroy();
    expect(
      await within(
        upstream.clientClosed.then(() => 'closed'),
        WAIT_MS,
        'still open',
      ),
    ).toBe('closed');
    expect(upstream.relayedBytes()).toBe(0);
    // The gateway still serves the next request (the cancelled one left nothing behind).
    const again = await openGet('large.bin');
    const answered = await again.waitFor(/^HTTP\/1\.1 \d{3} /);
    expect(answered).toMatch(/^HTTP\/1\.1 200 /);
    again.socket.destroy();
  });
});
