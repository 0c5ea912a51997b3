/**
 * The S3 proxy backend: direct Ceph RGW vs gateway→RGW, measured in one run on the same machine.
 *
 *   npm run bench:rgw                       # starts its own RGW (needs scripts/ceph-rgw.sh install)
 *   BENCH_SECONDS=10 npm run bench:rgw
 *   CEPH_RGW_ENV_FILE=/tmp/rgw/env npm run bench:rgw   # against an RGW already running
 *
 * The same client (node:http, keep-alive) sends the same requests, signed once and replayed, to
 * RGW directly (the backend account's bucket) and to the gateway (an account bucket mapped onto
 * RGW), for 4 KiB objects (req/s) and 64 MiB objects (MiB/s), at concurrency 1 and 16. Both
 * servers share the machine's two cores, so every gateway request also pays for the RGW work
 * behind it. Gateway RSS is sampled during the 64 MiB runs.
 *
 * The 64 MiB rounds also go through bench/bare-proxy.ts: node:http forwarding each request as it
 * came to RGW over an undici pool and piping the answer back, with none of the gateway's work.
 * Its ratio to direct RGW is what one Node hop costs a large transfer here (its CPU per GiB is
 * mostly the kernel copying into the client's socket), the floor the gateway's ratio is judged
 * against when the hop, not the gateway, is what the machine runs out of.
 *
 * Each 64 MiB round also reads the whole machine's CPU (/proc/stat): cores kept busy and CPU per
 * GiB of each side. When direct RGW alone keeps every core busy, the client and RGW can only get
 * slower once a hop takes its share, and the table prints that ceiling next to the measured ratio.
 */
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCephRgw } from '../test/support/ceph-rgw.ts';
import { signRaw } from '../test/support/raw-s3.ts';
import { freePort } from '../test/support/cloudstorage.ts';
import { measureRate, median, LIMITS_OFF, printTable, SECONDS, send, SMALL, startChild, startGateway, transfer, waitForHttp, type Target, type Transfer } from './lib.ts';

const LARGE = 64 * 1024 * 1024;
/** BENCH_ONLY=small or large limits the scenarios (e.g. with BENCH_PROFILE=dir for a CPU profile). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'small,large').split(','));

function rssMiB(pid: number | undefined): number {
  if (!pid) return 0;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

const LARGE_ROUNDS = Number(process.env.BENCH_LARGE_ROUNDS ?? 7);

/**
 * Large transfers alternate direct and gateway rounds and report each side's median: a single
 * 64 MiB transfer takes well under a second, and RGW's memstore speed drifts over a run.
 */
async function interleaved(directTarget: Target, proxyTarget: Target, gatewayTarget: Target, upload: boolean, concurrency: number) {
  const runs = { direct: [] as Transfer[], proxy: [] as Transfer[], gateway: [] as Transfer[] };
  for (let round = 0; round < LARGE_ROUNDS; round++) {
    runs.direct.push(await transfer(directTarget, upload, LARGE, concurrency));
    runs.proxy.push(await transfer(proxyTarget, upload, LARGE, concurrency));
    runs.gateway.push(await transfer(gatewayTarget, upload, LARGE, concurrency));
  }
  const of = (side: Transfer[], field: keyof Transfer) => median(side.map((run) => run[field]));
  const machineOf = (side: Transfer[]) => ({ busyCores: of(side, 'busyCores'), cpuPerGiB: of(side, 'machineCpuSecondsPerGiB') });
  return {
    direct: of(runs.direct, 'mibPerSecond'),
    proxy: of(runs.proxy, 'mibPerSecond'),
    proxyCpu: of(runs.proxy, 'cpuSecondsPerGiB'),
    gateway: of(runs.gateway, 'mibPerSecond'),
    gatewayCpu: of(runs.gateway, 'cpuSecondsPerGiB'),
    /** Whole-machine figures of each side: cores kept busy, CPU per GiB. */
    machine: { direct: machineOf(runs.direct), proxy: machineOf(runs.proxy), gateway: machineOf(runs.gateway) },
  };
}

