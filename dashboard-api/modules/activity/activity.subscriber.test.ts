import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/cloudstorage.ts';
import { openDatabase, type SqliteDatabaseHandle } from '../../../src/db/database.ts';
import type { StoredEvent } from '../../../src/events/events.ts';
import { createActivitySubscriber } from './activity.subscriber.ts';

const event = (seq: number, overrides: Partial<StoredEvent> = {}): StoredEvent => ({
  id: `evt-${randomUUID()}`,
  seq,
  type: 'object.created',
  time: new Date(Date.UTC(2026, 0, 1, 0, seq)).toISOString(),
  accountId: 'account-a',
  actor: { kind: 'key', id: 'AKIAEXAMPLE' },
  clientAddress: '127.0.0.1',
  bucket: 'photos',
  key: `k${seq}`,
  size: seq,
  etag: `"etag${seq}"`,
  contentType: 'text/plain',
  ...overrides,
});

describe('activity subscriber', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function database(): SqliteDatabaseHandle {
    const dir = tempDir('cs-activity-');
    const handle = openDatabase(`${dir.path}/meta.db`);
    cleanups.push(() => {
      void handle.close();
      dir.remove();
    });
    return handle;
  }
  const rows = (handle: SqliteDatabaseHandle) =>
    handle.sqlite
      .prepare(
        'SELECT event_id AS id, seq, type, time, account_id, actor_kind, actor_id, client_address, bucket, key, size, etag, content_type, version_id, detail FROM activity ORDER BY seq',
      )
      .all() as Record<string, unknown>[];

  it('is named "activity" and stores every field of an event, absent ones as NULL', async () => {
    const handle = database();
    const subscriber = createActivitySubscriber({ database: handle });
    expect(subscriber.name).toBe('activity');
    const full = event(1, { type: 'object.updated', versionId: 'v1', detail: { change: 'overwrite' } });
    const bare = {
      id: 'evt-bare',
      seq: 2,
      type: 'bucket.deleted',
      time: '2026-01-01T00:02:00.000Z',
      accountId: 'account-a',
      actor: { kind: 'system', id: 'cli' },
    } satisfies StoredEvent;
    await subscriber.handle([full, bare]);
    expect(rows(handle)).toEqual([
      {
        id: full.id,
        seq: 1,
        type: 'object.updated',
        time: Date.parse(full.time),
        account_id: 'account-a',
        actor_kind: 'key',
        actor_id: 'AKIAEXAMPLE',
        client_address: '127.0.0.1',
        bucket: 'photos',
        key: 'k1',
        size: 1,
        etag: '"etag1"',
        content_type: 'text/plain',
        version_id: 'v1',
        detail: '{"change":"overwrite"}',
      },
      {
        id: 'evt-bare',
        seq: 2,
        type: 'bucket.deleted',
        time: Date.parse(bare.time),
        account_id: 'account-a',
        actor_kind: 'system',
        actor_id: 'cli',
        client_address: null,
        bucket: null,
        key: null,
        size: null,
        etag: null,
        content_type: null,
        version_id: null,
        detail: null,
      },
    ]);
  });

  it('is idempotent by event id: a redelivered batch, an overlapping batch and a duplicate within a batch each leave one row per event', async () => {
    const handle = database();
    const subscriber = createActivitySubscriber({ database: handle });
    const events = Array.from({ length: 450 }, (_, i) => event(i + 1));
    await subscriber.handle(events.slice(0, 300));
    // At-least-once: the dispatcher replays the batch after a crash before its cursor moved…
    await subscriber.handle(events.slice(0, 300));
    // …or a later batch starts before the last one ended, and repeats an event within itself.
    await subscriber.handle([...events.slice(250), events[400]!]);
    await subscriber.handle([]);
    const stored = rows(handle);
    expect(stored.length).toBe(450);
    expect(stored.map((row) => row.id)).toEqual(events.map((e) => e.id));
    expect(handle.sqlite.prepare('SELECT count(DISTINCT event_id) AS n FROM activity').get()).toEqual({ n: 450 });
  });
});
