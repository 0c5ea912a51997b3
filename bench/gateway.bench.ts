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
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/cloudstorage.ts';
import { CONCURRENCY, LARGE_BYTES, measureRate, printTable, SECONDS, send, SMALL, startChild, startGateway, throughput, waitForHttp, type Target } from './lib.ts';

/** BENCH_ONLY=get,put,large limits the scenarios. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'put,get,large').split(','));
const NO_LIMITS = { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off' };

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  const children = [];
  try {
    const barePort = await freePort();
    const bareChild = startChild(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: join(work, 'bare') });
    children.push(bareChild);
    await waitForHttp(`http://127.0.0.1:${barePort}/`);
    const bare = (method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}): Target => ({ port: barePort, pid: bareChild.pid, method, path, headers });

    const gateway = await startGateway({ DATA_DIR: join(work, 'gateway'), FS_FSYNC: 'false', ...NO_LIMITS });
    const durable = await startGateway({ DATA_DIR: join(work, 'gateway-fsync'), FS_FSYNC: 'true', ...NO_LIMITS });
    children.push(gateway.child, durable.child);

    const rows: { name: string; bare: number; gateway: number; target: number }[] = [];
    const cpuRows: (string | number)[][] = [];
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
      const largeLength = { 'content-length': String(LARGE_BYTES) };
      const mib = LARGE_BYTES >> 20;
      rows.push({
        name: `${mib} MiB PUT MiB/s`,
        bare: await throughput(bare('PUT', '/large', largeLength), true),
        gateway: await throughput(await gateway.signed('PUT', '/default/large.bin', largeLength, 'UNSIGNED-PAYLOAD'), true),
        target: 0.5,
      });
      rows.push({
        name: `${mib} MiB GET MiB/s`,
        bare: await throughput(bare('GET', '/large'), false),
        gateway: await throughput(await gateway.signed('GET', '/default/large.bin'), false),
        target: 0.5,
      });
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
      printTable('Server CPU per request (µs, user+system of the server process; independent of the load generator)', ['request', 'bare node:http', 'gateway', 'ratio bare/gateway'], cpuRows);
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
