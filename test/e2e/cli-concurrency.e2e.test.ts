import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServerInTempDir } from '../support/cloudstorage.ts';
import { signupViaApi, type SignedUp } from '../support/dashboard.ts';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * The admin CLI is documented to work while the server runs. It used to build the whole core:
 * the fs backend's start-up sweep emptied tmp/ of anything it did not recognise as a live
 * process's, claimed an owner lock, refilled the space reserve and relayed events, all of it in
 * a process that only wanted to create a key. These tests run the real CLI (a separate process)
 * against a spawned server on the same DATA_DIR.
 */
describe('the admin CLI beside a running server on one DATA_DIR', () => {
  let running: Awaited<ReturnType<typeof spawnServerInTempDir>>;
  let user: SignedUp;
  let objectsDir: string;

  beforeAll(async () => {
    // No periodic sweep: anything that leaves tmp/ during the test was taken by the CLI.
    running = await spawnServerInTempDir({ FS_FSYNC: 'false', FS_ORPHAN_SWEEP_INTERVAL_MS: '0' });
    user = await signupViaApi(running.server);
    objectsDir = join(running.env.DATA_DIR, 'objects');
  });
  afterAll(async () => running?.close());

  /**
   * Streams `size` bytes to /api/v1/files; once `pauseAt` bytes are sent, waits for `whilePaused`
   * (the body's temp file exists in tmp/ then) before sending the rest.
   */
  function uploadWithPause(key: string, body: Buffer, pauseAt: number, whilePaused: () => Promise<void>) {
    return new Promise<{ status: number; json: any }>((resolve, reject) => {
      const url = new URL(`${running.server.apiEndpoint}/api/v1/files?bucket=default&key=${encodeURIComponent(key)}`);
      const req = request(url, {
        method: 'POST',
        headers: {
          'x-api-key': `${user.firstKey.accessKey}:${user.firstKey.secretKey}`,
          'content-type': 'application/octet-stream',
          'content-length': String(body.length),
        },
      });
      req.once('error', reject);
      req.once('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
      });
      const send = async () => {
        for (let offset = 0; offset < body.length; offset += 256 * 1024) {
          if (offset === pauseAt) await whilePaused();
          const chunk = body.subarray(offset, offset + 256 * 1024);
          if (!req.write(chunk)) await new Promise((drained) => req.once('drain', drained));
        }
        req.end();
      };
      send().catch((error: unknown) => req.destroy(error as Error));
    });
  }

  it('uploads through /api/v1/files succeed while the CLI creates keys in a loop; the CLI never touches tmp/ or owners/', async () => {
    // An entry in tmp/ that is no live server's by name (as an older build names its uploads):
    // a process that sweeps at start takes it; the CLI must not.
    const foreign = join(objectsDir, 'tmp', randomUUID());
    writeFileSync(foreign, 'a body an older build is still receiving');
    const ownersBefore = readdirSync(join(objectsDir, 'owners')).sort();

    // A key created and revoked again (an account holds at most 5 keys), as a separate process.
    const results: { code: number; stderr: string }[] = [];
    const cycleKey = async (name: string) => {
      const created = await runCli(['key', 'create', '--email', user.email, '--name', name], running.env);
      results.push(created);
      if (created.code === 0) results.push(await runCli(['key', 'revoke', '--access-key-id', created.json.accessKeyId], running.env));
    };
    // The CLI in a loop for the whole test, beside the uploads.
    let looping = true;
    const loop = (async () => {
      while (looping) await cycleKey('loop');
    })();

    const overlapping: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const body = randomBytes(4 * MiB);
        // Half-way through the body, one more CLI run starts and ends while the upload's temp file
        // is open: the overlap does not depend on timing.
        const uploaded = await uploadWithPause(`big-${round}.bin`, body, 2 * MiB, async () => {
          const created = await runCli(['key', 'create', '--email', user.email, '--name', `during-${round}`], running.env);
          results.push(created);
          overlapping.push(created.json?.accessKeyId);
          expect(existsSync(foreign)).toBe(true);
        });
        expect(uploaded.status, JSON.stringify(uploaded.json)).toBe(201);
        expect(uploaded.json.size).toBe(body.length);

        const downloaded = await fetch(`${running.server.apiEndpoint}/api/v1/files/${uploaded.json.id}`, {
          headers: { 'x-api-key': `${user.firstKey.accessKey}:${user.firstKey.secretKey}` },
        });
        expect(downloaded.status).toBe(200);
        expect(sha256(Buffer.from(await downloaded.arrayBuffer()))).toBe(sha256(body));
      }
    } finally {
      looping = false;
      await loop;
    }
    for (const accessKeyId of overlapping) results.push(await runCli(['key', 'revoke', '--access-key-id', accessKeyId], running.env));

    expect(results.length).toBeGreaterThan(0);
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(existsSync(foreign)).toBe(true);
    // No owner lock claimed (or left) by any CLI run: the CLI writes no data files.
    expect(readdirSync(join(objectsDir, 'owners')).sort()).toEqual(ownersBefore);
  }, 180_000);

  it('answers usage and reconcile from the index the server keeps, without a sweep of its own', async () => {
    const usage = await runCli(['usage', '--email', user.email], running.env);
    expect(usage.code, usage.stderr).toBe(0);
    expect(usage.json.objects).toBe(3);
    expect(usage.json.objectBytes).toBe(12 * MiB);
    const reconcile = await runCli(['usage', 'reconcile', '--email', user.email], running.env);
    expect(reconcile.code, reconcile.stderr).toBe(0);
    expect(reconcile.json.drift).toBe(false);
  });
});
