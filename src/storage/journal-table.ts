import type Database from 'better-sqlite3';
import type { CommitFacts, DomainEvent, JournalHook } from '../events/events.ts';
import type { EventJournal, JournalEntry } from './storage-backend.ts';

/**
 * The event journal of a backend that keeps metadata in its own SQLite database (the fs index,
 * the s3 catalog's SQLite file; s3-catalog.pg.ts has its PostgreSQL twin): a `journal` table
 * written by `record` INSIDE the caller's commit transaction, so a change and its events are
 * durable together. The relay (src/events/relay.ts) moves entries
 * into the event log and acks them. AUTOINCREMENT keeps the journal's order across acks.
 */
export function createJournalTable(db: Database.Database): EventJournal & {
  /** Calls `hook` with what the commit knows and stores the events it returns. Call inside the commit transaction. */
  record(hook: JournalHook | undefined, facts: CommitFacts): void;
} {
  db.exec('CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO journal (event) VALUES (?)');
  const oldest = db.prepare<[number], { seq: number; event: string }>('SELECT seq, event FROM journal ORDER BY seq LIMIT ?');
  // One statement for the whole batch (its own write transaction), not BEGIN, a DELETE per entry
  // and COMMIT: a relay pass acks every entry it moved at once.
  const remove = db.prepare<[string]>('DELETE FROM journal WHERE seq IN (SELECT value FROM json_each(?))');
  // Read once: both owners set their level before creating the journal and never change it, and
  // asking on every ack was one statement more per PUT.
  const level = db.pragma('synchronous', { simple: true }) as number;
  const listeners = new Set<() => void>();
  let notifying = false;
  // Listeners hear of a journaled commit on the next turn of the event loop: by then the
  // synchronous transaction that called `record` has committed (or rolled back, and the relay
  // finds nothing: harmless). Several commits in one turn make one notification.
  const notifySoon = () => {
    if (notifying || listeners.size === 0) return;
    notifying = true;
    setImmediate(() => {
      notifying = false;
      for (const listener of listeners) listener();
    });
  };

  return {
    record(hook, facts) {
      if (!hook) return;
      const events: DomainEvent[] = hook(facts);
      if (events.length === 0) return;
      for (const event of events) insert.run(JSON.stringify(event));
      notifySoon();
    },
    async readJournal(limit: number): Promise<JournalEntry[]> {
      return oldest.all(limit).map((row) => ({ seq: row.seq, event: JSON.parse(row.event) as DomainEvent }));
    },
    async ackJournal(seqs: number[]): Promise<void> {
      if (seqs.length === 0) return;
      // An ack lost to a power cut only makes the relay move those events again (the log ignores
      // known ids), so it needs no fsync of its own: the next durable commit syncs the WAL anyway.
      if (level > 1) db.pragma('synchronous = NORMAL');
      try {
        remove.run(JSON.stringify(seqs));
      } finally {
        if (level > 1) db.pragma(`synchronous = ${level}`);
      }
    },
    onJournaled(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