/** Small-object rates, also alternating sides over BENCH_SMALL_ROUNDS rounds, medians reported. */
async function interleavedRate(directTarget: Target, gatewayTarget: Target, body: Buffer | undefined, concurrency: number) {
  const directRates: number[] = [];
  const gatewayRates: number[] = [];
  const gatewayCpu: number[] = [];
  for (let round = 0; round < Number(process.env.BENCH_SMALL_ROUNDS ?? 3); round++) {
    directRates.push((await measureRate(directTarget, body, concurrency)).requestsPerSecond);
    const measured = await measureRate(gatewayTarget, body, concurrency);
    gatewayRates.push(measured.requestsPerSecond);
    gatewayCpu.push(measured.cpuMicrosPerRequest);
  }
  return { direct: median(directRates), gateway: median(gatewayRates), gatewayCpu: median(gatewayCpu) };
}

/** A row of the whole-machine table; the ceiling only means something when direct RGW kept the cores busy. */
function machineRow(name: string, measured: Awaited<ReturnType<typeof interleaved>>): (string | number)[] {
  const { direct, proxy, gateway } = measured.machine;
  const fixed = (value: number) => value.toFixed(2);
  const saturated = direct.busyCores >= availableParallelism() * 0.9;
  const ceiling = direct.cpuPerGiB / (direct.cpuPerGiB + measured.gatewayCpu);
  return [
    name,
    `${fixed(direct.busyCores)} / ${fixed(proxy.busyCores)} / ${fixed(gateway.busyCores)}`,
    `${fixed(direct.cpuPerGiB)} / ${fixed(proxy.cpuPerGiB)} / ${fixed(gateway.cpuPerGiB)}`,
    saturated ? fixed(ceiling) : `- (direct left cores idle; ${fixed(ceiling)} if it had not)`,
  ];
}

