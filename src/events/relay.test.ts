import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { newEventId } from '../ids.ts';
import { createFsBackend, type FsBackend } from '../storage/fs/fs-backend.ts';
import { bodyOf } from '../storage/storage-backend.contract.ts';
import type { EventJournal, JournalEntry } from '../storage/storage-backend.ts';
import { createEventLogRepository, type EventLogRepository } from './event-log.repository.ts';
import type { DomainEvent, JournalHook } from './events.ts';
import { createEventRelay } from './relay.ts';
import { manualTimers } from './timers.ts';

const created: JournalHook = (facts) => [
  {
    id: newEventId(),
    type: facts.replaced ? 'object.updated' : 'object.created',
    time: new Date().toISOString(),
    accountId: 'acct',
    actor: { kind: 'key', id: 'CSKEY' },
    bucket: 'b',
    key: facts.key,
    ...(facts.size !== undefined ? { size: facts.size } : {}),
  },
];

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('event relay', () => {
  let dir: string;
  let database: DatabaseHandle;
  let log: EventLogRepository;
  let backend: FsBackend;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cs-relay-'));
    database = openDatabase(join(dir, 'cloudstorage.sqlite'));
    log = createEventLogRepository({ database });
    backend = await createFsBackend({ dataDir: join(dir, 'objects'), fsync: false });
    await backend.createBucket('b');
  });

  afterEach(async () => {
    await backend.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (key: string, hook: JournalHook = created) => backend.putObject({ bucket: 'b', key, body: bodyOf('x'), size: 1, metadata: { userMetadata: {} }, journal: hook });
  const logged = async () => (await log.read({ limit: 100 })).map((event) => event.key);

  it('moves journaled events into the log at start, then acks them', async () => {
    await put('one');
    await put('two');
    const relay = createEventRelay({ journal: backend.local.journal, eventLog: log, intervalMs: 0 });
    await relay.start();
    expect(await logged()).toEqual(['one', 'two']);
    expect(await backend.local.journal.readJournal(10)).toEqual([]);
    await relay.close();
  });

  it('relays soon after each journaled commit, coalescing a burst into few passes', async () => {
    let appends = 0;
    const relay = createEventRelay({
      journal: backend.local.journal,
      eventLog: {
        append: async (events) => {
          appends++;
          await log.append(events);
        },
      },
      intervalMs: 0,
    });
    await relay.start();
    await Promise.all(['a', 'b', 'c', 'd'].map((key) => put(key)));
    // No drain call: the journal's notification alone brings the events (a few turns later).
    for (let turn = 0; turn < 100 && (await logged()).length < 4; turn++) await nextTurn();
    expect((await logged()).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(appends).toBeLessThan(4);
    await relay.close();
  });

  it('keeps each event once when a crash falls between the append and the ack', async () => {
    await put('survivor');
    const crashing = createEventRelay({
      journal: backend.local.journal,
      eventLog: {
        append: async (events) => {
          await log.append(events);
          throw new Error('killed before the ack');
        },
      },
      intervalMs: 0,
    });
    await expect(crashing.drain()).rejects.toThrow('killed before the ack');
    await crashing.close();
    expect(await backend.local.journal.readJournal(10)).toHaveLength(1);
    // The next process relays the same entry again: the log's append ignores the known id.
    const restarted = createEventRelay({ journal: backend.local.journal, eventLog: log, intervalMs: 0 });
    await restarted.start();
    expect(await logged()).toEqual(['survivor']);
    expect(await backend.local.journal.readJournal(10)).toEqual([]);
    await restarted.close();
  });

  it('two relays over one journal (two processes, one DATA_DIR) log each event once', async () => {
    for (let i = 0; i < 20; i++) await put(`k${i}`);
    const first = createEventRelay({ journal: backend.local.journal, eventLog: log, intervalMs: 0, batchSize: 3 });
    const second = createEventRelay({ journal: backend.local.journal, eventLog: log, intervalMs: 0, batchSize: 7 });
    await Promise.all([first.drain(), second.drain()]);
    expect(await logged()).toHaveLength(20);
    expect(new Set(await logged()).size).toBe(20);
    await Promise.all([first.close(), second.close()]);
  });

  it('an append failure leaves the events journaled; the safety-net timer moves them later', async () => {
    // A journal that never notifies, like entries written by another process.
    const entries: JournalEntry[] = [];
    const quietJournal: EventJournal = {
      readJournal: async (limit) => entries.slice(0, limit),
      ackJournal: async (seqs) => {
        for (const seq of seqs)
          entries.splice(
            entries.findIndex((entry) => entry.seq === seq),
            1,
          );
      },
      onJournaled: () => () => undefined,
    };
    const timers = manualTimers();
    let failing = true;
    let ticks = 0;
    const relay = createEventRelay({
      journal: quietJournal,
      eventLog: {
        append: async (events: DomainEvent[]) => {
          if (failing) throw new Error('database is locked');
          await log.append(events);
        },
      },
      intervalMs: 10_000,
      onTick: () => ticks++,
      timers,
    });
    entries.push({ seq: 1, event: created({ key: 'late', replaced: false })[0]! });
    await relay.start(); // fails quietly: logged, retried by the timer
    expect(entries).toHaveLength(1);
    expect(timers.pending()).toEqual([10_000]);
    failing = false;
    timers.fireAll();
    await relay.drain();
    expect(await logged()).toEqual(['late']);
    expect(entries).toEqual([]);
    expect(ticks).toBe(1);
    expect(timers.pending()).toEqual([10_000]);
    await relay.close();
    expect(timers.pending()).toEqual([]);
  });
});
