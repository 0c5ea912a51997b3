/**
 * Issue #11, WORKERS=N: N server processes (node:cluster) on the same two ports. Limits and quotas
 * stay exact because WORKERS > 1 requires REDIS_URL (the in-process stores cannot be shared);
 * start-up runs once in the primary; events are delivered once; a dead worker is replaced; SIGTERM
 * to the primary drains every worker.
 *
 * One cluster serves every test (starting one costs seconds); each test uses its own account.
 * Requests go out on fresh connections (`Connection: close`), which the primary deals round-robin,
 * and the access lines (`pid`, `worker`) show which worker answered.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RECOMMENDED_GLIBC_TUNABLES } from '../../src/lifecycle/allocator.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, spawnServer, tempDir, type SpawnedServer } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';
import { parsePrometheus } from '../support/prometheus.ts';
import { sendRaw, signRaw, type Credentials, type RawResponse } from '../support/raw-s3.ts';
import { startRedisServer, type RedisTestServer } from '../support/redis-server.ts';
import type { LogLine } from '../support/spawned-server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A signed request on a connection of its own, so consecutive requests are dealt to different workers. */
async function hit(server: SpawnedServer, credentials: Credentials, method: string, path: string, body?: Buffer | string): Promise<RawResponse> {
  const signed = await signRaw(server.endpoint, credentials, { method, path, body, signingDate: new Date() });
  return sendRaw(server.endpoint, { ...signed, headers: { ...signed.headers, connection: 'close' } });
}

