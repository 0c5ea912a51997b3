import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/clock.ts';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../test/support/cloudstorage.ts';
import { callApi } from '../test/support/dashboard.ts';

async function login(server: TestServer, email: string): Promise<string> {
  const result = await callApi(server, '/api/auth/login', { body: { email, password: TEST_PASSWORD } });
  expect(result.status).toBe(200);
  return result.response.headers
    .getSetCookie()
    .find((line) => line.startsWith('session='))!
    .split(';')[0]!;
}

async function me(server: TestServer, cookie?: string) {
  const response = (await callApi(server, cookie ? '/api/auth/me' : '/api/nothing-here', { cookie })).response;
  return { status: response.status, remaining: response.headers.get('x-ratelimit-remaining') };
}

describe('dashboard rate limit per account (RATE_LIMIT_DASHBOARD 4/1m)', () => {
  const clock = fixedClock('2026-11-24T12:00:00Z');
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: '4/1m', RATE_LIMIT_LOGIN: 'off' }, { clock });
  });
  afterAll(async () => server?.close());

  it('counts signed-in requests per account: two sessions share one budget, another account and anonymous callers keep theirs', async () => {
    const a = await server.createAccount();
    const b = await server.createAccount();
    // Sign-ins are anonymous requests (counted per address); start every budget afresh afterwards.
    const [a1, a2, b1] = [await login(server, a.email), await login(server, a.email), await login(server, b.email)];
    clock.advance(120_000);

    expect(await me(server, a1)).toEqual({ status: 200, remaining: '3' });
    expect(await me(server, a2)).toEqual({ status: 200, remaining: '2' });
    expect(await me(server, a1)).toEqual({ status: 200, remaining: '1' });
    expect(await me(server, a2)).toEqual({ status: 200, remaining: '0' });
    const limited = await callApi(server, '/api/auth/me', { cookie: a1 });
    expect(limited.status).toBe(429);
    expect(limited.json.error).toBe('rate_limited');
    expect(limited.response.headers.get('retry-after')).toBe('15');
    expect((await me(server, a2)).status).toBe(429);

    // Same address, different account: untouched. Anonymous requests from that address: their own budget.
    expect(await me(server, b1)).toEqual({ status: 200, remaining: '3' });
    expect(await me(server)).toEqual({ status: 404, remaining: '3' });

    clock.advance(15_000);
    expect(await me(server, a2)).toEqual({ status: 200, remaining: '0' });
  });
});
