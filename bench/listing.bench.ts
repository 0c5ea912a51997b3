/**
 * What a listing page costs on the fs backend: ListObjectsV2 over 10,000 keys in 1,000 prefixes
 * (10 keys each), with and without a delimiter, and how a small GET's latency behaves while
 * delimiter listings run (a listing that holds the event loop stalls every other request).
 *
 *   npm run bench:list
 *   BENCH_SERVER=dist/other.mjs npm run bench:list   # compare another bundle (see bench/lib.ts)
 *
 * Keys are created with concurrent signed zero-byte PUTs; rate limits are off; FS_FSYNC=false.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureRate, printTable, SECONDS, send, SMALL, startGateway, type BenchGateway } from './lib.ts';

const PREFIXES = 1000;
const KEYS_PER_PREFIX = 10;
/** Listings are slow per request compared to GETs: fewer in flight keeps each run's sample meaningful. */
const LIST_CONCURRENCY = 4;
/** The review's scenario: six concurrent delimiter listings next to another tenant's GETs. */
const BACKGROUND_LISTINGS = 6;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function populate(gateway: BenchGateway): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const names: string[] = [];
  for (let p = 0; p < PREFIXES; p++) {
    for (let k = 0; k < KEYS_PER_PREFIX; k++) names.push(`dir${String(p).padStart(4, '0')}/file${String(k).padStart(2, '0')}`);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < names.length) {
        const name = names[next++];
        const target = await gateway.signed('PUT', `/default/${name}`, { 'content-length': '0' }, EMPTY_SHA256);
        const { status } = await send(agent, target, Buffer.alloc(0));
        if (status !== 200) throw new Error(`PUT ${name}: ${status}`);
      }
    }),
  );
  agent.destroy();
}

/** Sequential GET latencies (ms) for SECONDS while `BACKGROUND_LISTINGS` listing loops run. */
async function getLatencyUnderListings(gateway: BenchGateway): Promise<{ p50: number; p99: number; max: number; listings: number }> {
  const getTarget = await gateway.signed('GET', '/default/small.bin');
  const listTarget = await gateway.signed('GET', '/default?list-type=2&delimiter=%2F');
  const agent = new Agent({ keepAlive: true, maxSockets: BACKGROUND_LISTINGS + 1 });
  const deadline = performance.now() + SECONDS * 1000;
  let listings = 0;
  const background = Array.from({ length: BACKGROUND_LISTINGS }, async () => {
    while (performance.now() < deadline) {
      await send(agent, listTarget);
      listings++;
    }
  });
  const latencies: number[] = [];
  while (performance.now() < deadline) {
    const start = performance.now();
    const { status } = await send(agent, getTarget);
    if (status !== 200) throw new Error(`GET status ${status}`);
    latencies.push(performance.now() - start);
  }
  await Promise.all(background);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1], listings };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-list-'));
  let gateway: BenchGateway | undefined;
  try {
    gateway = await startGateway({ DATA_DIR: join(work, 'gateway'), FS_FSYNC: 'false', RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off' });
    const created = performance.now();
    await populate(gateway);
    console.log(`created ${PREFIXES * KEYS_PER_PREFIX} keys in ${PREFIXES} prefixes in ${((performance.now() - created) / 1000).toFixed(1)} s`);
    await send(new Agent(), await gateway.signed('PUT', '/default/small.bin', { 'content-length': String(SMALL.length) }, 'UNSIGNED-PAYLOAD'), SMALL);

    const cases: { name: string; path: string }[] = [
      { name: 'ListObjectsV2, no delimiter (1,000 keys/page)', path: '/default?list-type=2' },
      { name: 'ListObjectsV2, delimiter / (1,000 CommonPrefixes/page)', path: '/default?list-type=2&delimiter=%2F' },
      { name: 'ListObjectsV2, delimiter /, StartAfter mid-way (500 CommonPrefixes)', path: '/default?list-type=2&delimiter=%2F&start-after=dir0499%2Ffile05' },
    ];
    const rows: (string | number)[][] = [];
    for (const item of cases) {
      const result = await measureRate(await gateway.signed('GET', item.path), undefined, LIST_CONCURRENCY);
      rows.push([item.name, result.requestsPerSecond, result.cpuMicrosPerRequest / 1000]);
    }
    printTable(
      `Listing ${PREFIXES * KEYS_PER_PREFIX} keys in ${PREFIXES} prefixes (${SECONDS} s per run, concurrency ${LIST_CONCURRENCY}, node ${process.version})`,
      ['request', 'req/s', 'server CPU ms/request'],
      rows,
    );
    const latency = await getLatencyUnderListings(gateway);
    printTable(
      `4 KiB GET latency while ${BACKGROUND_LISTINGS} delimiter listings loop (${SECONDS} s; ${latency.listings} listings completed)`,
      ['p50 ms', 'p99 ms', 'max ms'],
      [[latency.p50, latency.p99, latency.max]],
    );
  } finally {
    gateway?.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
