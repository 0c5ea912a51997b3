/**
 * Issue #9, item 8: after `kill -9` during uploads, data files renamed into data/ but never
 * committed stayed forever, outside any quota. A restarted server collects them at start, and
 * never takes a file another live server process over the same DATA_DIR is still writing.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, tempDir } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';
import { openRequest, sendRaw, signRaw, type Credentials } from '../support/raw-s3.ts';

const KiB = 1024;
/** Larger than the 32 KiB inline threshold: every object is a data file. */
const OBJECT_BYTES = 200 * KiB;

type Server = Awaited<ReturnType<typeof spawnServer>>;

async function s3(server: Server, account: Credentials, method: string, path: string, body?: Buffer) {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, body, signingDate: new Date() }));
}

describe('crash leftovers: kill -9 during uploads', () => {
  const dir = tempDir('cs-crash-');
  const objects = join(dir.path, 'objects');
  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop();
    dir.remove();
  });

  const dataFiles = () =>
    readdirSync(join(objects, 'data'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  /** Files the index references, read as the server would (objects' segments, parts). */
  const referenced = () => {
    const db = new Database(join(objects, 'index.sqlite'), { readonly: true });
    try {
      const files = new Set<string>();
      for (const { segments } of db.prepare('SELECT segments FROM objects').all() as { segments: string }[]) {
        for (const [file] of JSON.parse(segments) as [string, number][]) files.add(file);
      }
      for (const file of db.prepare('SELECT file FROM parts WHERE file IS NOT NULL').pluck().all() as string[]) files.add(file);
      return files;
    } finally {
      db.close();
    }
  };
  const unreferenced = () => {
    const known = referenced();
    return dataFiles().filter((file) => !known.has(file));
  };

  it("collects at restart what the killed server renamed but never committed, and keeps a live peer's upload", async () => {
    const env = { DATA_DIR: dir.path, FS_FSYNC: 'false', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_READ: 'off', RATE_LIMIT_LIST: 'off', BODY_IDLE_TIMEOUT_MS: '0', LOG_LEVEL: 'error' };
    const victim = await spawnServer(env);
    servers.push(victim);
    // A second server process over the same DATA_DIR, as behind a load balancer.
    const peer = await spawnServer(env);
    servers.push(peer);
    const account = await signupForS3(victim, `crash-${Date.now()}@example.com`);
    for (let i = 0; i < 4; i++) expect((await s3(victim, account, 'PUT', `/default/before-${i}`, randomBytes(OBJECT_BYTES))).status).toBe(200);

    // The peer is receiving an upload: its body is in tmp/, to be committed later.
    const held = randomBytes(300 * KiB);
    const signed = await signRaw(peer.endpoint, account, { method: 'PUT', path: '/default/held', body: held, signingDate: new Date() });
    const heldRequest = openRequest(peer.endpoint, {
      method: 'PUT',
      path: '/default/held',
      headers: { ...signed.headers, 'content-length': String(held.length) },
    });
    const heldResponse = new Promise<number>((resolve, reject) => {
      heldRequest.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      heldRequest.on('error', reject);
    });
    heldResponse.catch(() => {}); // observed below; a failing assertion before that must not leave it unhandled
    heldRequest.write(held.subarray(0, 100 * KiB));
    await expect.poll(() => readdirSync(join(objects, 'tmp')).length, { timeout: 10_000, interval: 20 }).toBe(1);

    // Hold the index's write lock, so the victim stops inside a commit: its file is renamed into
    // data/, its row not yet written. Then kill it there, uploads in flight.
    const lock = new Database(join(objects, 'index.sqlite'));
    lock.exec('BEGIN IMMEDIATE');
    const before = dataFiles().length;
    const uploads = Array.from({ length: 16 }, (_, i) => s3(victim, account, 'PUT', `/default/killed-${i}`, randomBytes(OBJECT_BYTES)).catch(() => undefined));
    try {
      await expect.poll(() => dataFiles().length, { timeout: 4_000, interval: 5 }).toBeGreaterThan(before);
      victim.child.kill('SIGKILL');
      await new Promise((resolve) => victim.child.once('exit', resolve));
      servers.splice(servers.indexOf(victim), 1);
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    await Promise.all(uploads);
    // The crash left data files outside the index (and outside any quota).
    expect(unreferenced().length).toBeGreaterThan(0);

    const restarted = await spawnServer(env);
    servers.push(restarted);
    expect(unreferenced()).toEqual([]);
    // Only the peer's upload in progress is left in tmp/, and it completes.
    expect(readdirSync(join(objects, 'tmp'))).toHaveLength(1);
    heldRequest.end(held.subarray(100 * KiB));
    expect(await heldResponse).toBe(200);
    const got = await s3(restarted, account, 'GET', '/default/held');
    expect(got.body.equals(held)).toBe(true);

    // Usage (the index's counters, what the quota uses) equals the listing and the bytes on disk.
    const listing = await s3(restarted, account, 'GET', '/default?list-type=2');
    const listed = [...listing.text.matchAll(/<Size>(\d+)<\/Size>/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    const db = new Database(join(objects, 'index.sqlite'), { readonly: true });
    const usage = db.prepare('SELECT SUM(bytes) FROM buckets').pluck().get() as number;
    db.close();
    const onDisk = readdirSync(join(objects, 'data'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
    expect(listed).toBe(usage);
    expect(onDisk).toBe(usage);
    expect(listing.text).toContain('<Key>held</Key>');
  });
});
