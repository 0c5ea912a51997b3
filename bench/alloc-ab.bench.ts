/**
 * Same-run A/B of the allocator settings (src/lifecycle/allocator.ts) on 256 MiB transfers: two
 * gateways of the same bundle, one started with glibc's defaults (GLIBC_TUNABLES empty), one with
 * the recommended settings, both up at once; GET and PUT transfers alternate between them (the
 * order flips every round) and each side's median MiB/s and server CPU per GiB are printed.
 *
 *   npx tsx bench/alloc-ab.bench.ts            # ALLOC_AB_ROUNDS (7), BENCH_LARGE_MIB (256)
 *   CEPH_RGW_ENV_FILE=… ALLOC_AB_BACKEND=s3 BENCH_LARGE_MIB=64 npx tsx bench/alloc-ab.bench.ts
 *
 * Run it as the bench scripts run (GLIBC_TUNABLES set for this process, the load generator):
 * a Node client on glibc's defaults is the bottleneck of large GETs (page faults on every
 * received buffer), which hides what the servers do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECOMMENDED_GLIBC_TUNABLES } from '../src/lifecycle/allocator.ts';
import { startCephRgw } from '../test/support/ceph-rgw.ts';
import { LARGE_BYTES, largeBody, median, LIMITS_OFF, send, startGateway, transfer, type Transfer } from './lib.ts';

const ROUNDS = Number(process.env.ALLOC_AB_ROUNDS ?? 7);
const NO_LIMITS = { ...LIMITS_OFF, FS_FSYNC: 'false' };

/** ALLOC_AB_BACKEND=s3: both gateways proxy to the Ceph RGW of CEPH_RGW_ENV_FILE (the gateway then receives every GET's bytes too). */
const rgw = process.env.ALLOC_AB_BACKEND === 's3' ? await startCephRgw() : undefined;
const backend: Record<string, string> = rgw
  ? { STORAGE_BACKEND: 's3', BACKEND_S3_ENDPOINT: rgw.endpoint, BACKEND_S3_ACCESS_KEY: rgw.accessKey, BACKEND_S3_SECRET_KEY: rgw.secretKey, BACKEND_S3_REGION: rgw.region }
  : {};
const work = mkdtempSync(join(tmpdir(), 'cs-alloc-ab-'));
const sides = [
  { name: 'glibc defaults', tunables: '' },
  { name: 'recommended', tunables: RECOMMENDED_GLIBC_TUNABLES },
];
const started = [];
try {
  for (const side of sides) {
    const gateway = await startGateway({ DATA_DIR: join(work, side.tunables ? 'b' : 'a'), GLIBC_TUNABLES: side.tunables, ...NO_LIMITS, ...backend });
    const length = { 'content-length': String(LARGE_BYTES) };
    const put = await gateway.signed('PUT', '/default/large.bin', length, 'UNSIGNED-PAYLOAD');
    await send(new Agent(), put, () => largeBody());
    started.push({ ...side, gateway, put, get: await gateway.signed('GET', '/default/large.bin'), runs: { GET: [] as Transfer[], PUT: [] as Transfer[] } });
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? started : [...started].reverse();
    for (const side of order) {
      side.runs.GET.push(await transfer(side.get, false, LARGE_BYTES));
      side.runs.PUT.push(await transfer(side.put, true, LARGE_BYTES));
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
  for (const side of started) {
    // Through the gateway (its own bucket mapping): RGW's memstore keeps objects in RAM.
    const remove = await side.gateway.signed('DELETE', '/default/large.bin');
    await send(new Agent(), remove).catch(() => undefined);
    side.gateway.child.kill('SIGTERM');
  }
  await rgw?.stop();
  rmSync(work, { recursive: true, force: true });
}
