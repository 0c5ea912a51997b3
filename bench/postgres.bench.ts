/**
 * 4 KiB GET and PUT through the gateway with its metadata on SQLite and on PostgreSQL, in one run
 * (issue #13): the same dist/ bundle, the fs backend and the same settings both times, driven by
 * wrk (one thread; `apt-get install wrk`). The PostgreSQL side is a throwaway cluster
 * (scripts/postgres.sh: loopback, fsync off like every test cluster) in a fresh database.
 *
 *   npm run bench:pg
 *   WRK_SECONDS=10 WRK_CONNECTIONS=16 PG_BENCH_ROUNDS=5 npm run bench:pg
 *
 * The hot path (key lookup, bucket resolution) is answered from memory on both, so a GET should
 * cost the same; a PUT also appends its event to the log (an INSERT in the database the metadata
 * lives in). Each server first gets WRK_WARMUP_SECONDS (5) of each case's load (JIT, caches);
 * then servers run one after the other, never together, in PG_BENCH_ROUNDS interleaved rounds
 * (default 3); each row is the median round, which damps a noisy neighbour on a shared machine. Server CPU per request is the gateway process's; the PostgreSQL column adds the
 * cluster's (postmaster and its backends) for the same requests.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, startPostgres, type PostgresCluster } from '../test/support/postgres.ts';
import { send, SMALL, startGateway, type Target } from './lib.ts';
import { luaScript, runWrk, type WrkResult } from './wrk.ts';

const SECONDS = Number(process.env.WRK_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.WRK_WARMUP_SECONDS ?? 5);
const CONNECTIONS = (process.env.WRK_CONNECTIONS ?? '16,64').split(',').map(Number);
const ROUNDS = Number(process.env.PG_BENCH_ROUNDS ?? 3);
/** Limits off and no fsync: the rows measure the metadata layer, not the disk or the limiter. */
const SETTINGS = { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off', FS_FSYNC: 'false' };

const CASES = ['get4k', 'put4k'] as const;
type CaseName = (typeof CASES)[number];
const CASE_TITLES: Record<CaseName, string> = { get4k: '4 KiB GET', put4k: '4 KiB PUT' };

interface Server {
  name: 'SQLite' | 'PostgreSQL';
  child: ChildProcess;
  /** Processes whose CPU is the database's (the PostgreSQL cluster), measured beside the gateway's. */
  databasePids: number[];
  /** Signed right before each run: a whole bench may outlast a signature's 15 minutes. */
  targets: Record<CaseName, () => Promise<Target>>;
}

/** The postmaster's pid (first line of postmaster.pid): its backends are its children. */
function postmasterPid(cluster: PostgresCluster): number {
  return Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

async function startServer(name: Server['name'], env: Record<string, string>, databasePids: number[]): Promise<Server> {
  const gateway = await startGateway({ ...SETTINGS, ...env });
  const sha256 = createHash('sha256').update(SMALL).digest('hex');
  const putTarget = () => gateway.signed('PUT', '/default/small.bin', { 'content-length': String(SMALL.length) }, sha256);
  const agent = new Agent({ keepAlive: true });
  const { status } = await send(agent, await putTarget(), SMALL);
  agent.destroy();
  if (status !== 200) throw new Error(`${name}: PUT small.bin answered ${status}`);
  return {
    name,
    child: gateway.child,
    databasePids,
    targets: { get4k: () => gateway.signed('GET', '/default/small.bin'), put4k: putTarget },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main() {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  const work = mkdtempSync(join(tmpdir(), 'cs-pg-bench-'));
  const servers: Server[] = [];
  let cluster: PostgresCluster | undefined;
  try {
    cluster = await startPostgres();
    const database = await createTestDatabase(cluster.url);
    servers.push(await startServer('SQLite', { DATA_DIR: join(work, 'sqlite') }, []));
    servers.push(
      await startServer('PostgreSQL', { DATA_DIR: join(work, 'postgres'), DATABASE_URL: database.url, MASTER_KEY: randomBytes(32).toString('hex') }, [postmasterPid(cluster)]),
    );

    const results = new Map<string, WrkResult[]>();
    const keyOf = (caseName: CaseName, connections: number, server: Server) => `${caseName} ${connections} ${server.name}`;
    for (const caseName of CASES) {
      for (const server of servers) {
        const target = await server.targets[caseName]();
        await runWrk(target, luaScript(work, `warmup-${caseName}-${server.name}`, target, caseName === 'put4k' ? SMALL : undefined), 16, WARMUP_SECONDS);
      }
      for (const connections of CONNECTIONS) {
        for (let round = 0; round < ROUNDS; round++) {
          // Alternate which server goes first, so neither always runs right after the other's load.
          const order = round % 2 === 0 ? servers : [...servers].reverse();
          for (const server of order) {
            const target = await server.targets[caseName]();
            const script = luaScript(work, `${caseName}-${server.name}`, target, caseName === 'put4k' ? SMALL : undefined);
            const result = await runWrk(target, script, connections, SECONDS, server.databasePids);
            const key = keyOf(caseName, connections, server);
            results.set(key, [...(results.get(key) ?? []), result]);
          }
        }
      }
    }

    console.log(`\nwrk -t1, ${SECONDS} s per run, median of ${ROUNDS} interleaved rounds, fs backend, node ${process.version}\n`);
    console.log('| request | metadata | req/s | gateway CPU µs/req | PostgreSQL CPU µs/req | PG/SQLite req/s | PG/SQLite gateway CPU | errors |');
    console.log('|---|---|---:|---:|---:|---:|---:|---|');
    for (const caseName of CASES) {
      for (const connections of CONNECTIONS) {
        const summary = servers.map((server) => {
          const runs = results.get(keyOf(caseName, connections, server)) ?? [];
          return {
            server,
            rate: median(runs.map((run) => run.requestsPerSecond)),
            cpu: median(runs.map((run) => run.cpuMicrosPerRequest)),
            databaseCpu: server.databasePids.length > 0 ? median(runs.map((run) => run.otherCpuMicrosPerRequest.reduce((sum, value) => sum + value, 0))) : undefined,
            errors: runs
              .map((run) => run.errors)
              .filter(Boolean)
              .join('; '),
          };
        });
        const [sqlite, postgres] = summary;
        for (const row of summary) {
          const ratios = row === postgres ? [(postgres.rate / sqlite.rate).toFixed(2), (postgres.cpu / sqlite.cpu).toFixed(2)] : ['-', '-'];
          console.log(
            `| ${CASE_TITLES[caseName]} c=${connections} | ${row.server.name} | ${Math.round(row.rate)} | ${Math.round(row.cpu)} | ${row.databaseCpu === undefined ? '-' : Math.round(row.databaseCpu)} | ${ratios[0]} | ${ratios[1]} | ${row.errors || '-'} |`,
          );
        }
      }
    }
  } finally {
    await Promise.all(
      servers.map((server) => {
        const exited = new Promise((resolve) => server.child.once('exit', resolve));
        server.child.kill('SIGTERM');
        return Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      }),
    );
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
