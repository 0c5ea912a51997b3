/**
 * Same-run A/B of two gateway bundles on one case: both servers up at once, wrk runs interleaved
 * round by round, median CPU µs/request and req/s of each. For judging a hot-path change on a
 * noisy machine, where separate runs spread more than the change moves.
 *
 *   node scripts/build.mjs && cp dist/main.mjs /tmp/before.mjs   # on the old code
 *   node scripts/build.mjs                                           # on the new code
 *   AB_A=/tmp/before.mjs AB_B=dist/main.mjs AB_CASE=get4k npx tsx bench/ab.bench.ts
 *
 * AB_CASE: get4k (default), put4k, get1m, put1m or get64m; AB_ROUNDS (5), WRK_SECONDS (4), WRK_CONNECTIONS (16);
 * AB_ENV='KEY=value,KEY=value' adds settings to both servers, AB_ENV_A / AB_ENV_B to one (e.g. the
 * same bundle with rate limits off and on: AB_ENV_B='RATE_LIMIT_READ=100000000/1s'); AB_NODE_ARGS_A /
 * AB_NODE_ARGS_B: node options of one side (AB_NODE_ARGS_B='--single-threaded-gc').
 * AB_CLI_A / AB_CLI_B: the CLI bundle that creates that side's account (default dist/cli.mjs); a
 * bundle from before an index schema change needs its own, or the new CLI migrates its DATA_DIR
 * to a schema the old server refuses.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { median, LIMITS_OFF, send, SMALL, startGateway, type BenchGateway } from './lib.ts';
import { luaScript, runWrk } from './wrk.ts';

const ROUNDS = Number(process.env.AB_ROUNDS ?? 5);
const SECONDS = Number(process.env.WRK_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.WRK_CONNECTIONS ?? 16);
const CASE = process.env.AB_CASE ?? 'get4k';
/** The object the case stores and reads: 4 KiB, 1 MiB or 64 MiB by the case's suffix. */
const BODY = CASE.endsWith('64m') ? Buffer.alloc(64 * 1024 * 1024, 7) : CASE.endsWith('1m') ? Buffer.alloc(1024 * 1024, 7) : SMALL;
const settings = (list: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (list ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => (pair.includes('=') ? [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] : [pair, ''])),
  );
const NO_LIMITS = { ...LIMITS_OFF, FS_FSYNC: 'false' };

async function start(bundle: string, work: string, name: 'A' | 'B'): Promise<BenchGateway> {
  const entry = isAbsolute(bundle) ? bundle : resolve(bundle);
  const previous = { server: process.env.BENCH_SERVER, nodeArgs: process.env.BENCH_NODE_ARGS };
  process.env.BENCH_SERVER = entry;
  process.env.BENCH_NODE_ARGS = process.env[`AB_NODE_ARGS_${name}`] ?? previous.nodeArgs ?? '';
  try {
    return await startGateway(
      { DATA_DIR: join(work, name), ...NO_LIMITS, ...settings(process.env.AB_ENV), ...settings(process.env[`AB_ENV_${name}`]) },
      process.env[`AB_CLI_${name}`],
    );
  } finally {
    process.env.BENCH_SERVER = previous.server;
    process.env.BENCH_NODE_ARGS = previous.nodeArgs ?? '';
  }
}

async function main() {
  const bundles = { A: process.env.AB_A ?? 'dist/main.mjs', B: process.env.AB_B ?? 'dist/main.mjs' };
  const work = mkdtempSync(join(tmpdir(), 'cs-ab-'));
  const gateways: BenchGateway[] = [];
  try {
    const agent = new Agent({ keepAlive: true });
    const hash = createHash('sha256').update(BODY).digest('hex');
    const results: Record<string, { cpu: number[]; rate: number[] }> = {};
    const scripts: Record<string, { gateway: BenchGateway; sign: () => Promise<string> }> = {};
    for (const [name, bundle] of Object.entries(bundles)) {
      const gateway = await start(bundle, work, name as 'A' | 'B');
      gateways.push(gateway);
      const put = await gateway.signed('PUT', '/default/small.bin', { 'content-length': String(BODY.length) }, hash);
      const { status } = await send(agent, put, BODY);
      if (status !== 200) throw new Error(`${name}: PUT answered ${status}`);
      results[name] = { cpu: [], rate: [] };
      scripts[name] = {
        gateway,
        sign: async () =>
          CASE.startsWith('put')
            ? luaScript(work, name, await gateway.signed('PUT', '/default/small.bin', { 'content-length': String(BODY.length) }, hash), BODY)
            : luaScript(work, name, await gateway.signed('GET', '/default/small.bin')),
      };
    }
    agent.destroy();
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of round % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const { gateway, sign } = scripts[name];
        const script = await sign();
        const target = { port: gateway.port, pid: gateway.child.pid, method: 'GET' as const, path: '/default/small.bin', headers: {} };
        const result = await runWrk(target, script, CONNECTIONS, SECONDS);
        if (result.errors) throw new Error(`${name}: ${result.errors}`);
        results[name].cpu.push(result.cpuMicrosPerRequest);
        results[name].rate.push(result.requestsPerSecond);
      }
    }
    console.log(`\n${CASE} c=${CONNECTIONS}, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians`);
    for (const [name, bundle] of Object.entries(bundles)) {
      const { cpu, rate } = results[name];
      console.log(`${name} ${bundle}: ${Math.round(median(rate))} req/s, ${median(cpu).toFixed(1)} µs CPU/req  (cpu: ${cpu.map((v) => v.toFixed(0)).join(' ')})`);
    }
    console.log(`B/A: req/s ${(median(results.B.rate) / median(results.A.rate)).toFixed(2)}, CPU ${(median(results.B.cpu) / median(results.A.cpu)).toFixed(2)}`);
  } finally {
    for (const gateway of gateways) gateway.child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
