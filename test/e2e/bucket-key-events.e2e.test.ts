/**
 * Issue #10: bucket and key events are appended to the event log in the same database
 * transaction as the bucket or key row, naming who did it (the dashboard session, an
 * administrator, the CLI) and from which address.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, newEmail, signupViaApi } from '../support/dashboard.ts';

interface EventRow {
  type: string;
  accountId: string;
  actorKind: string;
  actorId: string;
  clientAddress: string | null;
  bucket: string | null;
  detail: string | null;
}

describe('bucket and key events', () => {
  let server: TestServer;
  let db: Database.Database;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    // A second connection, as another process would read the log.
    db = new Database(join(server.dataDir, 'cloudstorage.sqlite'), { readonly: true });
  });
  afterAll(async () => {
    db?.close();
    await server?.close();
  });

  const eventsOf = (accountId: string): EventRow[] =>
    db
      .prepare(
        `SELECT type, account_id AS accountId, actor_kind AS actorKind, actor_id AS actorId, client_address AS clientAddress, bucket, detail
         FROM events WHERE account_id = ? ORDER BY seq`,
      )
      .all(accountId) as EventRow[];

  it('records sign-up, bucket and key changes made through the dashboard with the session as actor', async () => {
    const user = await signupViaApi(server, newEmail('events'));
    const session = { actorKind: 'session', actorId: user.userId };
    expect(eventsOf(user.userId)).toMatchObject([
      { type: 'key.created', ...session, detail: JSON.stringify({ accessKeyId: user.firstKey.accessKey, name: user.firstKey.name }) },
      { type: 'bucket.created', ...session, bucket: 'default' },
    ]);

    expect((await callApi(server, '/api/buckets', { cookie: user.cookie, body: { name: 'photos' } })).status).toBe(201);
    expect((await callApi(server, '/api/buckets?name=photos', { method: 'DELETE', cookie: user.cookie })).status).toBe(200);
    const created = await callApi(server, '/api/keys', { cookie: user.cookie, body: { name: 'laptop' } });
    expect(created.status).toBe(201);
    expect((await callApi(server, `/api/keys?id=${created.json.id}`, { method: 'DELETE', cookie: user.cookie })).status).toBe(200);

    const later = eventsOf(user.userId).slice(2);
    expect(later).toMatchObject([
      { type: 'bucket.created', ...session, bucket: 'photos', clientAddress: '127.0.0.1' },
      { type: 'bucket.deleted', ...session, bucket: 'photos', clientAddress: '127.0.0.1' },
      { type: 'key.created', ...session, detail: JSON.stringify({ accessKeyId: created.json.accessKey, name: 'laptop' }) },
      { type: 'key.revoked', ...session, detail: JSON.stringify({ accessKeyId: created.json.accessKey, name: 'laptop' }) },
    ]);
    // A refused change records nothing: revoking the same key again is keys.not_found.
    expect((await callApi(server, `/api/keys?id=${created.json.id}`, { method: 'DELETE', cookie: user.cookie })).status).toBe(404);
    expect(eventsOf(user.userId)).toHaveLength(6);
  });

  it('names the administrator for admin revocations and the CLI for core calls without an actor', async () => {
    const email = newEmail('admin');
    const { user: adminUser } = await server.running.core.accountsUsecases.createAccount({ email, password: DASHBOARD_PASSWORD, isAdmin: true });
    const login = await callApi(server, '/api/auth/login', { body: { email, password: DASHBOARD_PASSWORD } });
    const cookie = login.response.headers
      .getSetCookie()
      .find((line) => line.startsWith('session='))!
      .split(';')[0]!;
    // Created as `user create` does: the CLI is the actor.
    expect(eventsOf(adminUser.id).map((e) => [e.type, e.actorKind, e.actorId])).toEqual([
      ['key.created', 'system', 'cli'],
      ['bucket.created', 'system', 'cli'],
    ]);

    const victim = await signupViaApi(server, newEmail('victim'));
    expect((await callApi(server, `/api/admin/keys/${victim.firstKey.id}/revoke`, { cookie, body: {} })).status).toBe(200);
    expect(eventsOf(victim.userId).at(-1)).toMatchObject({ type: 'key.revoked', actorKind: 'admin', actorId: adminUser.id, clientAddress: '127.0.0.1' });
  });

  it('commits the row and its event together: when the event cannot be written, the bucket or key is not created', async () => {
    const user = await signupViaApi(server, newEmail('atomic'));
    const writer = new Database(join(server.dataDir, 'cloudstorage.sqlite'));
    writer.exec("CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'event log refused'); END");
    try {
      expect((await callApi(server, '/api/buckets', { cookie: user.cookie, body: { name: 'orphan' } })).status).toBe(500);
      expect((await callApi(server, '/api/keys', { cookie: user.cookie, body: { name: 'orphan' } })).status).toBe(500);
    } finally {
      writer.exec('DROP TRIGGER refuse_events');
      writer.close();
    }
    const buckets = await callApi(server, '/api/buckets', { cookie: user.cookie });
    expect(buckets.json.buckets.map((b: { name: string }) => b.name)).toEqual(['default']);
    const keys = await callApi(server, '/api/keys', { cookie: user.cookie });
    expect(keys.json.keys).toHaveLength(1);
  });
});
