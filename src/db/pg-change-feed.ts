import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import type { ChangeWatcher } from './change-watcher.ts';

/** One channel for every kind of change; the payload says which and who sent it. */
const CHANNEL = 'cloudstorage_changes';

export type ChangeKind = 'metadata' | 'events';

/**
 * Changes made by one gateway process reach every other process sharing the PostgreSQL database
 * through LISTEN/NOTIFY: a revoked key or a deactivated account drops the caches of every gateway
 * within milliseconds, with no polling of the database on the hot path. Chosen over Redis pub/sub
 * because the database is the one thing every gateway has (REDIS_URL stays optional) and it
 * delivers NOTIFY to every listening session.
 *
 * A notification can be missed only while a process's listening connection is down (the database
 * restarting, a network cut): every reconnection therefore counts as "anything may have changed"
 * and drops every cache, so caches stay correct across a database restart.
 *
 * The listening connection is one dedicated client per process, outside the request pool.
 */
export function createPostgresChangeFeed(options: {
  connectionString: string;
  /** Sends NOTIFY (through the process's pool). */
  notify: (channel: string, payload: string) => Promise<unknown>;
  logger?: Logger;
  /** First and longest pause between reconnection attempts. */
  reconnect?: { initialMs: number; maxMs: number };
  /**
   * False: publish only, no listening connection (a process that lives for one command, the CLI:
   * the gateways must hear of its changes; it need not hear of theirs).
   */
  listen?: boolean;
}) {
  const self = randomUUID();
  const listeners: Record<ChangeKind, Set<() => void>> = { metadata: new Set(), events: new Set() };
  const reconnect = options.reconnect ?? { initialMs: 100, maxMs: 2_000 };
  let client: pg.Client | undefined;
  let closed = false;
  let attempts = 0;
  let timer: NodeJS.Timeout | undefined;
  let connectedOnce = false;
  let ready!: () => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });

  const fire = (kind: ChangeKind) => {
    for (const listener of listeners[kind]) {
      try {
        listener();
      } catch (error) {
        options.logger?.warn('change listener failed', { error: error instanceof Error ? error.message : String(error) });
      }
    }
  };
  const fireAll = () => {
    fire('metadata');
    fire('events');
  };

  const scheduleReconnect = () => {
    if (closed || timer !== undefined) return;
    const delay = Math.min(reconnect.initialMs * 2 ** Math.min(attempts, 10), reconnect.maxMs);
    attempts++;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    timer.unref();
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.connectionString });
    next.on('error', (error) => {
      options.logger?.warn('database change feed connection lost; reconnecting', { error: error.message });
      if (client === next) client = undefined;
      void next.end().catch(() => undefined);
      scheduleReconnect();
    });
    next.on('end', () => {
      if (client === next) {
        client = undefined;
        scheduleReconnect();
      }
    });
    next.on('notification', (message) => {
      if (message.channel !== CHANNEL || message.payload === undefined) return;
      const [kind, sender] = message.payload.split(':');
      if (sender === self) return;
      if (kind === 'metadata' || kind === 'events') fire(kind);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      void next.end().catch(() => undefined);
      if (!closed) {
        options.logger?.warn('database change feed cannot connect; retrying', { error: error instanceof Error ? error.message : String(error) });
        scheduleReconnect();
      }
      ready();
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    // Whatever changed while no notification could arrive is unknown: every cache starts over.
    // That includes a first connection that failed before: the process already served (and
    // cached) without it.
    const missed = connectedOnce || attempts > 0;
    attempts = 0;
    connectedOnce = true;
    if (missed) fireAll();
    ready();
  }

  if (options.listen === false) ready();
  else void connect();

  /** This process changed something: its own listeners now, every other process's through NOTIFY. */
  const publish = (kind: ChangeKind): void => {
    fire(kind);
    options.notify(CHANNEL, `${kind}:${self}`).catch((error: unknown) => {
      // The change itself committed; the others learn of it when their feed reconnects
      // (a database that refuses NOTIFY is one that is going down).
      options.logger?.warn('change notification not sent', { error: error instanceof Error ? error.message : String(error) });
    });
  };

  return {
    /** Resolves once the first connection attempt has ended (listening, or retrying in the background). */
    started,
    /** Whether the listening connection is up (health). */
    listening: () => client !== undefined,
    subscribe(kind: ChangeKind, listener: () => void): void {
      listeners[kind].add(listener);
    },
    publish,
    /** The ChangeWatcher of the metadata caches over this feed. */
    watcher(): ChangeWatcher {
      return {
        subscribe: (listener) => listeners.metadata.add(listener),
        notify: () => publish('metadata'),
        close: () => {},
      };
    },
    async close(): Promise<void> {
      closed = true;
      clearTimeout(timer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}

export type PostgresChangeFeed = ReturnType<typeof createPostgresChangeFeed>;
