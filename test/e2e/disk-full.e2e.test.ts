/**
 * Issue #9, item 9: on a 100 % full disk DELETE failed too ("database or disk is full"), so space
 * could not be freed through the API, uploads meeting ENOSPC answered 500, and /_health/status
 * said ok. Here DATA_DIR is a real 8 MiB tmpfs, filled through the S3 API.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw } from '../support/raw-s3.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const SKIP_NOTE = 'needs `mount -t tmpfs` (root on Linux), which is not permitted here; CI runs it as root';

/** An 8 MiB tmpfs, or undefined where mounting is not permitted. */
function mountTmpfs(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'cs-disk-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

describe('disk full (fs backend on an 8 MiB tmpfs)', () => {
  let mountPoint: string | undefined;
  let server: TestServer;
  let account: TestAccount;
  let objects: string;

  beforeAll(async () => {
    if (process.env.CS_TEST_BACKEND === 's3') return; // the proxy backend's store has its own space
    mountPoint = mountTmpfs();
    if (!mountPoint) {
      console.warn(`disk-full e2e skipped: ${SKIP_NOTE}`);
      return;
    }
    server = await startTestServer({
      DATA_DIR: join(mountPoint, 'data'),
      FS_RESERVE_BYTES: String(512 * KiB),
      FS_MIN_FREE_BYTES: String(1 * MiB),
      DEFAULT_QUOTA_BYTES: String(1024 * MiB),
    });
    account = await server.createAccount();
    objects = join(mountPoint, 'data', 'objects');
  });

  afterAll(async () => {
    await server?.close();
    if (mountPoint) {
      execFileSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  const s3 = async (method: string, path: string, body?: Buffer) =>
    sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, body, signingDate: new Date() }));
  const free = () => statfsSync(mountPoint!).bavail * statfsSync(mountPoint!).bsize;
  const health = async () => {
    const response = await sendRaw(server.endpoint, { method: 'GET', path: '/_health/status' });
    return { status: response.status, body: JSON.parse(response.text) };
  };
  /** What else fills a disk (logs, other files): takes every remaining byte. */
  const fillTheRest = () => {
    const fd = openSync(join(mountPoint!, `filler-${Date.now()}`), 'w');
    const chunk = Buffer.alloc(64 * KiB, 1);
    try {
      for (const size of [64 * KiB, 4 * KiB, 512, 16, 1]) {
        try {
          for (;;) writeSync(fd, chunk, 0, size);
        } catch {
          // ENOSPC at this size: go on with smaller writes.
        }
      }
    } finally {
      closeSync(fd);
    }
    expect(free()).toBe(0);
  };
  const removeFillers = () => {
    for (const name of readdirSync(mountPoint!)) if (name.startsWith('filler-')) rmSync(join(mountPoint!, name));
  };
  /** Nothing partial is kept: tmp/ is empty and every data file belongs to an object. */
  const expectNoLeftovers = () => {
    expect(readdirSync(join(objects, 'tmp'))).toEqual([]);
    const db = new Database(join(objects, 'index.sqlite'), { readonly: true });
    const referenced = new Set<string>();
    for (const segments of db.prepare('SELECT segments FROM objects').pluck().all() as string[]) {
      for (const [file] of JSON.parse(segments) as [string, number][]) referenced.add(file);
    }
    db.close();
    const files = readdirSync(join(objects, 'data'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    expect(files.map((entry) => entry.name).filter((name) => !referenced.has(name))).toEqual([]);
  };

  const bodies = new Map<string, Buffer>();

  it('answers an upload that meets a full disk with 507 InsufficientStorage and keeps nothing of it', async (ctx) => {
    if (!mountPoint) return ctx.skip(SKIP_NOTE);
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok', storage: { status: 'ok' } } });
    let refused: Awaited<ReturnType<typeof s3>> | undefined;
    for (let i = 0; i < 64 && !refused; i++) {
      const body = randomBytes(256 * KiB);
      const response = await s3('PUT', `/default/obj-${i}`, body);
      if (response.status === 200) bodies.set(`obj-${i}`, body);
      else refused = response;
    }
    expect([refused?.status, refused?.code]).toEqual([507, 'InsufficientStorage']);
    expect(bodies.size).toBeGreaterThan(10);
    expect((await s3('HEAD', `/default/obj-${bodies.size}`)).status).toBe(404);
    // An overwrite that does not fit keeps the version it would have replaced.
    const overwrite = await s3('PUT', '/default/obj-0', randomBytes(1 * MiB));
    expect([overwrite.status, overwrite.code]).toEqual([507, 'InsufficientStorage']);
    expect((await s3('GET', '/default/obj-0')).body.equals(bodies.get('obj-0')!)).toBe(true);
    // The REST door answers the same write with its JSON 507. (Its backend's failure used to destroy the
    // request, which then read as a client that left: 400 files.invalid_upload.)
    const rest = await sendRaw(server.apiEndpoint, {
      method: 'POST',
      path: '/api/v1/files?bucket=default&key=obj-0',
      headers: { 'x-api-key': `${account.accessKeyId}:${account.secretAccessKey}`, 'content-type': 'application/octet-stream' },
      body: randomBytes(1 * MiB),
    });
    expect([rest.status, JSON.parse(rest.text).error]).toEqual([507, 'storage.insufficient']);
    expect((await s3('GET', '/default/obj-0')).body.equals(bodies.get('obj-0')!)).toBe(true);
    expectNoLeftovers();
  });

  it('keeps DELETE working on a 100 % full disk, and reports the storage degraded', async (ctx) => {
    if (!mountPoint) return ctx.skip(SKIP_NOTE);
    fillTheRest();
    const status = await health();
    expect(status.status).toBe(503);
    expect(status.body).toMatchObject({ status: 'degraded', database: 'ok', storage: { backend: 'fs', status: 'degraded', freeBytes: 0 } });
    expect((await fetch(`${server.apiEndpoint}/health/status`)).status).toBe(503);

    const deleted = await s3('DELETE', '/default/obj-1');
    expect([deleted.status, deleted.code]).toEqual([204, undefined]);
    expect(free()).toBeGreaterThan(0);
    expect((await s3('GET', '/default/obj-1')).status).toBe(404);
    bodies.delete('obj-1');

    // Full again: the reserve was refilled from what the delete freed, so the next delete works too.
    fillTheRest();
    expect((await s3('DELETE', '/default/obj-2')).status).toBe(204);
    bodies.delete('obj-2');
    fillTheRest();
    // Small objects live in the index: there the full disk shows as SQLITE_FULL, also a clean 507.
    let refused: Awaited<ReturnType<typeof s3>> | undefined;
    for (let i = 0; i < 500 && !refused; i++) {
      const response = await s3('PUT', `/default/small-${i}`, randomBytes(2 * KiB));
      if (response.status !== 200) refused = response;
    }
    expect([refused?.status, refused?.code]).toEqual([507, 'InsufficientStorage']);
    expect((await s3('DELETE', '/default/obj-3')).status).toBe(204);
    bodies.delete('obj-3');
    expectNoLeftovers();
    for (const [key, body] of bodies) expect((await s3('GET', `/default/${key}`)).body.equals(body)).toBe(true);
  });

  it('reports the storage ok again once enough space is free', async (ctx) => {
    if (!mountPoint) return ctx.skip(SKIP_NOTE);
    removeFillers();
    for (const key of [...bodies.keys()]) {
      if ((await health()).status === 200) break;
      expect((await s3('DELETE', `/default/${key}`)).status).toBe(204);
      bodies.delete(key);
    }
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok', storage: { status: 'ok' } } });
    expect(free()).toBeGreaterThanOrEqual(1 * MiB);
  });
});
