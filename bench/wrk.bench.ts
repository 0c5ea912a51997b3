/**
 * Small-object, 1 MiB and listing load from wrk (C, Debian package `wrk`), so the load generator
 * is not the bottleneck the Node client of gateway.bench.ts is (issue #12). Every server runs as a
 * child; requests are signed once and replayed (a SigV4 signature stays valid for 15 minutes).
 *
 *   apt-get install wrk && npm run bench:wrk
 *   WRK_SECONDS=10 WRK_CONNECTIONS=16,64 npm run bench:wrk
 *   WRK_ROUNDS=3 npm run bench:wrk                              # medians of interleaved rounds
 *   WRK_WARMUP_SECONDS=0 npm run bench:wrk                      # no unmeasured warm-up run (default 3 s)
 *   WRK_SERVERS=fs,fsync WRK_CASES=put4k npm run bench:wrk      # a subset
 *   CEPH_RGW_ENV_FILE=/tmp/rgw/env WRK_SERVERS=rgw npm run bench:wrk
 *
 * Servers (WRK_SERVERS, default all but rgw unless Ceph or CEPH_RGW_ENV_FILE is there):
 *   fs        gateway, fs backend, limits off, FS_FSYNC=false, access log off
 *   log       the same with the access log on
 *   fsync     the same with FS_FSYNC=true (group commit; compare its PUT rows to fs)
 *   limits    rate limits on (in-process), set high enough never to refuse
 *   redis     rate limits on, through Redis (a throwaway redis-server)
 *   workers   WORKERS=2 (with Redis, as WORKERS>1 requires), and its ceiling: bench/burn-server.ts,
 *             node:http burning WRK_CEILING_BURN_US (25) µs of CPU per GET, as 1 and as 2 processes
 *   rgw       direct Ceph RGW and gateway→RGW (STORAGE_BACKEND=s3)
 * Cases (WRK_CASES): get4k put4k get1m put1m list1000 listdelim
 *
 * Each fs-side row shows its ratio to bare node:http measured in the same run (listing rows to
 * the plain gateway: bare has no listing); the rgw rows show gateway→RGW against direct RGW.
 * Server CPU per request covers the server process and its children (the workers).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cephAvailable, startCephRgw, type CephRgw } from '../test/support/ceph-rgw.ts';
import { freePort } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';
import { startRedisServer, type RedisTestServer } from '../test/support/redis-server.ts';
import { median, LIMITS_OFF, send, SMALL, startChild, startGateway, waitForHttp, type BenchGateway, type Target } from './lib.ts';
import { luaScript, runWrk } from './wrk.ts';

const SECONDS = Number(process.env.WRK_SECONDS ?? 5);
/** Runs per server and case; the table shows medians. One run moves by up to ±30 % on a shared machine. */
const ROUNDS = Number(process.env.WRK_ROUNDS ?? 1);
/**
 * An unmeasured run per server and case before its rounds: a server is measured warm, as it serves
 * in production. A fresh gateway's first seconds of 4 KiB PUTs cost twice its steady CPU per
 * request (ab.bench rounds of 4 s: 1,013, 827, 620, then 457–470 µs), and its first 4 s of GETs
 * 1.8 times (154.7 µs, then 75–92); without this, a one-round table measured warm-up.
 */
