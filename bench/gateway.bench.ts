/**
 * Gateway vs a bare node:http server, measured in one run on the same machine.
 *
 *   npm run bench
 *   BENCH_SECONDS=10 BENCH_LARGE_MIB=512 npm run bench
 *   BENCH_ONLY=get BENCH_PROFILE=/tmp/prof npm run bench   # one scenario, with a CPU profile
 *
 * Both servers run as child processes; this process generates the load over keep-alive
 * connections. Signed requests are signed once and replayed, so the client does the same work
 * against both servers and the ratio measures the server side. The gateway runs with
 * FS_FSYNC=false like the bare server, which never fsyncs; a second PUT figure with fsync on shows
 * what durability costs. Rate limits are off here (bench/limits.bench.ts measures them).
 *
 * Large objects (issue #12: 256 MiB GET ≥ 0.9 of bare, PUT ≥ 0.6) alternate bare and gateway
 * transfers for BENCH_LARGE_ROUNDS (5) rounds and report medians, with each server's CPU per GiB.
 *
 * A second table puts WORKERS=1 and WORKERS=2 side by side for 4 KiB GET and PUT (BENCH_ONLY
 * `get`/`put`; `BENCH_WORKERS=0` skips it). WORKERS > 1 needs REDIS_URL, so both columns run
 * with the same local redis-server, and CPU counts the primary and its workers. The load
 * generator is this one process on the same machine, so on few cores it competes with the workers.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/cloudstorage.ts';
import { startRedisServer, type RedisTestServer } from '../test/support/redis-server.ts';
import {
  CONCURRENCY,
  LARGE_BYTES,
  measureRate,
  printTable,
  SECONDS,
  send,
  SMALL,
  startChild,
  startGateway,
  transfer,
  waitForHttp,
  median,
  LIMITS_OFF,
  type Target,
  type Transfer,
} from './lib.ts';

/** BENCH_ONLY=get,put,large limits the scenarios. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'put,get,large').split(','));
/** Alternating bare/gateway rounds per large transfer (medians reported). */
const LARGE_ROUNDS = Number(process.env.BENCH_LARGE_ROUNDS ?? 5);
/** WORKERS counts compared in the second table (BENCH_WORKERS=0: skip it). */
const WORKER_COUNTS = process.env.BENCH_WORKERS === '0' ? [] : [1, 2];

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  const children = [];
  let redis: RedisTestServer | undefined;
  try {
    const barePort = await freePort();
    const bareChild = startChild(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: join(work, 'bare') });
    children.push(bareChild);
    await waitForHttp(`http://127.0.0.1:${barePort}/`);
    const bare = (method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}): Target => ({ port: barePort, pid: bareChild.pid, method, path, headers });

    const gateway = await startGateway({ DATA_DIR: join(work, 'gateway'), FS_FSYNC: 'false', ...LIMITS_OFF });
    const durable = await startGateway({ DATA_DIR: join(work, 'gateway-fsync'), FS_FSYNC: 'true', ...LIMITS_OFF });
    children.push(gateway.child, durable.child);

    const rows: { name: string; bare: number; gateway: number; target: number }[] = [];
    const cpuRows: (string | number)[][] = [];
    const largeCpuRows: (string | number)[][] = [];
    const smallLength = { 'content-length': String(SMALL.length) };
    // The body's SHA-256 is signed, as the SDKs do over http, so the gateway verifies it too.
    const smallHash = createHash('sha256').update(SMALL).digest('hex');
    await send(new Agent(), await gateway.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL);

    if (ONLY.has('put')) {
      const barePut = await measureRate(bare('PUT', '/small', smallLength), SMALL);
      const gatewayPut = await measureRate(await gateway.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL);
      const durablePut = await measureRate(await durable.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL);
      rows.push({ name: `4 KiB PUT req/s (c=${CONCURRENCY})`, bare: barePut.requestsPerSecond, gateway: gatewayPut.requestsPerSecond, target: 0.25 });
      rows.push({ name: `4 KiB PUT req/s (c=${CONCURRENCY}, fsync on)`, bare: barePut.requestsPerSecond, gateway: durablePut.requestsPerSecond, target: 0 });
      cpuRows.push(['4 KiB PUT', barePut.cpuMicrosPerRequest, gatewayPut.cpuMicrosPerRequest, barePut.cpuMicrosPerRequest / gatewayPut.cpuMicrosPerRequest]);
    }
    if (ONLY.has('get')) {
      const bareGet = await measureRate(bare('GET', '/small'));
      const gatewayGet = await measureRate(await gateway.signed('GET', '/default/small.bin'));
      rows.push({ name: `4 KiB GET req/s (c=${CONCURRENCY})`, bare: bareGet.requestsPerSecond, gateway: gatewayGet.requestsPerSecond, target: 0.4 });
      cpuRows.push(['4 KiB GET', bareGet.cpuMicrosPerRequest, gatewayGet.cpuMicrosPerRequest, bareGet.cpuMicrosPerRequest / gatewayGet.cpuMicrosPerRequest]);
    }
    if (ONLY.has('large')) {
      // Bare and gateway rounds alternate and each side's median is reported: one transfer of
      // 256 MiB takes about a second, and this machine's speed drifts over a run.
      const largeLength = { 'content-length': String(LARGE_BYTES) };
      const mib = LARGE_BYTES >> 20;
      const sides = {
        put: [bare('PUT', '/large', largeLength), await gateway.signed('PUT', '/default/large.bin', largeLength, 'UNSIGNED-PAYLOAD')],
        get: [bare('GET', '/large'), await gateway.signed('GET', '/default/large.bin')],
      };
      for (const [name, [bareTarget, gatewayTarget]] of Object.entries(sides)) {
        const upload = name === 'put';
        const bareRuns = [];
        const gatewayRuns = [];
        for (let round = 0; round < LARGE_ROUNDS; round++) {
          // ABBA: the side that goes second (after the other's 256 MiB of writeback) alternates.
          if (round % 2 === 0) bareRuns.push(await transfer(bareTarget, upload, LARGE_BYTES));
          gatewayRuns.push(await transfer(gatewayTarget, upload, LARGE_BYTES));
          if (round % 2 === 1) bareRuns.push(await transfer(bareTarget, upload, LARGE_BYTES));
        }
        const rate = (runs: Transfer[]) => median(runs.map((run) => run.mibPerSecond));
        const cpu = (runs: Transfer[]) => median(runs.map((run) => run.cpuSecondsPerGiB));
        rows.push({ name: `${mib} MiB ${name.toUpperCase()} MiB/s (median of ${LARGE_ROUNDS})`, bare: rate(bareRuns), gateway: rate(gatewayRuns), target: upload ? 0.6 : 0.9 });
        largeCpuRows.push([`${mib} MiB ${name.toUpperCase()}`, cpu(bareRuns), cpu(gatewayRuns), cpu(bareRuns) / cpu(gatewayRuns)]);
      }
    }

    printTable(
      `CloudStorage gateway vs bare node:http (${SECONDS} s per small-object run, node ${process.version})`,
      ['measurement', 'bare node:http', 'gateway', 'ratio', 'target'],
      rows.map((row) => {
        const ratio = row.gateway / row.bare;
        const verdict = row.target === 0 ? 'info' : ratio >= row.target ? `>= ${row.target} ok` : `>= ${row.target} MISSED`;
        return [row.name, row.bare, row.gateway, ratio, verdict];
      }),
    );
    if (cpuRows.length > 0) {
      printTable(
        'Server CPU per request (µs, user+system of the server process; independent of the load generator)',
        ['request', 'bare node:http', 'gateway', 'ratio bare/gateway'],
        cpuRows,
      );
    }

    if (largeCpuRows.length > 0) {
      printTable("Server CPU per GiB moved (s, median of the rounds; includes the kernel's copies)", ['transfer', 'bare node:http', 'gateway', 'ratio bare/gateway'], largeCpuRows);
    }

    const smallScenarios = ['put', 'get'].filter((name) => ONLY.has(name));
    if (WORKER_COUNTS.length > 0 && smallScenarios.length > 0) {
      redis = await startRedisServer();
      const results = new Map<string, Map<number, { requestsPerSecond: number; cpuMicrosPerRequest: number }>>(smallScenarios.map((name) => [name, new Map()]));
      for (const workers of WORKER_COUNTS) {
        // One cluster at a time: the machine's cores go to the server being measured.
        const cluster = await startGateway({ DATA_DIR: join(work, `workers-${workers}`), FS_FSYNC: 'false', WORKERS: String(workers), REDIS_URL: redis.url, ...LIMITS_OFF });
        try {
          await send(new Agent(), await cluster.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL);
          if (ONLY.has('put')) results.get('put')!.set(workers, await measureRate(await cluster.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL));
          if (ONLY.has('get')) results.get('get')!.set(workers, await measureRate(await cluster.signed('GET', '/default/small.bin')));
        } finally {
          const exited = new Promise((resolve) => cluster.child.once('exit', resolve));
          cluster.child.kill('SIGTERM');
          await exited;
        }
      }
      const [one, two] = WORKER_COUNTS as [number, number];
      printTable(
        `WORKERS=${one} vs WORKERS=${two} (node:cluster; both with REDIS_URL, fsync off, c=${CONCURRENCY}, ${SECONDS} s per run; load generator on the same machine)`,
        ['4 KiB request', `req/s ${one} worker`, `req/s ${two} workers`, 'ratio', `CPU µs/req ${one}`, `CPU µs/req ${two}`],
        smallScenarios.map((name) => {
          const a = results.get(name)!.get(one)!;
          const b = results.get(name)!.get(two)!;
          return [name.toUpperCase(), a.requestsPerSecond, b.requestsPerSecond, b.requestsPerSecond / a.requestsPerSecond, a.cpuMicrosPerRequest, b.cpuMicrosPerRequest];
        }),
      );
    }
  } finally {
    await redis?.close();
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
