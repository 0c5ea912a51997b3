import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LIMITS_OFF, median, startGateway, transfer } from './lib.ts';
const env = Object.fromEntries(readFileSync(process.env.CEPH_RGW_ENV_FILE!, 'utf8').trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
const LARGE = 64 * 1024 * 1024;
async function start(bundle: string) {
  process.env.BENCH_SERVER = resolve(bundle);
  const g = await startGateway({ DATA_DIR: mkdtempSync(join(tmpdir(), 'cs-ab-')), STORAGE_BACKEND: 's3', BACKEND_S3_ENDPOINT: env.BACKEND_S3_ENDPOINT!, BACKEND_S3_ACCESS_KEY: env.BACKEND_S3_ACCESS_KEY!, BACKEND_S3_SECRET_KEY: env.BACKEND_S3_SECRET_KEY!, BACKEND_S3_REGION: env.BACKEND_S3_REGION!, ...LIMITS_OFF });
  await transfer(await g.signed('PUT', '/default/large.bin', { 'content-length': String(LARGE) }, 'UNSIGNED-PAYLOAD'), true, LARGE, 1);
  return g;
}
const a = await start(process.env.AB_A!);
const b = await start(process.env.AB_B!);
const conc = Number(process.env.C ?? 1);
const ga = await a.signed('GET', '/default/large.bin'); const gb = await b.signed('GET', '/default/large.bin');
const r = { a: [] as number[], b: [] as number[], ca: [] as number[], cb: [] as number[] };
for (let i = 0; i < Number(process.env.ROUNDS ?? 20); i++) {
  for (const side of i % 2 ? ['b', 'a'] : ['a', 'b']) {
    const t = await transfer(side === 'a' ? ga : gb, false, LARGE, conc);
    (side === 'a' ? r.a : r.b).push(t.mibPerSecond); (side === 'a' ? r.ca : r.cb).push(t.cpuSecondsPerGiB);
  }
}
console.log(`c=${conc} A ${median(r.a).toFixed(0)} MiB/s ${median(r.ca).toFixed(2)} s/GiB | B ${median(r.b).toFixed(0)} MiB/s ${median(r.cb).toFixed(2)} s/GiB | B/A ${(median(r.b) / median(r.a)).toFixed(2)}`);
a.child.kill('SIGTERM'); b.child.kill('SIGTERM');
process.exit(0);
