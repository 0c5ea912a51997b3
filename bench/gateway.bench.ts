/**
 * Gateway vs a bare node:http server, measured in one run on the same machine.
 *
 *   npm run bench
 *   BENCH_SECONDS=10 BENCH_LARGE_MIB=512 npm run bench
 *
 * Both servers run as child processes; this process generates the load over keep-alive
 * connections. Signed requests are signed once and replayed (SigV4 carries no nonce), so the
 * client does the same work against both servers and the ratio measures the server side.
 * The gateway runs with FS_FSYNC=false like the bare server, which never fsyncs; a second
 * PUT figure with fsync on shows what durability costs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { freePort, PROJECT_ROOT, runCli } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 256) * 1024 * 1024;
const CONCURRENCY = 16;
const SMALL = Buffer.alloc(4096, 7);
/** BENCH_ONLY=get,put,large limits the scenarios (handy with BENCH_PROFILE). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'put,get,large').split(','));

interface Target {
  /** Server process, for CPU accounting. */
  pid?: number;
  port: number;
  method: 'GET' | 'PUT';
  path: string;
  headers: Record<string, string>;
}

function startChild(args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

async function waitForHttp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`not ready: ${url}`);
}

function send(agent: Agent, target: Target, body?: Buffer | (() => Readable)): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: target.port, method: target.method, path: target.path, headers: target.headers, agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof body === 'function') body().pipe(req);
    else req.end(body);
  });
}

/** user+system CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Server CPU microseconds per request of the last `requestsPerSecond` run: independent of client load. */
let lastCpuMicrosPerRequest = 0;

async function requestsPerSecond(target: Target, body?: Buffer): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const run = async (deadline: number) => {
    let completed = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const { status } = await send(agent, target, body);
          if (status !== 200) throw new Error(`status ${status} for ${target.method} ${target.path}`);
          completed += 1;
        }
      }),
    );
    return completed;
  };
  await run(performance.now() + 1000); // warm-up: JIT, connection pool, page cache
  const cpuBefore = cpuSeconds(target.pid);
  const start = performance.now();
  const completed = await run(start + SECONDS * 1000);
  lastCpuMicrosPerRequest = ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / completed;
  agent.destroy();
  return completed / ((performance.now() - start) / 1000);
}

function largeBody(): Readable {
  const chunk = Buffer.alloc(1024 * 1024, 3);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= LARGE_BYTES) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** Best of three single-stream transfers, in MiB/s. */
