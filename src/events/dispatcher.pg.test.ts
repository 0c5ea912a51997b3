import { afterEach, describe, expect, it } from 'vitest';
import { openPostgresDatabase } from '../db/postgres.ts';
import { createTestDatabase, sharedPostgresUrl } from '../../test/support/postgres.ts';
import { createEventDispatcher } from './dispatcher.ts';
import { createEventLogRepository } from './event-log.repository.ts';
import type { StoredEvent, Subscriber } from './events.ts';
import { objectCreatedEvent } from './events.fixtures.ts';
import { manualTimers } from './timers.ts';

const event = objectCreatedEvent;

/**
 * Gateways on several hosts share one event log on PostgreSQL: each runs a dispatcher, and a
 * subscriber's events must still be handled once, in order (the claim: one process delivers a
 * subscriber at a time, from the shared cursor), and appended in commit order (seq).
 */
describe('event dispatch across processes sharing PostgreSQL', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function gateway(url: string, seen: string[], delayMs: number) {
    const database = await openPostgresDatabase({ url, poolMax: 4 });
    const log = createEventLogRepository({ database });
    const subscriber: Subscriber = {
      name: 'recorder',
      async handle(events: StoredEvent[]) {
        // Slow enough that the other process's dispatcher runs while this one delivers.
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        seen.push(...events.map((stored) => stored.key!));
      },
    };
    const dispatcher = createEventDispatcher({ eventLog: log, cursors: log, batchSize: 5, timers: manualTimers() });
    dispatcher.register(subscriber);
    cleanups.push(async () => {
      await dispatcher.close();
      await database.close();
    });
    return { log, dispatcher };
  }

  it('two dispatchers over one log hand each event to the subscriber once, in order', async () => {
    const db = await createTestDatabase(sharedPostgresUrl());
    cleanups.push(() => db.drop());
    const seen: string[] = [];
    const first = await gateway(db.url, seen, 5);
    const second = await gateway(db.url, seen, 5);
    const keys = Array.from({ length: 40 }, (_, index) => `k${String(index).padStart(2, '0')}`);
    // Appends from both processes, concurrently, in small batches.
    await Promise.all(keys.map((key, index) => (index % 2 === 0 ? first : second).log.append([event(key)])));
    await Promise.all([first.dispatcher.flush(), second.dispatcher.flush()]);
    await first.dispatcher.flush();
    await second.dispatcher.flush();
    expect(seen).toHaveLength(keys.length);
    expect(new Set(seen).size).toBe(keys.length);
    // Delivered in seq order: the log's order, whatever order the appends committed in.
    const logged = (await first.log.read({ limit: 100 })).map((stored) => stored.key);
    expect(seen).toEqual(logged);
    expect(await first.log.cursor('recorder')).toBe(await first.log.lastSeq());
  });

  it('appends commit in seq order: a reader following seq never skips an event committed late', async () => {
    const db = await createTestDatabase(sharedPostgresUrl());
    cleanups.push(() => db.drop());
    const database = await openPostgresDatabase({ url: db.url, poolMax: 8 });
    cleanups.push(() => database.close());
    const log = createEventLogRepository({ database });
    // A transaction that appended first but commits last must hold back later appends.
    let finishSlow!: () => void;
    const slowMayCommit = new Promise<void>((resolve) => {
      finishSlow = resolve;
    });
    const slow = database.transaction(async () => {
      await log.append([event('slow')]);
      await slowMayCommit;
    });
    // Give the slow transaction time to take its seq.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fast = log.append([event('fast')]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The fast append waits for the slow one's commit: nothing is visible yet after seq 0.
    expect(await log.read({ limit: 10, afterSeq: 0 })).toEqual([]);
    finishSlow();
    await Promise.all([slow, fast]);
    expect((await log.read({ limit: 10 })).map((stored) => stored.key)).toEqual(['slow', 'fast']);
  });
});
