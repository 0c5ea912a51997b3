import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';
import { parsePrometheus } from '../support/prometheus.ts';
import { startRedisServer, type RedisTestServer } from '../support/redis-server.ts';

/**
 * Redis round trips per S3 request with rate limits and quotas in Redis (issue #12): a GET is one
 * (its rate check); an upload is one before its body (rate check and quota reservation in one
 * script) and one after its commit (the reservation ends and the stored figure is pushed in one
 * script). Counted with MONITOR, which lists every command a client sends (a script's own calls
 * are shown with a `lua` source and are not round trips).
 */
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('Redis round trips per request', () => {
  let redis: RedisTestServer;
  let server: TestServer;
  let account: TestAccount;
  let monitor: Redis;
  let monitorPeer: Redis;
  const seen: { command: string; argument: string; source: string }[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    // Unversioned `default`: the Time Machine subscriber does nothing after the writes measured here.
    server = await startTestServer({
      REDIS_URL: redis.url,
      RATE_LIMIT_READ: '1000/1m',
      RATE_LIMIT_WRITE: '5/1m',
      RATE_LIMIT_LIST: 'off',
      TIME_MACHINE_DEFAULT: false,
      METRICS_TOKEN: METRICS_TOKEN,
    });
    account = await server.createAccount();
    monitor = new Redis(redis.url);
    monitorPeer = new Redis(redis.url);
    const feed = await monitor.monitor();
    feed.on('monitor', (_time: string, args: string[], source: string) => seen.push({ command: String(args[0]).toLowerCase(), argument: String(args[1]), source }));
  });
  afterAll(async () => {
    monitor?.disconnect();
    monitorPeer?.disconnect();
    await server?.close();
    await redis?.close();
  });

  const request = async (method: string, path: string, body?: string): Promise<RawResponse> =>
    sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, body }));

  /** MONITOR lines arrive asynchronously: an ECHO of a fresh marker, once seen, says every earlier command was. */
  async function mark(): Promise<number> {
    const marker = `marker-${Math.random()}`;
    const probe = new Redis(redis.url);
    await probe.echo(marker);
    probe.disconnect();
    for (let i = 0; i < 500; i++) {
      const at = seen.findIndex((entry) => entry.command === 'echo' && entry.argument === marker);
      if (at >= 0) return at;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('MONITOR never showed the marker');
  }

  /** The commands the gateway's connection sent while `run` ran. */
  async function commandsDuring<T>(run: () => Promise<T>): Promise<{ commands: string[]; result: T }> {
    // Start from quiet: whatever an earlier request set off after its answer (its events' relay) is done and seen.
    await server.running.core.events.flush();
    const start = await mark();
    const result = await run();
    const end = await mark();
    // The gateway's connection (named by createLimits); a script's own calls have another source.
    const list = String(await monitorPeer.client('LIST'));
    const gateway = /addr=(\S+) [^\n]*name=cloudstorage-limits/.exec(list)?.[1];
    expect(gateway).toBeDefined();
    const commands = seen
      .slice(start + 1, end)
      .filter((entry) => entry.source.endsWith(gateway!))
      .map((entry) => entry.command);
    return { commands, result };
  }

  it('GET: one round trip; PUT: one before the body and one after the commit; a rate-limited PUT: one, and nothing stored', async () => {
    // Warm-up: loads the account's usage and the scripts on the gateway's connection.
    const warm = await request('PUT', '/default/warm.txt', 'warm');
    expect(warm.status, warm.text).toBe(200);
    expect((await request('GET', '/default/warm.txt')).status).toBe(200);

    const get = await commandsDuring(() => request('GET', '/default/warm.txt'));
    expect(get.commands).toEqual(['evalsha']);
    expect(get.result.body.toString()).toBe('warm');

    const put = await commandsDuring(() => request('PUT', '/default/counted.txt', 'hello'));
    expect(put.result.status).toBe(200);
    expect(put.result.headers['x-ratelimit-limit']).toBe('5');
    expect(put.result.headers['x-ratelimit-remaining']).toBe('3');
    expect(put.commands).toEqual(['evalsha', 'evalsha']);

    // Three more writes take the burst of 5; the next upload is refused by the combined script alone.
    for (const name of ['a', 'b', 'c']) expect((await request('PUT', `/default/${name}.txt`, name)).status).toBe(200);
    const refused = await commandsDuring(() => request('PUT', '/default/refused.txt', 'nope'));
    expect(refused.result.status).toBe(429);
    expect(refused.result.code).toBe('TooManyRequests');
    expect(Number(refused.result.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.result.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.commands).toEqual(['evalsha']);
    // The refusal was decided in the quota store's script, and the metrics still count it.
    const metrics = await fetch(`${server.apiEndpoint}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(parsePrometheus(await metrics.text()).get('cloudstorage_rate_limit_refusals_total{scope="s3:write"}')).toBe(1);
    expect((await request('HEAD', '/default/refused.txt')).status).toBe(404);
  });

  it('an upload refused before its reservation (no such bucket) is still counted and answered 429 over the limit', async () => {
    const other = await server.createAccount();
    const send = async (path: string) => sendRaw(server.endpoint, await signRaw(server.endpoint, other, { method: 'PUT', path, body: 'x' }));
    for (let i = 0; i < 5; i++) expect((await send(`/missing-bucket-${other.userId.slice(0, 8)}/k${i}`)).code).toBe('NoSuchBucket');
    const sixth = await send(`/missing-bucket-${other.userId.slice(0, 8)}/k5`);
    expect(sixth.status).toBe(429);
    expect(sixth.code).toBe('TooManyRequests');
  });
});
