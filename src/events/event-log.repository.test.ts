import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabaseHandle } from '../db/database.ts';
import { newEventId } from '../ids.ts';
import { createEventLogRepository, type EventLogRepository } from './event-log.repository.ts';
import type { DomainEvent } from './events.ts';

function event(overrides: Partial<DomainEvent> = {}): DomainEvent {
  return {
    id: newEventId(),
    type: 'object.created',
    time: '2026-03-01T10:00:00.000Z',
    accountId: 'account-a',
    actor: { kind: 'key', id: 'CSKEY' },
    bucket: 'photos',
    key: 'a.jpg',
    ...overrides,
  };
}

describe('event log repository', () => {
  let dir: string;
  let database: SqliteDatabaseHandle;
  let log: EventLogRepository;
  let appends: number;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cs-event-log-'));
    database = openDatabase(join(dir, 'cloudstorage.sqlite'));
    appends = 0;
    log = createEventLogRepository({ database, onAppend: () => appends++ });
  });

  afterEach(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every field and reads events back in seq order', async () => {
    const full = event({
      type: 'object.updated',
      clientAddress: '192.0.2.7',
      size: 12,
      etag: '"abc"',
      contentType: 'image/jpeg',
      versionId: 'v1',
      detail: { change: 'overwrite', nested: { n: 1 } },
    });
    const bare = event({ type: 'key.created', bucket: undefined, key: undefined, actor: { kind: 'system', id: 'cli' } });
    delete bare.bucket;
    delete bare.key;
    await log.append([full, bare]);
    const read = await log.read({ limit: 10 });
    expect(read.map((e) => e.seq)).toEqual([1, 2]);
    expect(read[0]).toEqual({ ...full, seq: 1 });
    expect(read[1]).toEqual({ ...bare, seq: 2 });
    expect(appends).toBe(1);
  });

  it('appends idempotently by event id: a replayed event is stored once', async () => {
    const once = event();
    await log.append([once]);
    await log.append([once, event()]);
    expect(await log.append([once])).toBe(0);
    const read = await log.read({ limit: 10 });
    expect(read.filter((e) => e.id === once.id)).toHaveLength(1);
    expect(read).toHaveLength(2);
  });

  it('never reuses a seq, even after the newest rows are gone', async () => {
    await log.append([event(), event()]);
    database.sqlite.prepare('DELETE FROM events WHERE seq = 2').run();
    await log.append([event()]);
    expect((await log.read({ limit: 10 })).map((e) => e.seq)).toEqual([1, 3]);
  });

  it('filters by cursor, account, type, bucket, key prefix and time', async () => {
    await log.append([
      event({ key: 'docs/a.txt', time: '2026-03-01T10:00:00.000Z' }),
      event({ key: 'Docs/b.txt', time: '2026-03-02T10:00:00.000Z' }),
      event({ key: 'docs/c.txt', type: 'object.deleted', time: '2026-03-03T10:00:00.000Z' }),
      event({ key: 'docs/d.txt', bucket: 'other', time: '2026-03-04T10:00:00.000Z' }),
      event({ key: 'docs/e.txt', accountId: 'account-b', time: '2026-03-05T10:00:00.000Z' }),
    ]);
    const keys = async (query: Parameters<typeof log.read>[0]) => (await log.read(query)).map((e) => e.key);
    expect(await keys({ limit: 10, afterSeq: 3 })).toEqual(['docs/d.txt', 'docs/e.txt']);
    expect(await keys({ limit: 2 })).toEqual(['docs/a.txt', 'Docs/b.txt']);
    expect(await keys({ limit: 10, accountId: 'account-b' })).toEqual(['docs/e.txt']);
    expect(await keys({ limit: 10, types: ['object.deleted'] })).toEqual(['docs/c.txt']);
    expect(await keys({ limit: 10, accountId: 'account-a', bucket: 'photos' })).toEqual(['docs/a.txt', 'Docs/b.txt', 'docs/c.txt']);
    // Case-sensitive, like S3 keys.
    expect(await keys({ limit: 10, keyPrefix: 'docs/' })).toEqual(['docs/a.txt', 'docs/c.txt', 'docs/d.txt', 'docs/e.txt']);
    expect(await keys({ limit: 10, keyPrefix: '%' })).toEqual([]);
    expect(await keys({ limit: 10, from: new Date('2026-03-02T00:00:00Z'), to: new Date('2026-03-03T10:00:00Z') })).toEqual(['Docs/b.txt', 'docs/c.txt']);
  });

  it('keeps each subscriber cursor, and never moves one back', async () => {
    expect(await log.cursor('activity')).toBe(0);
    await log.setCursor('activity', 5);
    await log.setCursor('webhooks', 2);
    await log.setCursor('activity', 3);
    expect(await log.cursor('activity')).toBe(5);
    expect(await log.cursor('webhooks')).toBe(2);
  });

  it('append joins the caller transaction: a rolled-back change leaves no event and wakes nobody', async () => {
    const lost = event();
    await expect(
      database.transaction(async () => {
        await log.append([lost]);
        throw new Error('the row change failed');
      }),
    ).rejects.toThrow('the row change failed');
    expect(database.sqlite.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 0 });
    expect(appends).toBe(0);
  });

  it('wakes after the commit of the transaction it joined, not before', async () => {
    await database.transaction(async () => {
      await log.append([event()]);
      expect(appends).toBe(0);
    });
    expect(appends).toBe(1);
  });
});
