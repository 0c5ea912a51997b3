/**
 * Gateway vs bare node:http, measured in one run on the same machine.
 *
 *   npm run bench                 # defaults: 5 s per small-object run, 256 MiB large objects
 *   BENCH_SECONDS=10 BENCH_LARGE_MIB=512 npm run bench
 *
 * Both servers run as child processes; this process is the load generator. Signed requests are
 * signed once and replayed (SigV4 has no nonce), so the client does the same work against both
 * servers and the ratio measures the server side only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, PROJECT_ROOT, runCli } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LARGE_BYTES = Number(process.env.BENCH_LARGE_MIB ?? 256) * 1024 * 1024;
const CONCURRENCY = 16;

interface Target {
  port: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

async function startProcess(args: string[], env: Record<string, string>, ready: (output: string) => boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (ready(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  return child;
}

async function waitForHttp(url: string) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready: ${url}`);
}

function once(agent: Agent, target: Target, bodyStream?: () => NodeJS.ReadableStream): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: target.port, method: target.method, path: target.path, headers: target.headers, agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (bodyStream) bodyStream().pipe(req);
    else req.end(target.body);
  });
}

async function requestsPerSecond(target: Target): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  for (let i = 0; i < 200; i++) await once(agent, target); // warm-up
  const deadline = performance.now() + SECONDS * 1000;
  let completed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const { status } = await once(agent, target);
        if (status !== 200) throw new Error(`status ${status} for ${target.method} ${target.path}`);
        completed += 1;
      }
    }),
  );
  agent.destroy();
  return completed / ((performance.now() - start) / 1000);
}

function largeBody(): NodeJS.ReadableStream {
  const chunk = Buffer.alloc(1024 * 1024, 3);
  let sent = 0;
  const { Readable } = require('node:stream') as typeof import('node:stream');
  return new Readable({
    read() {
      if (sent >= LARGE_BYTES) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

async function throughput(target: Target, upload: boolean, rounds = 3): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let best = 0;
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const { status, bytes } = await once(agent, target, upload ? largeBody : undefined);
    if (status !== 200) throw new Error(`status ${status}`);
    const moved = upload ? LARGE_BYTES : bytes;
    best = Math.max(best, moved / 1024 / 1024 / ((performance.now() - start) / 1000));
  }
  agent.destroy();
  return best;
}

const { createRequire } = await import('node:module');
(globalThis as { require?: NodeRequire }).require = createRequire(import.meta.url);

const dataDir = mkdtempSync(join(tmpdir(), 'cs-bench-'));
const bareDir = mkdtempSync(join(tmpdir(), 'cs-bare-'));
const children: ChildProcess[] = [];
try {
  const barePort = await freePort();
  children.push(await startProcess(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: bareDir }, (out) => out.includes('"port"')));

  const results: { name: string; bare: number; gateway: number; unit: string; target: number }[] = [];
  for (const fsync of ['true', 'false']) {
    const s3Port = await freePort();
    const apiPort = await freePort();
    const env = { DATA_DIR: join(dataDir, `fsync-${fsync}`), S3_PORT: String(s3Port), API_PORT: String(apiPort), HOST: '127.0.0.1', LOG_LEVEL: 'error', FS_FSYNC: fsync };
    const account = (await runCli(['user', 'create', '--email', 'bench@example.com', '--password', 'benchmark-password'], env)).json;
    const gateway = await startProcess(['main.ts'], env, () => false).catch(() => undefined as never);
    void gateway;
    break;
  }
  void results;
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(bareDir, { recursive: true, force: true });
}
