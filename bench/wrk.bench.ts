/**
 * Small-object load from wrk (C, Debian package `wrk`), so the load generator is not the
 * bottleneck the Node client of gateway.bench.ts is (issue #12). Both servers run as children;
 * requests are signed once and replayed (a SigV4 signature stays valid for 15 minutes).
 *
 *   apt-get install wrk && npm run build && npx tsx bench/wrk.bench.ts
 *   WRK_SECONDS=10 WRK_CONNECTIONS=16,64 npx tsx bench/wrk.bench.ts
 *
 * Prints req/s for bare node:http and the gateway (fs backend, limits off, access lines off and
 * on) at each concurrency, the ratio to bare from the same run, and the server CPU per request.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/cloudstorage.ts';
import { cpuSeconds, send, SMALL, startChild, startGateway, waitForHttp, type Target } from './lib.ts';

const SECONDS = Number(process.env.WRK_SECONDS ?? 5);
const CONNECTIONS = (process.env.WRK_CONNECTIONS ?? '16,64').split(',').map(Number);
const NO_LIMITS = { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off', FS_FSYNC: 'false' };

/** A Lua script replaying one request (method, headers, body) for wrk. */
function luaScript(dir: string, name: string, target: Target, body?: Buffer): string {
  const path = join(dir, `${name}.lua`);
  const lines = [`wrk.method = "${target.method}"`];
  for (const [header, value] of Object.entries(target.headers)) {
    // wrk sends its own Content-Length for a body (the same value the signature covers).
    if (body && header.toLowerCase() === 'content-length') continue;
    // wrk sends Host from the URL (the same host:port the signature covers); a second one is a 400.
    if (header.toLowerCase() === 'host') continue;
    lines.push(`wrk.headers["${header}"] = "${String(value)}"`);
  }
  if (body) lines.push(`wrk.body = string.rep(string.char(${body[0]}), ${body.length})`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

async function wrk(target: Target, script: string, connections: number): Promise<{ requestsPerSecond: number; cpuMicrosPerRequest: number; errors: string }> {
  const before = cpuSeconds(target.pid);
  // One wrk thread: it leaves the other core to the server (2-core machine). Run asynchronously:
  // this process must keep reading the servers' stderr (access lines), or a full pipe stalls them.
  const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${SECONDS}s`, '-s', script, `http://127.0.0.1:${target.port}${target.path}`]);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  await new Promise((resolve) => child.once('close', resolve));
  const result = { stdout };
  const after = cpuSeconds(target.pid);
  const total = Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(result.stdout)?.[1] ?? 0);
  const errors = [/Non-2xx or 3xx responses: (\d+)/.exec(result.stdout)?.[0], /Socket errors:.*/.exec(result.stdout)?.[0]].filter(Boolean).join('; ');
  return { requestsPerSecond: rate, cpuMicrosPerRequest: total > 0 ? ((after - before) * 1e6) / total : 0, errors };
}

async function main() {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  const work = mkdtempSync(join(tmpdir(), 'cs-wrk-'));
  const children = [];
  try {
    const barePort = await freePort();
    const bareChild = startChild(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: join(work, 'bare') });
    children.push(bareChild);
    await waitForHttp(`http://127.0.0.1:${barePort}/`);
    const quiet = await startGateway({ DATA_DIR: join(work, 'gateway'), ...NO_LIMITS });
    const logged = await startGateway({ DATA_DIR: join(work, 'gateway-log'), ...NO_LIMITS, ACCESS_LOG: 'true' });
    children.push(quiet.child, logged.child);

    const length = { 'content-length': String(SMALL.length) };
    const hash = createHash('sha256').update(SMALL).digest('hex');
    const targets: { name: string; get: Target; put: Target }[] = [
      {
        name: 'bare node:http',
        get: { port: barePort, pid: bareChild.pid, method: 'GET', path: '/small', headers: {} },
        put: { port: barePort, pid: bareChild.pid, method: 'PUT', path: '/small', headers: length },
      },
    ];
    for (const [name, gateway] of [
      ['gateway (fs)', quiet],
      ['gateway (fs, access log on)', logged],
    ] as const) {
      await send(new Agent(), await gateway.signed('PUT', '/default/small.bin', length, hash), SMALL);
      targets.push({ name, get: await gateway.signed('GET', '/default/small.bin'), put: await gateway.signed('PUT', '/default/small.bin', length, hash) });
    }

    const rows: string[] = [];
    for (const connections of CONNECTIONS) {
      for (const kind of ['get', 'put'] as const) {
        let bare = 0;
        for (const target of targets) {
          const script = luaScript(work, `${kind}-${targets.indexOf(target)}`, target[kind], kind === 'put' ? SMALL : undefined);
          const result = await wrk(target[kind], script, connections);
          if (target === targets[0]) bare = result.requestsPerSecond;
          rows.push(
            `| 4 KiB ${kind.toUpperCase()} c=${connections} | ${target.name} | ${Math.round(result.requestsPerSecond)} | ${(result.requestsPerSecond / bare).toFixed(2)} | ${Math.round(result.cpuMicrosPerRequest)} | ${result.errors || '-'} |`,
          );
        }
      }
    }
    console.log(`\nwrk -t1, ${SECONDS} s per run, node ${process.version}\n`);
    console.log('| request | server | req/s | ratio to bare | server CPU µs/req | errors |');
    console.log('|---|---|---:|---:|---:|---|');
    for (const row of rows) console.log(row);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