async function main() {
  const rgw = await startCephRgw();
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-rgw-'));
  const rgwUrl = new URL(rgw.endpoint);
  const rgwPort = Number(rgwUrl.port);
  const directBucket = `bench-direct-${Date.now()}`;
  const admin = new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
  });
  await admin.send(new CreateBucketCommand({ Bucket: directBucket }));
  const gateway = await startGateway({
    DATA_DIR: join(work, 'gateway'),
    STORAGE_BACKEND: 's3',
    BACKEND_S3_ENDPOINT: rgw.endpoint,
    BACKEND_S3_ACCESS_KEY: rgw.accessKey,
    BACKEND_S3_SECRET_KEY: rgw.secretKey,
    BACKEND_S3_REGION: rgw.region,
    ...LIMITS_OFF,
  });
  const proxyPort = await freePort();
  const proxy = startChild(['bench/bare-proxy.ts'], { BARE_PROXY_TARGET: rgw.endpoint, PORT: String(proxyPort) });
  await waitForHttp(`http://127.0.0.1:${proxyPort}/`);
  const direct = async (method: 'GET' | 'PUT', key: string, headers: Record<string, string> = {}, payloadHash?: string): Promise<Target> => {
    const request = await signRaw(
      rgw.endpoint,
      { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
      {
        method,
        path: `/${directBucket}/${key}`,
        headers,
        payloadHash,
        region: rgw.region,
        signingDate: new Date(),
      },
    );
    return { port: rgwPort, method, path: `/${directBucket}/${key}`, headers: request.headers! };
  };

  try {
    const rows: { name: string; direct: number; proxy?: number; gateway: number; target: number }[] = [];
    /** The same signed request, sent through the bare proxy (it forwards the Host header RGW's signature covers). */
    const viaProxy = (target: Target): Target => ({ ...target, port: proxyPort, pid: proxy.pid });
    const cpuRows: (string | number)[][] = [];
    const largeCpuRows: (string | number)[][] = [];
    const machineRows: (string | number)[][] = [];
    const smallLength = { 'content-length': String(SMALL.length) };
    const smallHash = createHash('sha256').update(SMALL).digest('hex');
    await send(new Agent(), await direct('PUT', 'small.bin', smallLength, smallHash), SMALL);
    await send(new Agent(), await gateway.signed('PUT', '/default/small.bin', smallLength, smallHash), SMALL);

    for (const concurrency of ONLY.has('small') ? [1, 16] : []) {
      const put = await interleavedRate(
        await direct('PUT', 'small.bin', smallLength, smallHash),
        await gateway.signed('PUT', '/default/small.bin', smallLength, smallHash),
        SMALL,
        concurrency,
      );
      rows.push({ name: `4 KiB PUT req/s (c=${concurrency})`, direct: put.direct, gateway: put.gateway, target: concurrency === 16 ? 0.6 : 0 });
      cpuRows.push([`4 KiB PUT (c=${concurrency})`, put.gatewayCpu]);
      const get = await interleavedRate(await direct('GET', 'small.bin'), await gateway.signed('GET', '/default/small.bin'), undefined, concurrency);
      rows.push({ name: `4 KiB GET req/s (c=${concurrency})`, direct: get.direct, gateway: get.gateway, target: concurrency === 16 ? 0.6 : 0 });
      cpuRows.push([`4 KiB GET (c=${concurrency})`, get.gatewayCpu]);
    }

    const largeLength = { 'content-length': String(LARGE) };
    const rssBefore = rssMiB(gateway.child.pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(gateway.child.pid))), 50);
    for (const concurrency of ONLY.has('large') ? [1, 16] : []) {
      const directPut = await direct('PUT', 'large.bin', largeLength, 'UNSIGNED-PAYLOAD');
      const put = await interleaved(directPut, viaProxy(directPut), await gateway.signed('PUT', '/default/large.bin', largeLength, 'UNSIGNED-PAYLOAD'), true, concurrency);
      rows.push({ name: `64 MiB PUT MiB/s (c=${concurrency})`, direct: put.direct, proxy: put.proxy, gateway: put.gateway, target: 0.85 });
      largeCpuRows.push([`64 MiB PUT (c=${concurrency})`, put.proxyCpu, put.gatewayCpu]);
      machineRows.push(machineRow(`64 MiB PUT (c=${concurrency})`, put));
      const directGet = await direct('GET', 'large.bin');
      const get = await interleaved(directGet, viaProxy(directGet), await gateway.signed('GET', '/default/large.bin'), false, concurrency);
      rows.push({ name: `64 MiB GET MiB/s (c=${concurrency})`, direct: get.direct, proxy: get.proxy, gateway: get.gateway, target: 0.9 });
      largeCpuRows.push([`64 MiB GET (c=${concurrency})`, get.proxyCpu, get.gatewayCpu]);
      machineRows.push(machineRow(`64 MiB GET (c=${concurrency})`, get));
    }
    clearInterval(sampler);

    printTable(
      `Direct Ceph RGW vs gateway→RGW (${SECONDS} s per small-object run, node ${process.version})`,
      ['measurement', 'direct RGW', 'bare proxy→RGW', 'gateway→RGW', 'bare proxy ÷ direct', 'gateway ÷ direct', 'target'],
      rows.map((row) => {
        const ratio = row.gateway / row.direct;
        const verdict = row.target === 0 ? 'info' : ratio >= row.target ? `>= ${row.target} ok` : `>= ${row.target} MISSED`;
        return [row.name, row.direct, row.proxy ?? '-', row.gateway, row.proxy === undefined ? '-' : row.proxy / row.direct, ratio, verdict];
      }),
    );
    if (cpuRows.length > 0) printTable('Gateway CPU per request (µs, user+system of the gateway process)', ['request', 'gateway'], cpuRows);
    if (largeCpuRows.length > 0) printTable('CPU per GiB moved (s, median of the rounds)', ['transfer', 'bare proxy', 'gateway'], largeCpuRows);
    if (machineRows.length > 0) {
      printTable(
        `Whole machine during the 64 MiB rounds (${availableParallelism()} cores; client, RGW, proxy and kernel): busy cores, CPU s per GiB, and the ceiling the cores set`,
        ['transfer', 'busy cores direct / bare / gateway', 'machine CPU s/GiB direct / bare / gateway', 'ceiling gateway ÷ direct'],
        machineRows,
      );
      console.log(
        '\nCeiling: when direct RGW already keeps every core busy, the hop can only take cores from the client and RGW, and gateway ÷ direct is at most\n' +
          "direct's machine CPU per GiB ÷ (that + the gateway process's CPU per GiB). Above 0.9 only if the gateway costs under a ninth of what the rest does.",
      );
    }
    console.log(`\nGateway RSS during the 64 MiB runs: ${rssBefore.toFixed(0)} MiB before, ${rssPeak.toFixed(0)} MiB peak (16 concurrent 64 MiB transfers in flight).`);
  } finally {
    gateway.child.kill('SIGTERM');
    proxy.kill('SIGTERM');
    await admin.send(new DeleteObjectCommand({ Bucket: directBucket, Key: 'small.bin' })).catch(() => undefined);
    await admin.send(new DeleteObjectCommand({ Bucket: directBucket, Key: 'large.bin' })).catch(() => undefined);
    await admin.send(new DeleteBucketCommand({ Bucket: directBucket })).catch(() => undefined);
    admin.destroy();
    await rgw.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