const WARMUP_SECONDS = Number(process.env.WRK_WARMUP_SECONDS ?? 3);
const CONNECTIONS = (process.env.WRK_CONNECTIONS ?? '16,64').split(',').map(Number);
const NO_LIMITS = { ...LIMITS_OFF, FS_FSYNC: 'false' };
/** Limits on, but far above what two cores serve: the rows measure the cost of counting, never a refusal. */
const HIGH_LIMITS = { RATE_LIMIT_READ: '100000000/1s', RATE_LIMIT_WRITE: '100000000/1s', RATE_LIMIT_LIST: '100000000/1s', FS_FSYNC: 'false' };
const MIB = Buffer.alloc(1024 * 1024, 7);
/** The ceiling servers' CPU per request beyond bare node:http: about what the gateway adds to a 4 KiB GET here (42 against 18 µs). */
const CEILING_BURN_US = Number(process.env.WRK_CEILING_BURN_US ?? 25);
const LISTING_KEYS = 1000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const ALL_CASES = ['get4k', 'put4k', 'get1m', 'put1m', 'list1000', 'listdelim'] as const;
type CaseName = (typeof ALL_CASES)[number];
const CASES = new Set((process.env.WRK_CASES ?? ALL_CASES.join(',')).split(',') as CaseName[]);
const CASE_TITLES: Record<CaseName, string> = {
  get4k: '4 KiB GET',
  put4k: '4 KiB PUT',
  get1m: '1 MiB GET',
  put1m: '1 MiB PUT',
  list1000: 'ListObjectsV2, 1,000 keys',
  listdelim: 'ListObjectsV2 delimiter, 1,000 prefixes',
};
const BODIES: Partial<Record<CaseName, Buffer>> = { put4k: SMALL, put1m: MIB };

interface Server {
  name: string;
  /** The row every ratio of this server is taken against (bare node:http, or direct RGW). */
  baseline?: Server;
  /** Signed right before each run: a whole bench takes longer than a signature's 15 minutes. */
  targets: Partial<Record<CaseName, () => Promise<Target>>>;
}

/** Puts what the cases read (the 4 KiB and 1 MiB objects, 1,000 keys in 1,000 prefixes) and signs each case once. */
async function prepare(
  name: string,
  sign: (method: 'GET' | 'PUT', path: string, headers?: Record<string, string>, hash?: string) => Promise<Target>,
  bucketPath: string,
): Promise<Server> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const put = async (key: string, body: Buffer) => {
    const target = await sign('PUT', `${bucketPath}/${key}`, { 'content-length': String(body.length) }, createHash('sha256').update(body).digest('hex'));
    const { status } = await send(agent, target, body);
    if (status !== 200) throw new Error(`${name}: PUT ${key} answered ${status}`);
  };
  const targets: Server['targets'] = {};
  const hashOf = (body: Buffer) => createHash('sha256').update(body).digest('hex');
  if (CASES.has('get4k') || CASES.has('put4k')) {
    await put('small.bin', SMALL);
    targets.get4k = () => sign('GET', `${bucketPath}/small.bin`);
    targets.put4k = () => sign('PUT', `${bucketPath}/small.bin`, { 'content-length': String(SMALL.length) }, hashOf(SMALL));
  }
  if (CASES.has('get1m') || CASES.has('put1m')) {
    await put('mib.bin', MIB);
    targets.get1m = () => sign('GET', `${bucketPath}/mib.bin`);
    targets.put1m = () => sign('PUT', `${bucketPath}/mib.bin`, { 'content-length': String(MIB.length) }, hashOf(MIB));
  }
  if (CASES.has('list1000') || CASES.has('listdelim')) {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < LISTING_KEYS) {
          const i = next++;
          const target = await sign('PUT', `${bucketPath}/list/dir${String(i).padStart(4, '0')}/file`, { 'content-length': '0' }, EMPTY_SHA256);
          const { status } = await send(agent, target, Buffer.alloc(0));
          if (status !== 200) throw new Error(`${name}: PUT listing key answered ${status}`);
        }
      }),
    );
    targets.list1000 = () => sign('GET', `${bucketPath}?list-type=2&max-keys=1000&prefix=list%2F`);
    targets.listdelim = () => sign('GET', `${bucketPath}?delimiter=%2F&list-type=2&max-keys=1000&prefix=list%2F`);
  }
  agent.destroy();
  return { name, targets };
}

const gatewayServer = (name: string, gateway: BenchGateway) => prepare(name, (method, path, headers, hash) => gateway.signed(method, path, headers, hash), '/default');

