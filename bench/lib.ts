/** Load generation and process plumbing shared by the benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';
import { PROJECT_ROOT, runCli } from '../test/support/cloudstorage.ts';
import { spawnServer } from '../test/support/spawned-server.ts';
import { signRaw } from '../test/support/raw-s3.ts';
import { RECOMMENDED_GLIBC_TUNABLES } from '../src/lifecycle/allocator.ts';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 256) * 1024 * 1024;
export const CONCURRENCY = 16;
export const SMALL = Buffer.alloc(4096, 7);

export interface Target {
  /** Server process, for CPU accounting. */
  pid?: number;
  port: number;
  method: 'GET' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
}

export function startChild(args: string[], env: Record<string, string>): ChildProcess {
  // The baseline runs with the allocator settings the gateway ships with (src/lifecycle/allocator.ts), so neither side gets them alone.
  return spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: PROJECT_ROOT,
    env: { GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES, ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function waitForHttp(url: string): Promise<void> {
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

export interface BenchGateway {
  port: number;
  child: ChildProcess;
  /** A signed request; replayable within the 15-minute clock-skew window (SigV4 has no nonce). */
  signed(method: 'GET' | 'PUT' | 'DELETE', path: string, headers?: Record<string, string>, payloadHash?: string): Promise<Target>;
}

/**
 * A gateway as `npm start` runs it (the dist/ bundle on plain node; `npm run bench` builds it),
 * with a fresh account. BENCH_PROFILE=dir writes a V8 CPU profile (bench/profile-summary.ts reads it).
 */
export async function startGateway(env: Record<string, string>, cli?: string): Promise<BenchGateway> {
  // LOG_LEVEL=info only for the start line that reports the bound ports; no per-request lines.
  const fullEnv = { HOST: '127.0.0.1', LOG_LEVEL: 'info', ACCESS_LOG: process.env.BENCH_ACCESS_LOG ?? 'false', ...env };
  const credentials = (await runCli(['user', 'create', '--email', 'bench@example.com', '--password', 'benchmark-password'], { ...fullEnv, LOG_LEVEL: 'error' }, cli)).json;
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // BENCH_NODE_ARGS='--single-threaded-gc …': node options for the gateway (an experiment's flags).
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // BENCH_SERVER=dist/other.mjs runs another bundle (e.g. one built before a change) for comparison.
  // The bench reads no log line after the start: parsing every access line would take a core from the load generator.
  const server = await spawnServer(fullEnv, { entry: process.env.BENCH_SERVER, nodeArgs: [...profile, ...extra], logLines: 'startup' });
  const { child, s3Port: port, endpoint } = server;
  return {
    port,
    child,
    async signed(method, path, headers = {}, payloadHash) {
      const req = await signRaw(endpoint, credentials, { method, path, headers, payloadHash, signingDate: new Date() });
      return { port, pid: child.pid, method, path, headers: req.headers! };
    },
  };
}

export function send(agent: Agent, target: Target, body?: Buffer | (() => Readable)): Promise<{ status: number; bytes: number }> {
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

/** user+system CPU seconds a process and its live children (cluster workers) have used so far (Linux /proc). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no /proc children list on this kernel: the process alone
  }
  return (Number(fields[11]) + Number(fields[12])) / 100 + children.reduce((sum, child) => sum + cpuSeconds(child), 0);
}

/**
 * The whole machine's busy CPU time so far from /proc/stat, in seconds (user, nice, system, irq,
 * softirq: every process and the kernel). A target's own CPU says what it costs; this says whether
 * the cores were all in use, i.e. whether a baseline was bound by the machine rather than by the
 * server measured.
 */
export function machineCpuSeconds(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq!) / 100;
}

export interface RateMeasurement {
  requestsPerSecond: number;
  /** Server CPU (user+system) per request: independent of how busy the load generator is. */
  cpuMicrosPerRequest: number;
}

/** Requests/s at CONCURRENCY over keep-alive connections, after a one-second warm-up. */
export async function measureRate(target: Target, body?: Buffer, concurrency = CONCURRENCY): Promise<RateMeasurement> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const run = async (deadline: number) => {
    let completed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
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
  const cpuMicrosPerRequest = ((cpuSeconds(target.pid) - cpuBefore) * 1e6) / completed;
  agent.destroy();
  return { requestsPerSecond: completed / ((performance.now() - start) / 1000), cpuMicrosPerRequest };
}

export function largeBody(bytes = LARGE_BYTES): Readable {
  const chunk = Buffer.alloc(1024 * 1024, 3);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

export interface Transfer {
  /** Aggregate MiB/s. */
  mibPerSecond: number;
  /** CPU (user+system) of the target process and its children per GiB moved. */
  cpuSecondsPerGiB: number;
  /** CPU of the whole machine (every process: client, servers, kernel) per GiB moved. */
  machineCpuSecondsPerGiB: number;
  /** Cores the whole machine kept busy during the transfer (of os.availableParallelism()). */
  busyCores: number;
}

/**
 * One round of `concurrency` parallel transfers of `bytes` each, with the server's CPU per GiB.
 * Callers alternate sides round by round and take medians (one round each: a "best of" inside
 * would hide the drift that alternating evens out).
 */
export async function transfer(target: Target, upload: boolean, bytes = LARGE_BYTES, concurrency = 1): Promise<Transfer> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const cpuBefore = cpuSeconds(target.pid);
  const machineBefore = machineCpuSeconds();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const { status, bytes: received } = await send(agent, target, upload ? () => largeBody(bytes) : undefined);
      if (status !== 200) throw new Error(`status ${status} for ${target.method} ${target.path}`);
      if (!upload && received !== bytes) throw new Error(`short download: ${received}`);
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const machine = machineCpuSeconds() - machineBefore;
  const mibPerSecond = (concurrency * bytes) / 1024 / 1024 / seconds;
  const cpuSecondsPerGiB = target.pid ? ((cpuSeconds(target.pid) - cpuBefore) * 2 ** 30) / (concurrency * bytes) : 0;
  agent.destroy();
  return { mibPerSecond, cpuSecondsPerGiB, machineCpuSecondsPerGiB: (machine * 2 ** 30) / (concurrency * bytes), busyCores: machine / seconds };
}

/** Rate limits off: the benchmarks measure the request path, not the counting (bench/limits.bench.ts does). */
export const LIMITS_OFF = { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off' };

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  console.log(`\n${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const row of rows) console.log(`| ${row.map((cell) => (typeof cell === 'number' ? cell.toFixed(cell < 10 ? 2 : 0) : cell)).join(' | ')} |`);
}
