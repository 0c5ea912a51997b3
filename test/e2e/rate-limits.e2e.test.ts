import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { python } from '../support/clients.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';
import { startGatewayPair, type GatewayPair } from '../support/gateway-pair.ts';
import type { RedisTestServer } from '../support/redis-server.ts';

const NOW = new Date('2026-11-24T12:00:00Z');

/** A signed request; the in-process suite runs on a fixed clock, the others on the real one. */
async function hit(server: { endpoint: string }, account: TestAccount, method: string, path: string, body?: string, signingDate = NOW): Promise<RawResponse> {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, body, signingDate }));
}

describe('rate limits per account and operation class (in-process counters)', () => {
  const clock = fixedClock(NOW);
  let server: TestServer;
  let alice: TestAccount;
  let bob: TestAccount;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_READ: '5/1s', RATE_LIMIT_WRITE: '3/1s', RATE_LIMIT_LIST: 'off' }, { clock });
    alice = await server.createAccount();
    bob = await server.createAccount();
  });
  afterAll(async () => server?.close());

  it('allows a burst up to the limit, then answers 429 TooManyRequests with Retry-After, and refills', async () => {
    const put = await hit(server, alice, 'PUT', '/default/limited.txt', 'x');
    expect(put.status).toBe(200);
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await hit(server, alice, 'GET', '/default/limited.txt');
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe('5');
      remaining.push(String(response.headers['x-ratelimit-remaining']));
      expect(Number(response.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(Math.floor(NOW.getTime() / 1000));
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    const refused = await hit(server, alice, 'GET', '/default/limited.txt');
    expect(refused.status).toBe(429);
    expect(refused.code).toBe('TooManyRequests');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.text).toContain('<RequestId>');

    // Other classes and other accounts have their own budgets.
    expect((await hit(server, alice, 'GET', '/default?list-type=2')).status).toBe(200);
    expect((await hit(server, bob, 'GET', '/default/nothing')).code).toBe('NoSuchKey');

    clock.advance(1000);
    expect((await hit(server, alice, 'GET', '/default/limited.txt')).status).toBe(200);
  });

  it('counts writes separately, including refused uploads that store nothing', async () => {
    clock.advance(10_000);
    for (let i = 0; i < 3; i++) expect((await hit(server, bob, 'PUT', `/default/w${i}`, 'w')).status).toBe(200);
    const refused = await hit(server, bob, 'PUT', '/default/w3', 'w');
    expect([refused.status, refused.code]).toEqual([429, 'TooManyRequests']);
    clock.advance(5_000);
    expect((await hit(server, bob, 'HEAD', '/default/w3')).status).toBe(404);
  });
});

describe('rate limits shared through Redis', () => {
  let pair: GatewayPair;
  let redis: RedisTestServer;
  let first: GatewayPair['first'];
  let second: GatewayPair['second'];
  let account: TestAccount;

  beforeAll(async () => {
    pair = await startGatewayPair({ RATE_LIMIT_WRITE: '10/1m', RATE_LIMIT_READ: '1000/1s' }, 'shared@example.com');
    ({ redis, first, second, account } = pair);
  });
  afterAll(async () => pair?.close());

  it('enforces one global limit across two gateway processes', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await hit(first, account, 'PUT', `/default/a${i}`, 'a', new Date())).status);
      statuses.push((await hit(second, account, 'PUT', `/default/b${i}`, 'b', new Date())).status);
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(6);
  });

  it('fails open while Redis is down and limits again once it is back', async () => {
    await redis.stop();
    const whileDown = [];
    for (let i = 0; i < 12; i++) whileDown.push((await hit(first, account, 'GET', '/default/a0', undefined, new Date())).status);
    expect(whileDown.every((status) => status === 200)).toBe(true);
    await redis.start();
    // ioredis reconnects by itself: within a bounded number of writes the 10/min limit bites again.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 200 && !statuses.includes(429); attempt++) {
      statuses.push((await hit(second, account, 'PUT', `/default/after-${attempt}`, 'z', new Date())).status);
      if (attempt >= 10) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(statuses).toContain(429);
  });
});

describe('boto3 rides out throttling by itself', () => {
  let server: TestServer;
  let account: TestAccount;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_WRITE: '20/1s', RATE_LIMIT_LIST: 'off', RATE_LIMIT_READ: 'off' });
    account = await server.createAccount();
  });
  afterAll(async () => server?.close());

  it('stores every object of a 120-upload burst, with 429s retried by botocore', async () => {
    const py = python(server.endpoint, account);
    try {
      const result = await py.run([fileURLToPath(new URL('./boto3_burst.py', import.meta.url)), '120'], { timeoutMs: 120_000 });
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
      expect(summary.stored).toBe(120);
      expect(summary.bodiesOk).toBe(true);
      expect(summary.throttled).toBeGreaterThan(0);
    } finally {
      py.cleanup();
    }
  }, 180_000);
});
