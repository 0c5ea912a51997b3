import type { Logger } from '../logger.ts';
import type { EventLog, StoredEvent, Subscriber } from './events.ts';
import { realTimers, type Timers } from './timers.ts';

/** Where subscribers' positions persist (the `event_cursors` table). */
export interface CursorStore {
  cursor(subscriber: string): Promise<number>;
  setCursor(subscriber: string, seq: number): Promise<void>;
  /** Every stored cursor in one read; when present, subscribers reading in one turn share it. */
  cursors?(): Promise<Map<string, number>>;
  /** Several advances in one write; when present, advances made in one turn go together. */
  setCursors?(advances: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Takes the subscriber's delivery for this process until release; undefined when another
   * process (a gateway on another host) is delivering it now: that one reads to the end of the log.
   */
  claim?(subscriber: string): Promise<(() => Promise<void>) | undefined>;
}

export interface EventDispatcherOptions {
  eventLog: Pick<EventLog, 'read'>;
  cursors: CursorStore;
  batchSize?: number;
  /** Backoff of a failing subscriber: doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs: number; maxMs: number };
  timers?: Timers;
  logger?: Logger;
}

export type EventDispatcher = ReturnType<typeof createEventDispatcher>;

interface SubscriberState {
  subscriber: Subscriber;
  running?: Promise<void>;
  again: boolean;
  failures: number;
  /** Armed while the subscriber backs off after a failure. */
  retryTimer?: unknown;
}

/**
 * Delivers the event log to subscribers in `seq` order, each from its own persisted cursor, at
 * least once: the cursor advances only after `handle` resolved, so a crash (or a failure) replays
 * the batch. Each subscriber runs on its own: a failing one backs off and retries without holding
 * up the others. Woken after appends (`wake`, coalesced and deferred to the next turn of the event
 * loop, so a wake from inside a database transaction never reads before its commit).
 */
export function createEventDispatcher(options: EventDispatcherOptions) {
  const timers = options.timers ?? realTimers;
  const batchSize = options.batchSize ?? 100;
  const retry = options.retry ?? { initialMs: 1_000, maxMs: 60_000 };
  const states = new Map<string, SubscriberState>();
  let closed = false;
  let wakeScheduled = false;
  /**
   * Reads of the log since the last wake, by cursor: the subscribers usually stand at the same
   * cursor, so one read (and one mapping of its rows) serves all of them. Dropped at every wake
   * (something was appended: a new read is due) and at every flush. A subscriber served an older
   * read misses nothing: each append wakes the dispatcher again afterwards (`again`), and that
   * pass reads afresh. The arrays are shared: subscribers treat them as read-only.
   */
  let reads = new Map<number, Promise<StoredEvent[]>>();
  const readAfter = (cursor: number): Promise<StoredEvent[]> => {
    let read = reads.get(cursor);
    if (read === undefined) {
      read = options.eventLog.read({ afterSeq: cursor, limit: batchSize });
      // A failed read is not kept: the retry reads again.
      read.catch(() => reads.delete(cursor));
      if (reads.size >= 64) reads = new Map();
      reads.set(cursor, read);
    }
    return read;
  };

  /**
   * Cursor reads and advances of one turn of the event loop, gathered and sent at its end as one
   * read and one write: subscribers woken together (activity, Time Machine, webhooks, …) read
   * and advance together, so a delivery costs one cursor read and one write transaction (WAL
   * frames, file locks) instead of one each. Only an advance whose `handle` resolved is queued,
   * and each subscriber waits for its own to be written before it reads on, so delivery stays at
   * least once and in order; a failing subscriber queues nothing and holds up no one. A failed
   * write fails every subscriber of that batch (each backs off and replays from its stored cursor).
   */
  const { cursors } = options;
  let pendingRead: Promise<Map<string, number>> | undefined;
  const readCursor = (name: string): Promise<number> => {
    if (!cursors.cursors) return cursors.cursor(name);
    pendingRead ??= new Promise<Map<string, number>>((resolve, reject) => {
      setImmediate(() => {
        pendingRead = undefined;
        cursors.cursors!().then(resolve, reject);
      });
    });
    return pendingRead.then((all) => all.get(name) ?? 0);
  };
  let pendingAdvances: { advances: Map<string, number>; written: Promise<void> } | undefined;
  const advanceCursor = (name: string, seq: number): Promise<void> => {
    if (!cursors.setCursors) return cursors.setCursor(name, seq);
    if (pendingAdvances === undefined) {
      const batch = { advances: new Map<string, number>(), written: undefined as unknown as Promise<void> };
      batch.written = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          pendingAdvances = undefined;
          cursors.setCursors!(batch.advances).then(resolve, reject);
        });
      });
      pendingAdvances = batch;
    }
    const { advances } = pendingAdvances;
    advances.set(name, Math.max(seq, advances.get(name) ?? 0));
    return pendingAdvances.written;
  };

  async function deliver(state: SubscriberState): Promise<void> {
    const release = cursors.claim ? await cursors.claim(state.subscriber.name) : async () => {};
    if (release === undefined) return;
    try {
      await deliverClaimed(state);
    } finally {
      await release();
    }
  }

  async function deliverClaimed(state: SubscriberState): Promise<void> {
    const { subscriber } = state;
    for (;;) {
      // Read from the database each batch: another process may share the cursor (one DATA_DIR).
      const cursor = await readCursor(subscriber.name);
      const events = await readAfter(cursor);
      if (events.length === 0 || closed) return;
      await subscriber.handle(events);
      await advanceCursor(subscriber.name, events[events.length - 1]!.seq);
      if (events.length < batchSize) return;
    }
  }

  function run(state: SubscriberState): Promise<void> {
    if (closed || state.retryTimer !== undefined) return state.running ?? Promise.resolve();
    if (state.running) {
      state.again = true;
      return state.running;
    }
    state.running = (async () => {
      try {
        do {
          state.again = false;
          await deliver(state);
        } while (state.again && !closed);
        state.failures = 0;
      } catch (error) {
        state.failures++;
        const delay = Math.min(retry.initialMs * 2 ** (state.failures - 1), retry.maxMs);
        options.logger?.warn('event subscriber failed; will retry', {
          subscriber: state.subscriber.name,
          failures: state.failures,
          retryInMs: delay,
          error: error instanceof Error ? error.message : String(error),
        });
        if (!closed) {
          state.retryTimer = timers.setTimeout(() => {
            state.retryTimer = undefined;
            void run(state);
          }, delay);
        }
      } finally {
        state.running = undefined;
      }
    })();
    return state.running;
  }

  return {
    register(subscriber: Subscriber): void {
      if (states.has(subscriber.name)) throw new Error(`event subscriber ${subscriber.name} is already registered`);
      const state: SubscriberState = { subscriber, again: false, failures: 0 };
      states.set(subscriber.name, state);
      this.wake();
    },

    /** The names of the registered subscribers (each has its own cursor in the log). */
    subscribers(): string[] {
      return [...states.keys()];
    },

    /** Something was appended: every subscriber not backing off catches up, soon. */
    wake(): void {
      reads = new Map();
      if (wakeScheduled || closed) return;
      wakeScheduled = true;
      setImmediate(() => {
        wakeScheduled = false;
        for (const state of states.values()) void run(state);
      });
    },

    /**
     * Delivers everything in the log now to every subscriber not backing off, and resolves when
     * they are caught up (or have failed and armed a retry). For tests and shutdown.
     */
    async flush(): Promise<void> {
      reads = new Map();
      for (;;) {
        const runs = [...states.values()].map((state) => run(state));
        await Promise.all(runs);
        if (![...states.values()].some((state) => state.running)) return;
      }
    },

    /** Stops retries and waits for deliveries in progress; nothing starts afterwards. */
    async close(): Promise<void> {
      closed = true;
      for (const state of states.values()) {
        timers.clearTimeout(state.retryTimer);
        state.retryTimer = undefined;
      }
      await Promise.all([...states.values()].map((state) => state.running?.catch(() => undefined)));
    },
  };
}