async function main() {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  const wanted = new Set((process.env.WRK_SERVERS ?? `fs,log,fsync,limits,redis,workers${process.env.CEPH_RGW_ENV_FILE || cephAvailable() ? ',rgw' : ''}`).split(','));
  const work = mkdtempSync(join(tmpdir(), 'cs-wrk-'));
  const children: ChildProcess[] = [];
  let redis: RedisTestServer | undefined;
  let rgw: CephRgw | undefined;
  try {
    const barePort = await freePort();
    const bareChild = startChild(['bench/bare-server.ts'], { PORT: String(barePort), BARE_DIR: join(work, 'bare') });
    children.push(bareChild);
    await waitForHttp(`http://127.0.0.1:${barePort}/`);
    const bareTarget = (method: 'GET' | 'PUT', path: string, bytes?: number) => async (): Promise<Target> => ({
      port: barePort,
      pid: bareChild.pid,
      method,
      path,
      headers: bytes === undefined ? {} : { 'content-length': String(bytes) },
    });
    const bare: Server = {
      name: 'bare node:http',
      targets: {
        get4k: bareTarget('GET', '/small'),
        put4k: bareTarget('PUT', '/small', SMALL.length),
        get1m: bareTarget('GET', '/mib'),
        put1m: bareTarget('PUT', '/mib', MIB.length),
      },
    };
    const servers: Server[] = [bare];
    const startFs = async (key: string, name: string, env: Record<string, string>) => {
      if (!wanted.has(key)) return;
      const gateway = await startGateway({ DATA_DIR: join(work, key), ...env });
      children.push(gateway.child);
      servers.push({ ...(await gatewayServer(name, gateway)), baseline: bare });
    };
    if (wanted.has('redis') || wanted.has('workers')) redis = await startRedisServer();
    await startFs('fs', 'gateway (fs)', NO_LIMITS);
    await startFs('log', 'gateway (fs, access log on)', { ...NO_LIMITS, ACCESS_LOG: 'true' });
    await startFs('fsync', 'gateway (fs, FS_FSYNC=true)', { ...NO_LIMITS, FS_FSYNC: 'true' });
    await startFs('limits', 'gateway (fs, rate limits in-process)', HIGH_LIMITS);
    if (redis) await startFs('redis', 'gateway (fs, rate limits in Redis)', { ...HIGH_LIMITS, REDIS_URL: redis.url });
    if (redis) await startFs('workers', 'gateway (fs, WORKERS=2)', { ...NO_LIMITS, REDIS_URL: redis.url, WORKERS: '2' });
    if (wanted.has('workers')) {
      // The ceiling the WORKERS=2 row is judged against (bench/burn-server.ts): the same cost per request, perfectly parallel.
      for (const processes of [1, 2]) {
        const port = await freePort();
        const child = startChild(['bench/burn-server.ts'], { PORT: String(port), BURN_PROCESSES: String(processes), BURN_US: String(CEILING_BURN_US) });
        children.push(child);
        await waitForHttp(`http://127.0.0.1:${port}/`);
        const name = `node:http + ${CEILING_BURN_US} µs CPU, ${processes} process${processes > 1 ? 'es' : ''}`;
        servers.push({ name, targets: { get4k: async () => ({ port, pid: child.pid, method: 'GET', path: '/small', headers: {} }) } });
      }
    }

    if (wanted.has('rgw')) {
      rgw = await startCephRgw();
      const credentials = { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey };
      const rgwPort = Number(new URL(rgw.endpoint).port);
      const bucket = `wrk-bench-${Date.now()}`;
      const signDirect = async (method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}, hash?: string): Promise<Target> => {
        const request = await signRaw(rgw!.endpoint, credentials, { method, path, headers, payloadHash: hash, region: rgw!.region, signingDate: new Date() });
        return { port: rgwPort, pid: undefined, method, path, headers: request.headers! };
      };
      const created = await send(new Agent(), await signDirect('PUT', `/${bucket}`, { 'content-length': '0' }, EMPTY_SHA256), Buffer.alloc(0));
      if (created.status !== 200) throw new Error(`creating the RGW bench bucket answered ${created.status}`);
      const direct = await prepare('Ceph RGW direct', signDirect, `/${bucket}`);
      const gateway = await startGateway({
        DATA_DIR: join(work, 'rgw'),
        ...NO_LIMITS,
        STORAGE_BACKEND: 's3',
        BACKEND_S3_ENDPOINT: rgw.endpoint,
        BACKEND_S3_ACCESS_KEY: rgw.accessKey,
        BACKEND_S3_SECRET_KEY: rgw.secretKey,
        BACKEND_S3_REGION: rgw.region,
      });
      children.push(gateway.child);
      servers.push(direct, { ...(await gatewayServer('gateway → RGW', gateway)), baseline: direct });
    }

    const rows: string[] = [];
    const measured = new Map<string, { rate: number; cpu: number }>();
    for (const caseName of ALL_CASES.filter((name) => CASES.has(name))) {
      for (const connections of CONNECTIONS) {
        /** One wrk run of this case against `server`, freshly signed; undefined for a server without the case. */
        const runCase = async (server: Server, seconds: number) => {
          const signTarget = server.targets[caseName];
          if (!signTarget) return undefined;
          const target = await signTarget();
          const script = luaScript(work, `${caseName}-${servers.indexOf(server)}`, target, BODIES[caseName]);
          return { target, result: await runWrk(target, script, connections, seconds) };
        };
        if (WARMUP_SECONDS > 0) for (const server of servers) await runCase(server, WARMUP_SECONDS);
        const runs = new Map<Server, { rates: number[]; cpus: number[]; errors: string[]; pid?: number }>();
        // Rounds alternate the servers' order, so a machine that slows down during a round weighs on every server alike.
        for (let round = 0; round < ROUNDS; round++) {
          const order = round % 2 === 0 ? servers : [...servers].reverse();
          for (const server of order) {
            const measuredRun = await runCase(server, SECONDS);
            if (!measuredRun) continue;
            const { target, result } = measuredRun;
            const run = runs.get(server) ?? { rates: [], cpus: [], errors: [], pid: target.pid };
            run.rates.push(result.requestsPerSecond);
            run.cpus.push(result.cpuMicrosPerRequest);
            if (result.errors) run.errors.push(result.errors);
            runs.set(server, run);
          }
        }
        const rates = new Map<Server, number>();
        for (const server of servers) {
          const run = runs.get(server);
          if (!run) continue;
          const rate = median(run.rates);
          const cpuMicros = median(run.cpus);
          rates.set(server, rate);
          measured.set(`${caseName} ${connections} ${server.name}`, { rate, cpu: cpuMicros });
          // Listings have no bare row: their ratio is to the plain gateway.
          const baseline = caseName.startsWith('list') && server.baseline === bare ? servers.find((s) => s.name === 'gateway (fs)') : server.baseline;
          const baseRate = baseline && rates.get(baseline);
          const ratio = baseRate ? (rate / baseRate).toFixed(2) : '-';
          const cpu = run.pid ? String(Math.round(cpuMicros)) : '-';
          rows.push(
            `| ${CASE_TITLES[caseName]} c=${connections} | ${server.name} | ${Math.round(rate)} | ${ratio} (${baseline?.name ?? '-'}) | ${cpu} | ${run.errors.join('; ') || '-'} |`,
          );
        }
      }
    }
    console.log(
      `\nwrk -t1, ${SECONDS} s per run, ${ROUNDS === 1 ? 'one round' : `median of ${ROUNDS} interleaved rounds`} after a ${WARMUP_SECONDS} s warm-up run each, node ${process.version}\n`,
    );
    console.log('| request | server | req/s | ratio (to) | server CPU µs/req | errors |');
    console.log('|---|---|---:|---:|---:|---|');
    for (const row of rows) console.log(row);
    printTargets(measured);
  } finally {
    // SIGTERM: the servers drain and exit, which writes their CPU profiles (BENCH_PROFILE).
    await Promise.all(
      children.map((child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        return Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      }),
    );
    await redis?.stop();
    await rgw?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Issue #12's targets, each from this run's rows (a dash where its servers or cases were not run).
 * The large-object targets are `npm run bench` (fs) and `npm run bench:rgw` (proxy) figures.
 */
function printTargets(measured: Map<string, { rate: number; cpu: number }>): void {
  const FS = 'gateway (fs)';
  type Check = { title: string; value: (c: number) => number | undefined; want: (v: number) => boolean; goal: string; digits: number };
  const of = (caseName: CaseName, c: number, server: string) => measured.get(`${caseName} ${c} ${server}`);
  const ratio = (caseName: CaseName, server: string, base: string) => (c: number) => {
    const a = of(caseName, c, server);
    const b = of(caseName, c, base);
    return a && b && b.rate > 0 ? a.rate / b.rate : undefined;
  };
  const cpu = (caseName: CaseName, server: string) => (c: number) => of(caseName, c, server)?.cpu;
  const checks: Check[] = [
    { title: '4 KiB GET, gateway ÷ bare req/s', value: ratio('get4k', FS, 'bare node:http'), want: (v) => v >= 0.35, goal: '≥ 0.35', digits: 2 },
    { title: '4 KiB GET, server CPU µs', value: cpu('get4k', FS), want: (v) => v <= 60, goal: '≤ 60', digits: 0 },
    { title: '4 KiB PUT, gateway ÷ bare req/s', value: ratio('put4k', FS, 'bare node:http'), want: (v) => v >= 0.3, goal: '≥ 0.30', digits: 2 },
    { title: '4 KiB PUT, server CPU µs', value: cpu('put4k', FS), want: (v) => v <= 400, goal: '≤ 400', digits: 0 },
    { title: '4 KiB PUT, fsync on ÷ off req/s (group commit)', value: ratio('put4k', 'gateway (fs, FS_FSYNC=true)', FS), want: () => true, goal: 'report', digits: 2 },
    { title: '4 KiB GET, WORKERS=2 ÷ one worker req/s', value: ratio('get4k', 'gateway (fs, WORKERS=2)', FS), want: (v) => v >= 1.6, goal: '≥ 1.6', digits: 2 },
    {
      // Scaling of the work itself: ~1.00 means a second worker adds no cost per request (no lock,
      // no shared queue), so the req/s ratio is set by the cores wrk leaves, as the ceiling's is.
      title: '(WORKERS=2 ÷ one worker, server CPU µs per GET)',
      value: (c) => {
        const two = cpu('get4k', 'gateway (fs, WORKERS=2)')(c);
        const one = cpu('get4k', FS)(c);
        return two !== undefined && one ? two / one : undefined;
      },
      want: () => true,
      goal: 'report',
      digits: 2,
    },
    {
      title: `(ceiling: node:http + ${CEILING_BURN_US} µs CPU, 2 ÷ 1 processes)`,
      value: ratio('get4k', `node:http + ${CEILING_BURN_US} µs CPU, 2 processes`, `node:http + ${CEILING_BURN_US} µs CPU, 1 process`),
      want: () => true,
      goal: 'report',
      digits: 2,
    },
    { title: '4 KiB GET, rate limits in-process ÷ off req/s', value: ratio('get4k', 'gateway (fs, rate limits in-process)', FS), want: (v) => v >= 0.9, goal: '≥ 0.90', digits: 2 },
    { title: '4 KiB GET, rate limits in Redis ÷ off req/s', value: ratio('get4k', 'gateway (fs, rate limits in Redis)', FS), want: (v) => v >= 0.9, goal: '≥ 0.90', digits: 2 },
  ];
  console.log(`\nTargets (issue #12), c=${CONNECTIONS.join(' / c=')}\n`);
  console.log('| target | measured | goal | met |');
  console.log('|---|---:|---:|---|');
  for (const check of checks) {
    const values = CONNECTIONS.map((c) => check.value(c));
    if (values.every((v) => v === undefined)) continue;
    const shown = values.map((v) => (v === undefined ? '-' : v.toFixed(check.digits))).join(' / ');
    const met = check.goal === 'report' ? '-' : values.every((v) => v !== undefined && check.want(v)) ? 'yes' : 'no';
    console.log(`| ${check.title} | ${shown} | ${check.goal} | ${met} |`);
  }
  console.log('\nLarge objects: `npm run bench` (256 MiB GET ≥ 0.9 of bare, PUT ≥ 0.6); proxy: `npm run bench:rgw` (64 MiB GET ≥ 0.9 of direct RGW).');
}

await main();
