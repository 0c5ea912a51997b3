/**
 * What rate limiting costs: 4 KiB GetObject requests/s through the gateway with limits off,
 * with in-process counters, and with Redis-backed counters (a real redis-server on a free port),
 * in one run. The limit is set far above the offered load so every request is counted, none refused.
 *
 *   npm run bench:limits
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '../test/support/redis-server.ts';
import { CONCURRENCY, measureRate, printTable, SECONDS, send, SMALL, startGateway } from './lib.ts';

const HIGH = '10000000/1s';

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'cs-bench-limits-'));
  const redis = await startRedisServer();
  const gateways = [];
  try {
    const variants: { name: string; env: Record<string, string> }[] = [
      { name: 'limits off', env: { RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off' } },
      { name: 'in-process counters', env: { RATE_LIMIT_READ: HIGH, RATE_LIMIT_WRITE: HIGH } },
      { name: 'Redis counters', env: { RATE_LIMIT_READ: HIGH, RATE_LIMIT_WRITE: HIGH, REDIS_URL: redis.url } },
    ];
    const results = [];
    for (const [index, variant] of variants.entries()) {
      const gateway = await startGateway({ DATA_DIR: join(work, `gateway-${index}`), FS_FSYNC: 'false', ...variant.env });
      gateways.push(gateway);
      await send(new Agent(), await gateway.signed('PUT', '/default/small.bin', { 'content-length': String(SMALL.length) }, 'UNSIGNED-PAYLOAD'), SMALL);
      results.push({ name: variant.name, ...(await measureRate(await gateway.signed('GET', '/default/small.bin'))) });
      gateway.child.kill('SIGTERM');
    }
    const baseline = results[0].requestsPerSecond;
    printTable(
      `4 KiB GetObject with rate limiting (${SECONDS} s per run, concurrency ${CONCURRENCY}, node ${process.version})`,
      ['variant', 'req/s', 'ratio to limits off', 'server CPU µs/request'],
      results.map((result) => [result.name, result.requestsPerSecond, result.requestsPerSecond / baseline, result.cpuMicrosPerRequest]),
    );
  } finally {
    for (const gateway of gateways) gateway.child.kill('SIGTERM');
    await redis.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
