import { runCli, spawnServer, tempDir, type TestAccount } from './cloudstorage.ts';
import { startRedisServer, type RedisTestServer } from './redis-server.ts';

export interface GatewayPair {
  redis: RedisTestServer;
  first: Awaited<ReturnType<typeof spawnServer>>;
  second: Awaited<ReturnType<typeof spawnServer>>;
  account: TestAccount;
  close(): Promise<void>;
}

/** Two gateway processes over one DATA_DIR and one real Redis, as behind a load balancer, with one account. */
export async function startGatewayPair(env: Record<string, string>, email: string): Promise<GatewayPair> {
  const dir = tempDir();
  const redis = await startRedisServer();
  // A generous Redis timeout: under a loaded CI machine 100 ms can pass, and a timed-out call is
  // treated as an outage (limits fail open), which would blur what these tests check. Outages
  // are simulated by stopping the server, which fails calls at once whatever the timeout.
  const fullEnv = { DATA_DIR: dir.path, REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '2000', ...env };
  const first = await spawnServer(fullEnv);
  const second = await spawnServer(fullEnv);
  const created = await runCli(['user', 'create', '--email', email, '--password', 'long enough password'], { DATA_DIR: dir.path });
  if (created.code !== 0) throw new Error(`user create failed (${created.code}): ${created.stderr}`);
  const account = created.json;
  return {
    redis,
    first,
    second,
    account,
    async close() {
      await second.stop();
      await first.stop();
      await redis.close();
      dir.remove();
    },
  };
}
