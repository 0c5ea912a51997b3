import type { Logger } from '../logger.ts';
import type { EventJournal } from '../storage/storage-backend.ts';
import type { EventLog } from './events.ts';
import { realTimers, type Timers } from './timers.ts';

export interface EventRelayOptions {
  /** The backend's journal (events written in its commit transactions). */
  journal: EventJournal;
  /** Must be idempotent by event id: a crash between append and ack moves an entry twice. */
  eventLog: Pick<EventLog, 'append'>;
  /** Period of the safety-net pass (a missed notification, another process's journal entries); 0: none. */
  intervalMs: number;
  /** Also called on every safety-net tick, whether or not anything moved (wakes the dispatcher for other processes' appends). */
  onTick?: () => void;
  batchSize?: number;
  /**
   * How long a notification waits for others before the pass runs (0: at once). Relaying each
   * commit on its own costs every write two more transactions (append, ack) and a dispatch; a
   * few milliseconds let concurrent writes share them. Durability does not depend on it: the
   * journal entry is committed with the change.
   */
  coalesceMs?: number;
  timers?: Timers;
  logger?: Logger;
}

export type EventRelay = ReturnType<typeof createEventRelay>;

/**
 * Moves journaled events from the storage backend's journal into the event log, then acks them:
 * append first, ack after, so a crash in between replays the entries and the log's
 * idempotent append (by event id) keeps each event once. Several processes sharing a DATA_DIR
 * may relay the same entries concurrently for the same reason.
 *
 * Runs when told (`notify`: after each journaled commit; calls during a pass coalesce into one
 * more pass), at start (`drain`, before serving), and on a slow timer as a safety net.
 */
export function createEventRelay(options: EventRelayOptions) {
  const timers = options.timers ?? realTimers;
  const batchSize = options.batchSize ?? 256;
  let running: Promise<number> | undefined;
  let again = false;
  let closed = false;
  let timer: unknown;

  /** One pass: until the journal is empty. Returns the number of entries moved. */
  async function pass(): Promise<number> {
    let moved = 0;
    for (;;) {
      const entries = await options.journal.readJournal(batchSize);
      if (entries.length === 0) return moved;
      await options.eventLog.append(entries.map((entry) => entry.event));
      await options.journal.ackJournal(entries.map((entry) => entry.seq));
      moved += entries.length;
      if (entries.length < batchSize) return moved;
    }
  }

  /** Runs passes until no notification arrived during the last one; shares a run in progress. */
  function drain(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let moved = 0;
      try {
        do {
          again = false;
          moved += await pass();
        } while (again && !closed);
        return moved;
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  let coalescing: unknown;
  function notify(): void {
    if (closed) return;
    const coalesceMs = options.coalesceMs ?? 0;
    if (coalesceMs > 0) {
      if (coalescing !== undefined) return;
      coalescing = timers.setTimeout(() => {
        coalescing = undefined;
        runNow();
      }, coalesceMs);
      return;
    }
    runNow();
  }

  function runNow(): void {
    if (closed) return;
    drain().catch((error: unknown) => {
      // Entries stay journaled; the next notification or the safety-net tick moves them.
      options.logger?.warn('event relay failed; will retry', { error: error instanceof Error ? error.message : String(error) });
    });
  }

  function arm(): void {
    if (closed || options.intervalMs <= 0) return;
    timer = timers.setTimeout(() => {
      timer = undefined;
      notify();
      options.onTick?.();
      arm();
    }, options.intervalMs);
  }

  const unsubscribe = options.journal.onJournaled(notify);

  return {
    drain,
    notify,
    /** The start pass (journal entries a crash left behind), then the safety-net timer. A failure is logged: the timer retries. */
    async start(): Promise<void> {
      try {
        await drain();
      } catch (error) {
        options.logger?.warn('event relay failed at start; will retry', { error: error instanceof Error ? error.message : String(error) });
      }
      arm();
    },
    async close(): Promise<void> {
      closed = true;
      unsubscribe();
      timers.clearTimeout(timer);
      if (coalescing !== undefined) timers.clearTimeout(coalescing);
      await running?.catch(() => undefined);
    },
  };
}
