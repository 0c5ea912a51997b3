import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/clock.ts';
import { startTestServer, type TestServer } from '../test/support/cloudstorage.ts';

describe('dashboard API shell', () => {
  const clock = fixedClock('2026-11-24T12:00:00Z');
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: '3/1m' }, { clock });
  });
  afterAll(async () => server?.close());

  it('answers unknown routes with the JSON error shape {error, detail, requestId}', async () => {
    const response = await fetch(`${server.apiEndpoint}/api/nothing-here`);
    expect(response.status).toBe(404);
    const body = await response.json();
    expect(body).toEqual({ error: 'not_found', detail: 'No such route.', requestId: expect.stringMatching(/^[0-9A-F]{16}$/) });
    expect(response.headers.get('x-request-id')).toBe(body.requestId);
  });

  it('rate limits the API with X-RateLimit headers and a 429 JSON error with Retry-After', async () => {
    clock.advance(120_000);
    const statuses: number[] = [];
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.apiEndpoint}/api/anything`);
      statuses.push(response.status);
      remaining.push(response.headers.get('x-ratelimit-remaining'));
      expect(response.headers.get('x-ratelimit-limit')).toBe('3');
    }
    expect(statuses).toEqual([404, 404, 404]);
    expect(remaining).toEqual(['2', '1', '0']);
    const limited = await fetch(`${server.apiEndpoint}/api/anything`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('20');
    const body = await limited.json();
    expect(body.error).toBe('rate_limited');
    expect(body.detail).toBe('Too many requests. Try again in 20 seconds.');
    expect(body.requestId).toMatch(/^[0-9A-F]{16}$/);
    // Health checks are never limited.
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.apiEndpoint}/health`)).status).toBe(200);
    clock.advance(20_000);
    expect((await fetch(`${server.apiEndpoint}/api/anything`)).status).toBe(404);
  });
});
