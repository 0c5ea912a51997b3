/**
 * Issue #10, durable domain events: an object change's event is journaled by the backend in the
 * same transaction as the change, so a server killed (-9) after the commit but before the event
 * reached the event log still delivers it, once, after a restart.
 *
 * The gap is held open from the outside: this test takes the main database's write lock (a
 * separate connection in BEGIN IMMEDIATE), so the server's relay cannot append the journaled
 * event; then it kills the server, releases the lock, and restarts over the same DATA_DIR.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, tempDir } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';
import { sendRaw, signRaw, type Credentials } from '../support/raw-s3.ts';

type Server = Awaited<ReturnType<typeof spawnServer>>;

/** The activity log's items for `key` (the first subscriber of the event log), once it shows `expected` of them. */
async function activityOf(server: Server, cookie: string, key: string, expected: number): Promise<{ id: string; type: string }[]> {
  // The dispatcher delivers asynchronously after start: poll (bounded) until it has.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${server.apiEndpoint}/api/activity?prefix=${encodeURIComponent(key)}`, { headers: { cookie } });
    expect(response.status).toBe(200);
    const items = ((await response.json()) as { items: { id: string; type: string }[] }).items;
    if (items.length >= expected || attempt >= 100) return items;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function killHard(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

describe('domain events survive kill -9 between the write and the event log', () => {
  const dir = tempDir('cs-events-crash-');
  const servers: Server[] = [];
  afterAll(async () => {
    // stop() waits for an exit that a process already gone (killed, or stopped) never emits again.
    for (const server of servers) if (server.child.exitCode === null && server.child.signalCode === null) await server.stop();
    dir.remove();
  });

  const mainDb = join(dir.path, 'cloudstorage.sqlite');
  const indexDb = join(dir.path, 'objects', 'index.sqlite');
  /** Rows of the event log about `key` (read-only, as another process would). */
  const loggedEvents = (key: string) => {
    const db = new Database(mainDb, { readonly: true });
    try {
      return db.prepare('SELECT id, type, actor_kind AS actorKind, actor_id AS actorId, bucket, key, size FROM events WHERE key = ?').all(key) as {
        id: string;
        type: string;
        actorKind: string;
        actorId: string;
        bucket: string;
        key: string;
        size: number;
      }[];
    } finally {
      db.close();
    }
  };
  /** Events still waiting in the fs backend's journal. */
  const journaled = () => {
    const db = new Database(indexDb, { readonly: true });
    try {
      return (db.prepare('SELECT event FROM journal ORDER BY seq').pluck().all() as string[]).map((text) => JSON.parse(text) as { id: string; type: string; key?: string });
    } finally {
      db.close();
    }
  };

  it('delivers the event of a confirmed PUT exactly once after a crash and restart', async () => {
    const env = { DATA_DIR: dir.path, FS_FSYNC: 'false', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_READ: 'off', RATE_LIMIT_LIST: 'off', RATE_LIMIT_DASHBOARD: 'off', LOG_LEVEL: 'error' };
    const victim = await spawnServer(env);
    servers.push(victim);
    const account = await signupForS3(victim, `events-crash-${Date.now()}@example.com`);

    // Hold the metadata database's write lock: the relay cannot append to the event log.
    const locker = new Database(mainDb);
    locker.pragma('busy_timeout = 5000');
    locker.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      const body = randomBytes(1000);
      const signed = await signRaw(victim.endpoint, account, { method: 'PUT', path: '/default/crash-key', body, signingDate: new Date() });
      const response = await sendRaw(victim.endpoint, signed);
      expect(response.status).toBe(200);

      // Confirmed to the client, journaled with the commit, not yet in the log.
      expect(
        journaled()
          .filter((event) => event.key === 'crash-key')
          .map((event) => event.type),
      ).toEqual(['object.created']);
      expect(locker.prepare("SELECT COUNT(*) FROM events WHERE key = 'crash-key'").pluck().get()).toBe(0);

      await killHard(victim);
      locker.exec('ROLLBACK');
      released = true;
    } finally {
      if (!released) locker.exec('ROLLBACK');
      locker.close();
    }

    // Restart over the same DATA_DIR: the relay runs before serving.
    const restarted = await spawnServer(env);
    servers.push(restarted);
    const logged = loggedEvents('crash-key');
    expect(logged).toEqual([{ id: expect.any(String), type: 'object.created', actorKind: 'key', actorId: account.accessKeyId, bucket: 'default', key: 'crash-key', size: 1000 }]);
    expect(journaled()).toEqual([]);
    // Delivered to the subscriber once.
    expect((await activityOf(restarted, account.cookie, 'crash-key', 1)).map((item) => [item.id, item.type])).toEqual([[logged[0]!.id, 'object.created']]);

    // Another restart finds nothing left to move: still exactly one event.
    await restarted.stop();
    const again = await spawnServer(env);
    servers.push(again);
    expect(loggedEvents('crash-key')).toEqual(logged);
    expect(await activityOf(again, account.cookie, 'crash-key', 1)).toHaveLength(1);
  });
});
