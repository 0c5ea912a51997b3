import { beforeAll, expect, test } from 'vitest';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createEventLogRepository, type EventLogRepository } from './event-log.repository.ts';
import type { DomainEvent } from './events.ts';

/** The event log's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function eventLogRepositoryContract(open: OpenDatabase) {
  let database: DatabaseHandle;
  let log: EventLogRepository;
  let appended = 0;
  beforeAll(async () => {
    database = await open();
    log = createEventLogRepository({
      database,
      onAppend: () => {
        appended++;
      },
    });
  });
  const event = (accountId: string, overrides: Partial<DomainEvent> = {}): DomainEvent => ({
    id: uniqueId('evt'),
    type: 'object.created',
    time: '2026-01-01T00:00:00.000Z',
    accountId,
    actor: { kind: 'key', id: 'AKEXAMPLE' },
    ...overrides,
  });
  const all = (accountId: string) => log.read({ accountId, limit: 1_000 });

  test('every fact round-trips: sizes beyond 2^32, JSON detail, unicode and NUL in keys; absent facts stay absent', async () => {
    const account = uniqueId('acct');
    const full = event(account, {
      type: 'object.deleted',
      clientAddress: '2001:db8::1',
      bucket: 'photos',
      key: 'été/\u0000raw\u0001/😀.jpg',
      size: 6 * 2 ** 32 + 3,
      etag: '"d41d8cd98f00b204e9800998ecf8427e-2"',
      contentType: 'image/jpeg; charset=utf-8',
      versionId: 'v1',
      detail: { deleteMarker: true, trashed: false, trashId: 't-1', nested: { list: [1, 'two', null], ratio: 0.5 }, name: 'clé \u0000✓', 'odd\u0000key': '\u0001' },
    });
    const bare = event(account, { actor: { kind: 'system', id: 'cli' } });
    expect(await log.append([full, bare])).toBe(2);
    const [first, second] = await all(account);
    const { seq: _seq, ...stored } = first!;
    expect(stored).toEqual(full);
    expect(second).toEqual({ ...bare, seq: second!.seq });
    expect(Object.keys(second!).sort()).toEqual(['accountId', 'actor', 'id', 'seq', 'time', 'type']);
  });

  test('append is idempotent by event id and numbers new events in append order; the cursor of an empty filter is lastSeq', async () => {
    const account = uniqueId('acct');
    const batch = [event(account), event(account), event(account)];
    expect(await log.append(batch)).toBe(3);
    expect(await log.append([batch[1]!, event(account)])).toBe(1);
    expect(await log.append([])).toBe(0);
    const rows = await all(account);
    expect(rows.map((row) => row.id)).toEqual([...batch.map((row) => row.id), rows[3]!.id]);
    const seqs = rows.map((row) => row.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);
    expect(await log.lastSeq()).toBe(seqs[3]);
  });

  test('concurrent appends (overlapping batches) store each event once, with distinct increasing seqs', async () => {
    const account = uniqueId('acct');
    const events = Array.from({ length: 30 }, () => event(account));
    const batches = Array.from({ length: 6 }, (_, n) => events.slice(n * 4, n * 4 + 10));
    const counts = await Promise.all(batches.map((batch) => log.append(batch)));
    expect(counts.reduce<number>((sum, count) => sum + Number(count), 0)).toBe(30);
    const rows = await all(account);
    expect(rows.map((row) => row.id).sort()).toEqual(events.map((row) => row.id).sort());
    expect(new Set(rows.map((row) => row.seq)).size).toBe(30);
  });

  test('a reader paging by seq while appends run concurrently skips nothing (appends commit in seq order)', async () => {
    const account = uniqueId('acct');
    const events = Array.from({ length: 48 }, () => event(account));
    const seen = new Set<string>();
    let cursor = 0;
    let appending = true;
    const readOnce = async () => {
      for (const row of await log.read({ accountId: account, afterSeq: cursor, limit: 1_000 })) {
        seen.add(row.id);
        cursor = Math.max(cursor, row.seq);
      }
    };
    const reader = (async () => {
      while (appending) await readOnce();
      await readOnce();
    })();
    await Promise.all(Array.from({ length: 12 }, (_, n) => log.append(events.slice(n * 4, n * 4 + 4))));
    appending = false;
    await reader;
    expect(seen.size).toBe(events.length);
  });

  test('read filters: after a seq, by types, bucket, time range (inclusive) and limit, in seq order', async () => {
    const account = uniqueId('acct');
    const events = [
      event(account, { type: 'bucket.created', bucket: 'a', time: '2026-01-01T00:00:00.000Z' }),
      event(account, { type: 'object.created', bucket: 'a', key: 'k', time: '2026-01-02T00:00:00.000Z' }),
      event(account, { type: 'object.deleted', bucket: 'b', key: 'k', time: '2026-01-03T00:00:00.000Z' }),
      event(account, { type: 'object.created', bucket: 'A', key: 'k', time: '2026-01-04T00:00:00.000Z' }),
    ];
    await log.append(events);
    const rows = await all(account);
    const ids = (list: { id: string }[]) => list.map((row) => row.id);
    expect(ids(await log.read({ accountId: account, afterSeq: rows[1]!.seq, limit: 10 }))).toEqual([events[2]!.id, events[3]!.id]);
    expect(ids(await log.read({ accountId: account, types: ['object.created', 'object.deleted'], limit: 10 }))).toEqual([events[1]!.id, events[2]!.id, events[3]!.id]);
    expect(ids(await log.read({ accountId: account, bucket: 'a', limit: 10 }))).toEqual([events[0]!.id, events[1]!.id]);
    expect(ids(await log.read({ accountId: account, from: new Date('2026-01-02T00:00:00.000Z'), to: new Date('2026-01-03T00:00:00.000Z'), limit: 10 }))).toEqual([
      events[1]!.id,
      events[2]!.id,
    ]);
    expect(ids(await log.read({ accountId: account, limit: 2 }))).toEqual([events[0]!.id, events[1]!.id]);
    expect(await log.read({ accountId: uniqueId('nobody'), limit: 10 })).toEqual([]);
  });

  test('keyPrefix is an exact, case-sensitive prefix: %, _ and \\ are plain characters, NUL and unicode match', async () => {
    const account = uniqueId('acct');
    const keys = ['50%/a', '50x/a', 'a_b/c', 'axb/c', 'dir\\sub/f', 'dir\\\\sub/f', 'Photos/1', 'photos/1', '\u0000held\u0000x', '\u0000hidden', 'été/1', 'ete/1'];
    await log.append(keys.map((key) => event(account, { key })));
    const matching = async (keyPrefix: string) => (await log.read({ accountId: account, keyPrefix, limit: 100 })).map((row) => row.key);
    expect(await matching('50%')).toEqual(['50%/a']);
    expect(await matching('a_')).toEqual(['a_b/c']);
    expect(await matching('dir\\s')).toEqual(['dir\\sub/f']);
    expect(await matching('dir\\\\')).toEqual(['dir\\\\sub/f']);
    expect(await matching('photos/')).toEqual(['photos/1']);
    expect(await matching('\u0000held')).toEqual(['\u0000held\u0000x']);
    expect(await matching('\u0000')).toEqual(['\u0000held\u0000x', '\u0000hidden']);
    expect(await matching('été')).toEqual(['été/1']);
    expect(await matching('')).toHaveLength(keys.length);
  });

  test('cursors start at 0 and never move back', async () => {
    const subscriber = uniqueId('sub');
    expect(await log.cursor(subscriber)).toBe(0);
    await log.setCursor(subscriber, 10);
    await log.setCursor(subscriber, 4);
    expect(await log.cursor(subscriber)).toBe(10);
    await log.setCursor(subscriber, 2 ** 33);
    expect(await log.cursor(subscriber)).toBe(2 ** 33);
    await Promise.all([7, 2 ** 33 + 5, 12, 2 ** 33 + 1].map((seq) => log.setCursor(subscriber, seq)));
    expect(await log.cursor(subscriber)).toBe(2 ** 33 + 5);
  });

  test('several cursors are read together and advanced in one write, each never moving back', async () => {
    const [first, second, third] = [uniqueId('sub'), uniqueId('sub'), uniqueId('sub')];
    await log.setCursor(first, 20);
    await log.setCursors(
      new Map([
        [first, 5],
        [second, 2 ** 33],
        [third, 7],
      ]),
    );
    let stored = await log.cursors();
    expect([stored.get(first), stored.get(second), stored.get(third)]).toEqual([20, 2 ** 33, 7]);
    // Concurrent batches over the same subscribers keep the highest of each.
    await Promise.all([
      log.setCursors(
        new Map([
          [first, 30],
          [third, 9],
        ]),
      ),
      log.setCursors(
        new Map([
          [first, 25],
          [third, 11],
        ]),
      ),
    ]);
    stored = await log.cursors();
    expect([stored.get(first), stored.get(second), stored.get(third)]).toEqual([30, 2 ** 33, 11]);
    expect(await log.cursor(third)).toBe(11);
    await log.setCursors(new Map());
  });

  test('an append inside a transaction that rolls back leaves nothing (and tells nobody); a committed one tells onAppend after the commit', async () => {
    const account = uniqueId('acct');
    const before = appended;
    await expect(
      database.transaction(async () => {
        expect(await log.append([event(account)])).toBe(1);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await all(account)).toEqual([]);
    expect(appended).toBe(before);
    let seenInside = -1;
    await database.transaction(async () => {
      await log.append([event(account)]);
      seenInside = appended;
    });
    expect(seenInside).toBe(before);
    expect(appended).toBe(before + 1);
    expect(await all(account)).toHaveLength(1);
  });
}