async function throughput(target: Target, upload: boolean): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    const { status, bytes } = await send(agent, target, upload ? largeBody : undefined);
    if (status !== 200) throw new Error(`status ${status} for ${target.method} ${target.path}`);
    if (!upload && bytes !== LARGE_BYTES) throw new Error(`short download: ${bytes}`);
    best = Math.max(best, LARGE_BYTES / 1024 / 1024 / ((performance.now() - start) / 1000));
  }
  agent.destroy();
  return best;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  const children: ChildProcess[] = [];
  try {
    const barePort = await freePort();
    const bareChild = startChild(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: join(work, 'bare') });
    children.push(bareChild);
    await waitForHttp(`http://127.0.0.1:${barePort}/`);

    const gateways: Record<string, { port: number; pid?: number; credentials: { accessKeyId: string; secretAccessKey: string } }> = {};
    for (const fsync of ['false', 'true']) {
      const env = { DATA_DIR: join(work, `gateway-fsync-${fsync}`), HOST: '127.0.0.1', LOG_LEVEL: 'error', FS_FSYNC: fsync };
      const credentials = (await runCli(['user', 'create', '--email', 'bench@example.com', '--password', 'benchmark-password'], env)).json;
      const port = await freePort();
      // BENCH_PROFILE=dir writes a V8 CPU profile of the gateway (read it with bench/profile-summary.ts).
      const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
      // The gateway runs as `npm start` runs it: the dist/ bundle on plain node (`npm run bench` builds it).
      const child = spawn(process.execPath, [...profile, 'dist/main.mjs'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...env, S3_PORT: String(port), API_PORT: String(await freePort()) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      await waitForHttp(`http://127.0.0.1:${port}/_health`);
      gateways[fsync] = { port, pid: child.pid, credentials };
    }

    const endpointOf = (port: number) => `http://127.0.0.1:${port}`;
    const signed = async (fsync: string, method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}, payloadHash?: string): Promise<Target> => {
      const { port, pid, credentials } = gateways[fsync];
      const req = await signRaw(endpointOf(port), credentials, { method, path, headers, payloadHash, signingDate: new Date() });
      return { port, pid, method, path, headers: req.headers! };
    };
    const bare = (method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}): Target => ({ port: barePort, pid: bareChild.pid, method, path, headers });

    const rows: { name: string; bare: number; gateway: number; unit: string; target: number }[] = [];
    const cpuRows: { name: string; bare: number; gateway: number }[] = [];
    const measureRate = async (bareTarget: Target, gatewayTarget: Target, body?: Buffer) => {
      const bareRate = await requestsPerSecond(bareTarget, body);
      const bareCpu = lastCpuMicrosPerRequest;
      const gatewayRate = await requestsPerSecond(gatewayTarget, body);
      return { bareRate, gatewayRate, bareCpu, gatewayCpu: lastCpuMicrosPerRequest };
    };
    const smallLength = { 'content-length': String(SMALL.length) };

    // 4 KiB PUT: the body's SHA-256 is signed (what the SDKs send over http), so it is verified too.
    const { createHash } = await import('node:crypto');
    const smallHash = createHash('sha256').update(SMALL).digest('hex');
    const smallPutTarget = await signed('false', 'PUT', '/default/small.bin', smallLength, smallHash);
    await send(new Agent(), smallPutTarget, SMALL); // the object the GET runs read
    if (ONLY.has('put')) {
    const put = await measureRate(bare('PUT', '/small', smallLength), await signed('false', 'PUT', '/default/small.bin', smallLength, smallHash), SMALL);
    const barePut = put.bareRate;
    rows.push({ name: '4 KiB PUT req/s (c=16)', bare: put.bareRate, gateway: put.gatewayRate, unit: 'req/s', target: 0.25 });
    cpuRows.push({ name: '4 KiB PUT', bare: put.bareCpu, gateway: put.gatewayCpu });
    const gatewayPutFsync = await requestsPerSecond(await signed('true', 'PUT', '/default/small.bin', smallLength, smallHash), SMALL);
    rows.push({ name: '4 KiB PUT req/s (c=16, fsync on)', bare: barePut, gateway: gatewayPutFsync, unit: 'req/s', target: 0 });
    }
    if (ONLY.has('get')) {
    const get = await measureRate(bare('GET', '/small'), await signed('false', 'GET', '/default/small.bin'));
    rows.push({ name: '4 KiB GET req/s (c=16)', bare: get.bareRate, gateway: get.gatewayRate, unit: 'req/s', target: 0.4 });
    cpuRows.push({ name: '4 KiB GET', bare: get.bareCpu, gateway: get.gatewayCpu });
    }
    if (ONLY.has('large')) {
    const largeLength = { 'content-length': String(LARGE_BYTES) };
    const bareLargePut = await throughput(bare('PUT', '/large', largeLength), true);
    const gatewayLargePut = await throughput(await signed('false', 'PUT', '/default/large.bin', largeLength, 'UNSIGNED-PAYLOAD'), true);
    rows.push({ name: `${LARGE_BYTES >> 20} MiB PUT MiB/s`, bare: bareLargePut, gateway: gatewayLargePut, unit: 'MiB/s', target: 0.5 });
    const bareLargeGet = await throughput(bare('GET', '/large'), false);
    const gatewayLargeGet = await throughput(await signed('false', 'GET', '/default/large.bin'), false);
    rows.push({ name: `${LARGE_BYTES >> 20} MiB GET MiB/s`, bare: bareLargeGet, gateway: gatewayLargeGet, unit: 'MiB/s', target: 0.5 });
    }

    console.log(`\nCloudStorage gateway vs bare node:http (${SECONDS} s per small-object run, concurrency ${CONCURRENCY}, node ${process.version})\n`);
    console.log('| measurement | bare node:http | gateway | ratio | target |');
    console.log('|---|---:|---:|---:|---:|');
    for (const row of rows) {
      const ratio = row.gateway / row.bare;
      const verdict = row.target === 0 ? 'info' : ratio >= row.target ? `>= ${row.target} ok` : `>= ${row.target} MISSED`;
      console.log(`| ${row.name} | ${row.bare.toFixed(0)} | ${row.gateway.toFixed(0)} | ${ratio.toFixed(2)} | ${verdict} |`);
    }
    console.log('\nServer CPU per request (µs, user+system of the server process; independent of the load generator):\n');
    console.log('| request | bare node:http | gateway | ratio bare/gateway |');
    console.log('|---|---:|---:|---:|');
    for (const row of cpuRows) console.log(`| ${row.name} | ${row.bare.toFixed(0)} | ${row.gateway.toFixed(0)} | ${(row.bare / row.gateway).toFixed(2)} |`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
