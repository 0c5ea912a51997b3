/**
 * The gateway's own CPU per 4 KiB GET, without the kernel: `handleS3` called in a loop on
 * in-memory requests (no socket, so no syscalls and no load generator competing for the cores).
 * What remains is the JavaScript a request costs, the part a hot-path change can move; run it
 * with `--cpu-prof` for a profile free of the wall-clock bias of a loaded machine:
 *
 *   npx tsx bench/handle-s3.ts                          # µs per GET, median of 5 rounds
 *   HANDLE_LIMITS=on npx tsx bench/handle-s3.ts         # with the in-process rate limits counting
 *   node --cpu-prof --cpu-prof-dir=/tmp/p --import tsx bench/handle-s3.ts
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { createGatewayApp } from '../gateway/app.ts';
import { startTestServer } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';

const ROUNDS = 5;
const PER_ROUND = Number(process.env.HANDLE_REQUESTS ?? 20_000);

const LIMITS = process.env.HANDLE_LIMITS === 'on' ? '100000000/1s' : 'off';
const server = await startTestServer({ RATE_LIMIT_READ: LIMITS, RATE_LIMIT_WRITE: LIMITS, RATE_LIMIT_LIST: LIMITS } as never);
const account = await server.createAccount();
const core = server.running.core;
const bucket = await core.bucketsUsecases.resolve(account.userId, 'default');
if (bucket.kind !== 'owned') throw new Error('no default bucket');
await core.backend.putObject({ bucket: bucket.bucket.backendName, key: 'small.bin', body: Readable.from([Buffer.alloc(4096, 1)]), size: 4096, metadata: { userMetadata: {} } });
const gateway = createGatewayApp({
  clock: core.clock,
  backend: core.backend,
  startedAt: core.startedAt,
  version: 'bench',
  checkDatabase: () => core.database.ping(),
  shuttingDown: () => false,
  config: core.config,
  logger: core.logger,
  keyStore: core.keyStore,
  bucketsUsecases: core.bucketsUsecases,
  rateLimiter: core.rateLimiter,
  objects: core.objects,
});
const signed = await signRaw(server.endpoint, account, { method: 'GET', path: '/default/small.bin' });
const rawHeaders = Object.entries(signed.headers as Record<string, string>).flat();
const headers = Object.fromEntries(Object.entries(signed.headers as Record<string, string>).map(([name, value]) => [name.toLowerCase(), value]));
const socket = new Socket();

async function one(): Promise<void> {
  const incoming = new IncomingMessage(socket);
  incoming.method = 'GET';
  incoming.url = '/default/small.bin';
  incoming.headers = headers;
  incoming.rawHeaders = rawHeaders;
  incoming.complete = true;
  const outgoing = new ServerResponse(incoming);
  await gateway.handleS3(incoming, outgoing);
  if (outgoing.statusCode !== 200) throw new Error(`answered ${outgoing.statusCode}`);
}

const results: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const start = process.cpuUsage();
  for (let i = 0; i < PER_ROUND; i++) await one();
  const used = process.cpuUsage(start);
  results.push((used.user + used.system) / PER_ROUND);
}
results.sort((a, b) => a - b);
console.log(`handleS3, 4 KiB GET, in memory: ${results[Math.floor(ROUNDS / 2)].toFixed(1)} µs CPU per request (rounds: ${results.map((r) => r.toFixed(1)).join(' ')})`);
await server.close();
