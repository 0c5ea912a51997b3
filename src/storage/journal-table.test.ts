import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { objectCreatedEvent } from '../events/events.fixtures.ts';
import { createJournalTable } from './journal-table.ts';

describe('journal table (SQLite)', () => {
  it('acks exactly the entries named, in one statement, and keeps the order of the rest', async () => {
    const statements: string[] = [];
    const db = new Database(':memory:', { verbose: (sql) => statements.push(String(sql)) });
    try {
      const journal = createJournalTable(db);
      for (const key of ['a', 'b', 'c', 'd']) db.transaction(() => journal.record(() => [objectCreatedEvent(key)], { key } as never))();
      const entries = await journal.readJournal(10);
      expect(entries.map((entry) => entry.event.key)).toEqual(['a', 'b', 'c', 'd']);
      statements.length = 0;
      await journal.ackJournal([entries[0]!.seq, entries[2]!.seq]);
      // (A database syncing FULL lowers it around the ack: an ack needs no fsync of its own.)
      expect(statements.filter((sql) => !sql.startsWith('PRAGMA'))).toEqual([
        'DELETE FROM journal WHERE seq IN (SELECT value FROM json_each(?))'.replace('?', `'[${entries[0]!.seq},${entries[2]!.seq}]'`),
      ]);
      expect((await journal.readJournal(10)).map((entry) => entry.event.key)).toEqual(['b', 'd']);
      // Acking what is already gone (another process relayed it) is harmless.
      await journal.ackJournal([entries[0]!.seq, entries[1]!.seq]);
      expect((await journal.readJournal(10)).map((entry) => entry.event.key)).toEqual(['d']);
    } finally {
      db.close();
    }
  });
});
