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
 * A subscriber's delivery claim (DatabaseHandle.tryHold) must not take a connection out of the
 * request pool: with DATABASE_POOL_MAX no larger than the number of subscribers, the claims would
 * hold every connection and the deliveries they guard could never run a query.
 */
describe('event dispatch on a small PostgreSQL pool', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('delivers to every subscriber with DATABASE_POOL_MAX=1, and a held claim leaves the pool to requests', async () => {
    const db = await createTestDatabase(sharedPostgresUrl());
    cleanups.push(() => db.drop());
    const database = await openPostgresDatabase({ url: db.url, poolMax: 1, connectTimeoutMs: 1_000 });
    cleanups.push(() => database.close());
    const log = createEventLogRepository({ database });
    const seen: Record<string, string[]> = { first: [], second: [] };
    const subscriber = (name: string): Subscriber => ({
      name,
      async handle(events: StoredEvent[]) {
        seen[name]!.push(...events.map((stored) => stored.key!));
      },
    });
    const dispatcher = createEventDispatcher({ eventLog: log, cursors: log, timers: manualTimers() });
    cleanups.push(() => dispatcher.close());
    dispatcher.register(subscriber('first'));
    dispatcher.register(subscriber('second'));
    await log.append([event('a'), event('b')]);
    await dispatcher.flush();
    expect(seen).toEqual({ first: ['a', 'b'], second: ['a', 'b'] });
    expect(await log.cursor('first')).toBe(await log.lastSeq());

    // While a claim is held, the one pooled connection still answers queries.
    const release = await database.tryHold('held-by-test');
    expect(release).toBeDefined();
    try {
      expect(await database.ping()).toBe(true);
      expect(await log.lastSeq()).toBeGreaterThan(0);
    } finally {
      await release!();
    }
  });
});
