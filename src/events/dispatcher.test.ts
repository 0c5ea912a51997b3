import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../db/database.ts';
import { createEventDispatcher } from './dispatcher.ts';
import { createEventLogRepository, type EventLogRepository } from './event-log.repository.ts';
import type { StoredEvent, Subscriber } from './events.ts';
import { objectCreatedEvent } from './events.fixtures.ts';
import { manualTimers } from './timers.ts';

const event = objectCreatedEvent;

/** A subscriber that records what it was handed; `fail` makes the next calls throw. */
function recorder(name: string) {
  const batches: string[][] = [];
  let failures = 0;
  const subscriber: Subscriber = {
    name,
    async handle(events: StoredEvent[]) {
      batches.push(events.map((e) => e.key!));
      if (failures > 0) {
        failures--;
        throw new Error(`${name} is down`);
      }
    },
  };
  return {
    subscriber,
    batches,
    seen: () => batches.flat(),
    fail(times: number) {
      failures = times;
    },
  };
}

describe('event dispatcher', () => {
  let dir: string;
  let database: DatabaseHandle;
  let log: EventLogRepository;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cs-dispatcher-'));
    database = openDatabase(join(dir, 'cloudstorage.sqlite'));
    log = createEventLogRepository({ database });
  });

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function dispatcher(options: { batchSize?: number; timers?: ReturnType<typeof manualTimers> } = {}) {
    const created = createEventDispatcher({
      eventLog: log,
      cursors: log,
      batchSize: options.batchSize,
      timers: options.timers ?? manualTimers(),
      retry: { initialMs: 1_000, maxMs: 4_000 },
    });
    closers.push(() => created.close());
    return created;
  }

  it('delivers the log in seq order, in batches, and persists each cursor', async () => {
    await log.append(['a', 'b', 'c', 'd', 'e'].map(event));
    const sub = recorder('activity');
    const events = dispatcher({ batchSize: 2 });
    events.register(sub.subscriber);
    await events.flush();
    expect(sub.batches).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(await log.cursor('activity')).toBe(5);
  });

  it('wakes on append, and a restarted dispatcher resumes after the persisted cursor', async () => {
    const first = recorder('activity');
    const events = dispatcher();
    events.register(first.subscriber);
    const wakingLog = createEventLogRepository({ database, onAppend: () => events.wake() });
    await wakingLog.append([event('one')]);
    for (let turn = 0; turn < 50 && first.seen().length === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
    await events.flush();
    expect(first.seen()).toEqual(['one']);
    await events.close();

    await log.append([event('two')]);
    const again = recorder('activity');
    const restarted = dispatcher();
    restarted.register(again.subscriber);
    await restarted.flush();
    expect(again.seen()).toEqual(['two']);
  });

  it('redelivers a batch whose handler failed (at least once), retrying with backoff, without holding up others', async () => {
    await log.append([event('x'), event('y')]);
    const timers = manualTimers();
    const flaky = recorder('webhooks');
    const steady = recorder('activity');
    flaky.fail(2);
    const events = dispatcher({ timers });
    events.register(flaky.subscriber);
    events.register(steady.subscriber);
    await events.flush();
    // The healthy subscriber got everything; the failing one backs off, its cursor unmoved.
    expect(steady.seen()).toEqual(['x', 'y']);
    expect(await log.cursor('activity')).toBe(2);
    expect(await log.cursor('webhooks')).toBe(0);
    expect(timers.pending()).toEqual([1_000]);

    // Appends meanwhile reach the healthy subscriber; the backing-off one waits for its timer.
    await log.append([event('z')]);
    await events.flush();
    expect(steady.seen()).toEqual(['x', 'y', 'z']);
    expect(flaky.batches).toEqual([['x', 'y']]);

    timers.fireAll();
    await events.flush();
    expect(timers.pending()).toEqual([2_000]); // doubled
    timers.fireAll();
    await events.flush();
    expect(timers.pending()).toEqual([]);
    // The same batch came again until it was handled (then the rest): each event handled at least once.
    expect(flaky.batches).toEqual([
      ['x', 'y'],
      ['x', 'y', 'z'],
      ['x', 'y', 'z'],
    ]);
    expect(await log.cursor('webhooks')).toBe(3);
  });

  it('subscribers delivering together read their cursors in one read and advance them in one write', async () => {
    await log.append(['a', 'b', 'c'].map(event));
    // The real repository, counted: which cursor calls reach the database.
    const calls: string[] = [];
    const counted = {
      cursor(name: string) {
        calls.push(`cursor ${name}`);
        return log.cursor(name);
      },
      setCursor(name: string, seq: number) {
        calls.push(`setCursor ${name}`);
        return log.setCursor(name, seq);
      },
      cursors() {
        calls.push('cursors');
        return log.cursors();
      },
      setCursors(advances: ReadonlyMap<string, number>) {
        calls.push(`setCursors ${[...advances].map(([name, seq]) => `${name}=${seq}`).join(',')}`);
        return log.setCursors(advances);
      },
    };
    const events = createEventDispatcher({ eventLog: log, cursors: counted, timers: manualTimers() });
    closers.push(() => events.close());
    const subs = ['activity', 'time-machine', 'webhooks'].map(recorder);
    for (const sub of subs) events.register(sub.subscriber);
    await events.flush();
    for (const sub of subs) expect(sub.seen()).toEqual(['a', 'b', 'c']);
    expect(calls).toEqual(['cursors', 'setCursors activity=3,time-machine=3,webhooks=3', 'cursors']);
    expect([...(await log.cursors())].sort()).toEqual([
      ['activity', 3],
      ['time-machine', 3],
      ['webhooks', 3],
    ]);
  });

  it('a failing subscriber adds nothing to the shared advance: its cursor stays, the others move, and it replays later', async () => {
    await log.append([event('x')]);
    const timers = manualTimers();
    const flaky = recorder('webhooks');
    const steady = recorder('activity');
    const other = recorder('time-machine');
    flaky.fail(1);
    const events = dispatcher({ timers });
    for (const sub of [flaky, steady, other]) events.register(sub.subscriber);
    await events.flush();
    expect(await log.cursors()).toEqual(
      new Map([
        ['activity', 1],
        ['time-machine', 1],
      ]),
    );
    timers.fireAll();
    await events.flush();
    expect(flaky.batches).toEqual([['x'], ['x']]);
    expect(await log.cursor('webhooks')).toBe(1);
  });

  it('refuses two subscribers of one name (they would share a cursor)', () => {
    const events = dispatcher();
    events.register(recorder('activity').subscriber);
    expect(() => events.register(recorder('activity').subscriber)).toThrow(/already registered/);
  });

  it('close stops retries', async () => {
    await log.append([event('x')]);
    const timers = manualTimers();
    const flaky = recorder('webhooks');
    flaky.fail(1);
    const events = dispatcher({ timers });
    events.register(flaky.subscriber);
    await events.flush();
    expect(timers.pending()).toEqual([1_000]);
    await events.close();
    expect(timers.pending()).toEqual([]);
  });
});
