/**
 * Issue #12: what one 4 KiB PUT costs the databases, counted in statements and transactions
 * (better-sqlite3's `verbose` on both connections: the metadata database and the fs index), with
 * the relay and the dispatcher's deliveries that follow it (activity, Time Machine). Upper
 * bounds, so a change that puts a query back on the write path fails here rather than only in a
 * benchmark. Counts, not time: the figures do not depend on the machine.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';

const BODY = Buffer.alloc(4096, 7);

interface Tally {
  statements: number;
  transactions: number;
  /** Transactions that wrote: explicit ones plus writes outside them (each its own transaction: WAL frames, locks). */
  writes: number;
  texts: string[];
}

function createTally(): Tally & { trace(sql: unknown): void; reset(): void } {
  const tally = {
    statements: 0,
    transactions: 0,
    writes: 0,
    texts: [] as string[],
    inTransaction: false,
    trace(sql: unknown) {
      const text = String(sql);
      tally.statements++;
      if (/^BEGIN/i.test(text)) {
        tally.transactions++;
        tally.writes++;
        tally.inTransaction = true;
      } else if (/^(COMMIT|ROLLBACK)/i.test(text)) tally.inTransaction = false;
      else if (!tally.inTransaction && /^(INSERT|UPDATE|DELETE|REPLACE)/i.test(text)) tally.writes++;
      tally.texts.push(text);
    },
    reset() {
      tally.statements = 0;
      tally.transactions = 0;
      tally.writes = 0;
      tally.texts = [];
    },
  };
  return tally;
}

describe('statements per 4 KiB PUT (fs backend, SQLite metadata)', () => {
  const metadata = createTally();
  const index = createTally();
  let server: TestServer;
  let account: TestAccount;
  let client: S3Client;

  /** Runs `work`, lets the relay and every subscriber finish, and returns what both databases ran meanwhile. */
  async function measure(work: () => Promise<unknown>) {
    await server.running.core.events.flush();
    metadata.reset();
    index.reset();
    await work();
    await server.running.core.events.flush();
    const result = {
      accountQueries: metadata.texts.filter((text) => /from "(users|buckets)"/.test(text)).length,
      metadata: { statements: metadata.statements, transactions: metadata.transactions, writes: metadata.writes },
      index: { statements: index.statements, transactions: index.transactions, writes: index.writes, texts: [...index.texts] },
    };
    // On failure the texts say which statement came back.
    if (process.env.PUT_STATEMENTS_DEBUG) console.log(JSON.stringify({ result, metadata: metadata.texts, index: index.texts }, null, 1));
    return result;
  }

  const put = (key: string) => client.send(new PutObjectCommand({ Bucket: 'default', Key: key, Body: BODY }));

  beforeAll(async () => {
    // Only the metadata database is counted here: the statement texts are SQLite's.
    if (process.env.CS_TEST_DATABASE === 'postgres') return;
    server = await startTestServer({ TIME_MACHINE_DEFAULT: false }, { traceSql: { metadata: metadata.trace, backend: index.trace } });
    account = await server.createAccount();
    client = server.client(account);
    // Warm every cache a request fills once (keys, bucket resolution, quota figures).
    await put('warm');
    await put('warm');
  });
  afterAll(async () => {
    client?.destroy();
    await server?.close();
  });

  it('a new key, then an overwrite, each with its relay and deliveries', async () => {
    const created = await measure(() => put('one'));
    const overwritten = await measure(() => put('one'));
    const counts = ({ index: { texts: _texts, ...index }, ...rest }: typeof created) => ({ ...rest, index });
    console.log('statements per PUT', JSON.stringify({ created: counts(created), overwritten: counts(overwritten) }));
    for (const figures of [created, overwritten]) {
      // The quota's reads (the account's quota, its bucket list) come from caches.
      expect(figures.accountQueries).toBe(0);
      expect(figures.metadata.statements).toBeLessThanOrEqual(METADATA_STATEMENTS);
      expect(figures.metadata.transactions).toBeLessThanOrEqual(METADATA_TRANSACTIONS);
      // The relay's append, the activity insert, and every subscriber's cursor advance together.
      expect(figures.metadata.writes).toBeLessThanOrEqual(METADATA_WRITES);
      expect(figures.index.transactions).toBeLessThanOrEqual(INDEX_TRANSACTIONS);
      expect(figures.index.writes).toBeLessThanOrEqual(INDEX_WRITES);
    }
    expect(created.index.statements).toBeLessThanOrEqual(INDEX_STATEMENTS_NEW_KEY);
    // An overwrite's admission starts from the reservation's measurement (no second lookup), and a
    // body of the same size changes no usage counter and rewrites the replaced body in place.
    expect(overwritten.index.statements).toBeLessThanOrEqual(INDEX_STATEMENTS_OVERWRITE);
    expect(overwritten.index.texts.filter((text) => /^UPDATE buckets|^INSERT INTO inline_bodies|^DELETE FROM inline_bodies/.test(text))).toEqual([]);
  });

  it('16 concurrent PUTs share relay and delivery work', async () => {
    const figures = await measure(() => Promise.all(Array.from({ length: 16 }, (_, i) => put(`many/${i}`))));
    console.log('statements per 16 concurrent PUTs', JSON.stringify({ ...figures, index: { statements: figures.index.statements, transactions: figures.index.transactions } }));
    expect(figures.accountQueries).toBe(0);
    // How many PUTs share a relay pass and a delivery depends on timing: a loose bound only.
    expect(figures.metadata.statements).toBeLessThanOrEqual(16 * METADATA_STATEMENTS);
    expect(figures.index.statements).toBeLessThanOrEqual(16 * INDEX_STATEMENTS_NEW_KEY);
  });
});

// Bounds: measured 12–13 metadata statements (2 transactions: the relay's append, the activity
// insert; 3 writes with the subscribers' cursor advances, made together in one upsert) per PUT
// (13–14 until the ACL store's data_version question was answered from the WAL-index header when
// nobody committed; before the dispatcher read and advanced its subscribers' cursors together:
// 15–16 and 4 writes).
// Index statements (2 writes: the write's transaction, the relay's ack, one DELETE): 11–12 for a
// new key, 10–11 for an overwrite by as many bytes. Before, for a new key / an overwrite: 12–13 /
// 11–12 until the relay acked a batch with one DELETE instead of BEGIN, one per entry, COMMIT;
// 14–15 / – until a new key's admission reused the reservation's lookup (which now says whether an
// object is there); 17 / 16 until the admission reused the reservation's estimate, the journal
// stopped asking its synchronous level, an unchanged usage skipped its UPDATE and the commit read
// the bucket's state with the replaced row; 20–21 / 18–20 before the quota caches and
// replacedByWrite's small row. A statement of room beyond that for a relay timer that fires one
// more (empty) pass.
const METADATA_STATEMENTS = 14;
const METADATA_TRANSACTIONS = 2;
const METADATA_WRITES = 3;
const INDEX_STATEMENTS_NEW_KEY = 13;
const INDEX_STATEMENTS_OVERWRITE = 12;
const INDEX_TRANSACTIONS = 1;
const INDEX_WRITES = 2;
