/**
 * Same-run A/B of the allocator settings (src/lifecycle/allocator.ts) on 256 MiB transfers: two
 * gateways of the same bundle, one started with glibc's defaults (GLIBC_TUNABLES empty), one with
 * the recommended settings, both up at once; GET and PUT transfers alternate between them (the
 * order flips every round) and each side's median MiB/s and server CPU per GiB are printed.
 *
 *   npx tsx bench/alloc-ab.bench.ts            # ALLOC_AB_ROUNDS (7), BENCH_LARGE_MIB (256)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECOMMENDED_GLIBC_TUNABLES } from '../src/lifecycle/allocator.ts';
import { LARGE_BYTES, largeBody, median, send, startGateway, transfer, type Transfer } from './lib.ts';

const ROUNDS = Number(process.env.ALLOC_AB_ROUNDS ?? 7);
const NO_LIMITS = { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off', FS_FSYNC: 'false' };

const work = mkdtempSync(join(tmpdir(), 'cs-alloc-ab-'));
const sides = [
  { name: 'glibc defaults', tunables: '' },
  { name: 'recommended', tunables: RECOMMENDED_GLIBC_TUNABLES },
];
const started = [];
try {
  for (const side of sides) {
    const gateway = await startGateway({ DATA_DIR: join(work, side.tunables ? 'b' : 'a'), GLIBC_TUNABLES: side.tunables, ...NO_LIMITS });
    const length = { 'content-length': String(LARGE_BYTES) };
    const put = await gateway.signed('PUT', '/default/large.bin', length, 'UNSIGNED-PAYLOAD');
    await send(new Agent(), put, () => largeBody());
    started.push({ ...side, gateway, put, get: await gateway.signed('GET', '/default/large.bin'), runs: { GET: [] as Transfer[], PUT: [] as Transfer[] } });
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? started : [...started].reverse();
    for (const side of order) {
      side.runs.GET.push(await transfer(side.get, false, LARGE_BYTES, 1, 1));
      side.runs.PUT.push(await transfer(side.put, true, LARGE_BYTES, 1, 1));
    }
  }
  console.log(`\n${LARGE_BYTES >> 20} MiB transfers, ${ROUNDS} alternating rounds, medians (node ${process.version})\n`);
  console.log('| transfer | allocator | MiB/s | server CPU s/GiB |');
  console.log('|---|---|---:|---:|');
  for (const kind of ['GET', 'PUT'] as const) {
    for (const side of started) {
      const runs = side.runs[kind];
      console.log(`| ${kind} | ${side.name} | ${median(runs.map((r) => r.mibPerSecond)).toFixed(0)} | ${median(runs.map((r) => r.cpuSecondsPerGiB)).toFixed(2)} |`);
    }
  }
} finally {
  for (const side of started) side.gateway.child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