/** The access lines of `operation` requests on `path`s starting with `prefix`, once there are `count` (lines are written asynchronously). */
async function accessLines(server: SpawnedServer, prefix: string, count: number): Promise<LogLine[]> {
  const matching = () => server.lines.filter((line) => line.message === 'access' && typeof line.path === 'string' && line.path.startsWith(prefix));
  for (let attempt = 0; attempt < 100 && matching().length < count; attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
  return matching();
}

describe('WORKERS=2 refuses to start without REDIS_URL', () => {
  it('exits 78 and says that limits would not be exact', async () => {
    const dir = tempDir('cs-workers-noredis-');
    try {
      const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/main.mjs')], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, HOST: '127.0.0.1', S3_PORT: '0', API_PORT: '0', DATA_DIR: dir.path, WORKERS: '2', REDIS_URL: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (part: string) => (stderr += part));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code).toBe(78);
      expect(stderr).toContain('WORKERS=2 needs REDIS_URL');
    } finally {
      dir.remove();
    }
  });
});

describe('WORKERS=2 with a shared Redis', () => {
  const dir = tempDir('cs-workers-');
  let redis: RedisTestServer;
  let server: SpawnedServer;

  beforeAll(async () => {
    redis = await startRedisServer();
    server = await spawnServer({
      DATA_DIR: dir.path,
      WORKERS: '2',
      REDIS_URL: redis.url,
      // Generous: a timed-out Redis call counts as an outage (limits fail open), which would blur the counts.
      REDIS_TIMEOUT_MS: '2000',
      FS_FSYNC: 'false',
      RATE_LIMIT_WRITE: '10/1m',
      RATE_LIMIT_DASHBOARD: 'off',
      DEFAULT_QUOTA_BYTES: String(1 * MiB),
      METRICS_TOKEN: 'workers-metrics-token-0123',
      // As npm start and the image set it (the runner's own environment must not decide).
      GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES,
    });
  }, 60_000);
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    await redis?.close();
    dir.remove();
  });

  it('both workers listen on the ports the primary reports (port 0 is bound once and shared)', async () => {
    const primary = server.lines.find((line) => line.message === 'CloudStorage started' && line.worker === undefined)!;
    expect(primary).toMatchObject({ workers: 2, pid: server.child.pid });
    const started = () => server.lines.filter((line) => line.message === 'CloudStorage started' && line.worker !== undefined);
    // Each worker writes its own start line through its own (batched) stderr: on a loaded machine
    // it may arrive after the primary's, which is what spawnServer waited for.
    for (let wait = 0; started().length < 2 && wait < 100; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
    const workers = started();
    expect(workers.map((line) => line.worker).sort()).toEqual([1, 2]);
    for (const line of workers) {
      expect([line.s3Port, line.apiPort]).toEqual([server.s3Port, server.apiPort]);
      expect(line.pid).not.toBe(server.child.pid);
      // Workers run with the primary's allocator settings (src/lifecycle/allocator.ts): glibc reads them at exec.
      expect(line.glibcTunables).toBe(RECOMMENDED_GLIBC_TUNABLES);
      // Two workers on two cores or fewer: single-threaded GC (src/cluster/primary.ts workerExecArgv).
      const argv = readFileSync(`/proc/${line.pid}/cmdline`, 'utf8').split('\0');
      expect(argv.includes('--single-threaded-gc')).toBe(availableParallelism() <= 2);
    }
  });

  it('keeps one rate limit across both workers: exactly 10 of 16 writes pass a 10/min limit', async () => {
    const account = await signupForS3(server);
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) statuses.push((await hit(server, account, 'PUT', `/default/rate-${i}`, 'r')).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(6);
    // …and both workers answered some of them.
    const lines = await accessLines(server, '/default/rate-', 16);
    expect(lines).toHaveLength(16);
    expect(new Set(lines.map((line) => line.worker))).toEqual(new Set([1, 2]));
    expect(new Set(lines.map((line) => line.pid)).size).toBe(2);
  });

  it('fills one quota exactly with concurrent uploads spread over both workers', async () => {
    const account = await signupForS3(server);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => hit(server, account, 'PUT', `/default/quota-${i}`, randomBytes(300 * KiB))));
    expect(results.map((result) => `${result.status} ${result.code ?? ''}`.trim()).sort()).toEqual([...Array(3).fill('200'), ...Array(5).fill('403 QuotaExceeded')]);
    const lines = await accessLines(server, '/default/quota-', 8);
    expect(new Set(lines.map((line) => line.worker))).toEqual(new Set([1, 2]));
  });

  it('records and delivers each object event once, whichever worker took the write', async () => {
    const account = await signupForS3(server);
    const keys = Array.from({ length: 6 }, (_, i) => `events-${i}`);
    for (const key of keys) expect((await hit(server, account, 'PUT', `/default/${key}`, key)).status).toBe(200);
    expect(new Set((await accessLines(server, '/default/events-', 6)).map((line) => line.worker))).toEqual(new Set([1, 2]));

    // The activity log (the event log's subscriber) shows each write once; poll (bounded) for delivery.
    let items: { key: string; type: string }[] = [];
    for (let attempt = 0; attempt < 100 && items.length < keys.length; attempt++) {
      const response = await fetch(`${server.apiEndpoint}/api/activity?prefix=events-`, { headers: { cookie: account.cookie } });
      items = ((await response.json()) as { items: { key: string; type: string }[] }).items;
      if (items.length < keys.length) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(items.map((item) => `${item.type} ${item.key}`).sort()).toEqual(keys.map((key) => `object.created ${key}`));
    const db = new Database(join(dir.path, 'cloudstorage.sqlite'), { readonly: true });
    try {
      const logged = db.prepare("SELECT key, count(*) AS n FROM events WHERE key LIKE 'events-%' GROUP BY key ORDER BY key").all();
      expect(logged).toEqual(keys.map((key) => ({ key, n: 1 })));
    } finally {
      db.close();
    }
  });

  it("answers with every worker's requests summed, whichever worker the scrape reaches; access lines go to stderr with each worker's pid", async () => {
    const scrape = async () => {
      const response = await fetch(`${server.apiEndpoint}/metrics`, { headers: { authorization: 'Bearer workers-metrics-token-0123', connection: 'close' } });
      expect(response.status).toBe(200);
      return parsePrometheus(await response.text());
    };
    // The suite's earlier tests wrote too: count from here.
    const before = await scrape();
    const putsBefore = before.get('cloudstorage_s3_requests_total{operation="PutObject",status_class="2xx"}') ?? 0;
    const bytesBefore = before.get('cloudstorage_s3_received_bytes_total{operation="PutObject",status_class="2xx"}') ?? 0;
    const account = await signupForS3(server);
    // A connection each, so the requests are dealt to both workers.
    for (let i = 0; i < 8; i++) {
      const signed = await signRaw(server.endpoint, account, { method: 'PUT', path: `/default/w-${i}`, body: 'x'.repeat(100) });
      expect((await sendRaw(server.endpoint, { ...signed, headers: { ...signed.headers, connection: 'close' } })).status).toBe(200);
    }
    await expect.poll(() => server.lines.filter((line) => line.message === 'access' && String(line.path).startsWith('/default/w-')).length).toBe(8);
    const lines = server.lines.filter((line) => line.message === 'access' && String(line.path).startsWith('/default/w-'));
    expect(new Set(lines.map((line) => line.pid)).size).toBe(2);
    expect(lines.every((line) => line.bytesIn === 100 && line.operation === 'PutObject' && line.keyId === account.accessKeyId)).toBe(true);
    for (let round = 0; round < 2; round++) {
      const m = await scrape();
      expect(m.get('cloudstorage_s3_requests_total{operation="PutObject",status_class="2xx"}')).toBe(putsBefore + 8);
      expect(m.get('cloudstorage_s3_received_bytes_total{operation="PutObject",status_class="2xx"}')).toBe(bytesBefore + 800);
      // A shared-state gauge is the same figure in every worker: merged by maximum, not summed.
      expect(m.get('cloudstorage_redis_degraded')).toBe(0);
    }
  });

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    const victim = server.lines.find((line) => line.message === 'CloudStorage started' && line.worker === 1)!;
    process.kill(victim.pid!, 'SIGKILL');
    for (let attempt = 0; attempt < 300 && !server.lines.some((line) => line.message === 'worker restarted' && line.worker === 1); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(server.lines.find((line) => line.message === 'worker exited; restarting')).toMatchObject({ worker: 1, workerPid: victim.pid, signal: 'SIGKILL' });
    const restarted = server.lines.find((line) => line.message === 'worker restarted' && line.worker === 1);
    expect(restarted?.workerPid).not.toBe(victim.pid);
    const health = await Promise.all(Array.from({ length: 4 }, () => fetch(`${server.apiEndpoint}/health/status`, { headers: { connection: 'close' } })));
    expect(health.map((response) => response.status)).toEqual([200, 200, 200, 200]);
  }, 30_000);

  it('drains every worker on SIGTERM to the primary, which exits 0', async () => {
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    const draining = server.lines.filter((line) => line.message === 'shutting down' && line.worker !== undefined);
    expect(draining.map((line) => line.worker).sort()).toEqual([1, 2]);
  }, 60_000);
});
