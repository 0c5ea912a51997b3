import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { openPostgresDatabase, type PostgresDatabaseHandle } from '../../src/db/postgres.ts';
import { startTestServer, TEST_MASTER_KEY, type TestServer } from '../support/cloudstorage.ts';
import { signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { createTestDatabase, sharedPostgresUrl } from '../support/postgres.ts';

const DAY_MS = 86_400_000;

/**
 * Gateways sharing PostgreSQL each run the Time Machine sweep (trash purge, version retention);
 * one at a time does the work (DatabaseHandle.tryHold): while another gateway holds a sweep's
 * claim, this gateway's round skips it, and the next round after the release does it.
 */
describe('the trash sweep on PostgreSQL metadata: one gateway at a time', () => {
  const clock = fixedClock(new Date());
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: TestServer;
  let otherGateway: PostgresDatabaseHandle;
  let alice: SignedUp;

  beforeAll(async () => {
    database = await createTestDatabase(sharedPostgresUrl());
    server = await startTestServer(
      { DATABASE_URL: database.url, MASTER_KEY: TEST_MASTER_KEY, RATE_LIMIT_DASHBOARD: 'off', TRASH_RETENTION_DAYS: 7, TIME_MACHINE_DEFAULT: false },
      { clock },
    );
    // Another gateway's connection to the same database.
    otherGateway = await openPostgresDatabase({ url: database.url, poolMax: 2 });
    alice = await signupViaApi(server);
  });
  afterAll(async () => {
    await otherGateway?.close();
    await server?.close();
    await database?.drop();
  });

  it('skips the purge while another gateway holds the claim, and purges once it is released', async () => {
    const apiKey = { 'x-api-key': `${alice.firstKey.accessKey}:${alice.firstKey.secretKey}` };
    const uploaded = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=default&key=old.bin`, {
      method: 'POST',
      headers: { ...apiKey, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(randomBytes(1000)),
    });
    expect(uploaded.status).toBe(201);
    const { id } = (await uploaded.json()) as { id: string };
    const deleted = await fetch(`${server.apiEndpoint}/api/v1/files/${id}`, { method: 'DELETE', headers: apiKey });
    expect(deleted.status).toBe(200);
    // By the API key: the session would expire with the clock moved on.
    const trashed = async () => ((await (await fetch(`${server.apiEndpoint}/api/trash`, { headers: apiKey })).json()) as { files: unknown[] }).files.length;
    expect(await trashed()).toBe(1);

    clock.advance(8 * DAY_MS);
    const release = await otherGateway.tryHold('sweep:trash');
    expect(release).toBeDefined();
    try {
      expect((await server.running.timeMachine.sweeper.sweep()).purged).toBe(0);
      expect(await trashed()).toBe(1);
    } finally {
      await release!();
    }
    expect((await server.running.timeMachine.sweeper.sweep()).purged).toBe(1);
    expect(await trashed()).toBe(0);
  });
});
