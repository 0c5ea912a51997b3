import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestDatabase, sharedPostgresUrl, startPostgres, type PostgresCluster } from '../../test/support/postgres.ts';
import { isAppError } from '../errors/app-errors.ts';
import type { Logger } from '../logger.ts';
import { isUniqueViolation } from './database-errors.ts';
import { findMigrationsFolder } from './database.ts';
import { openPostgresDatabase, type PostgresDatabaseHandle } from './postgres.ts';

/** PostgreSQL metadata handle (src/db/postgres.ts) against a real server: the project's cluster, and one of its own for outages. */

const journal = JSON.parse(readFileSync(join(findMigrationsFolder('drizzle-pg'), 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };

function capturingLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields });
  };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

let userSeq = 0;
const newUser = (overrides: Record<string, unknown> = {}) => {
  userSeq++;
  return { id: `u${userSeq}`, email: `u${userSeq}@example.com`, passwordHash: 'x', ...overrides };
};

describe('openPostgresDatabase: migrations', () => {
  test('two processes opening a fresh database at once both succeed and apply each migration once', async () => {
    const database = await createTestDatabase(sharedPostgresUrl());
    try {
      const handles = await Promise.all([1, 2].map(() => openPostgresDatabase({ url: database.url, poolMax: 2 })));
      try {
        const { rows } = await handles[0].pool.query<{ hash: string; n: string }>('SELECT hash, count(*) AS n FROM drizzle.__drizzle_migrations GROUP BY hash');
        expect(rows).toHaveLength(journal.entries.length);
        expect(rows.every((row) => row.n === '1')).toBe(true);
        // A later start finds nothing to do.
        const third = await openPostgresDatabase({ url: database.url, poolMax: 1 });
        await third.close();
        const after = await handles[1].pool.query<{ n: string }>('SELECT count(*) AS n FROM drizzle.__drizzle_migrations');
        expect(Number(after.rows[0].n)).toBe(journal.entries.length);
      } finally {
        await Promise.all(handles.map((handle) => handle.close()));
      }
    } finally {
      await database.drop();
    }
  });
});

describe('openPostgresDatabase: queries and transactions', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let handle: PostgresDatabaseHandle;

  beforeAll(async () => {
    database = await createTestDatabase(sharedPostgresUrl());
    handle = await openPostgresDatabase({ url: database.url, poolMax: 4 });
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const countUsers = async (id: string) => {
    // Through the pool, outside any transaction scope: sees only committed rows.
    const { rows } = await handle.pool.query<{ n: string }>('SELECT count(*) AS n FROM users WHERE id = $1', [id]);
    return Number(rows[0].n);
  };

  test('commit: the row is visible to other connections, then afterCommit hooks run', async () => {
    const { users } = handle.tables;
    const user = newUser();
    let seenByHook: Promise<number> | undefined;
    const result = await handle.transaction(async () => {
      await handle.query((db) => db.insert(users).values(user));
      handle.afterCommit(() => {
        seenByHook = countUsers(user.id);
      });
      expect(await countUsers(user.id)).toBe(0);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await seenByHook).toBe(1);
  });

  test('rollback: a throwing body leaves nothing and its hooks never run', async () => {
    const { users } = handle.tables;
    const user = newUser();
    let hookRan = false;
    await expect(
      handle.transaction(async () => {
        await handle.query((db) => db.insert(users).values(user));
        handle.afterCommit(() => {
          hookRan = true;
        });
        throw new Error('body failed');
      }),
    ).rejects.toThrow('body failed');
    expect(await countUsers(user.id)).toBe(0);
    expect(hookRan).toBe(false);
  });

  test('a nested transaction joins the outer one: rolled back with it, its hooks wait for the outer commit', async () => {
    const { users } = handle.tables;
    const [kept, dropped] = [newUser(), newUser()];
    const order: string[] = [];
    await handle.transaction(async () => {
      await handle.transaction(async () => {
        await handle.query((db) => db.insert(users).values(kept));
        handle.afterCommit(() => order.push('inner hook'));
      });
      order.push('inner returned');
    });
    order.push('outer returned');
    expect(order).toEqual(['inner returned', 'inner hook', 'outer returned']);
    expect(await countUsers(kept.id)).toBe(1);

    await expect(
      handle.transaction(async () => {
        await handle.transaction(async () => {
          await handle.query((db) => db.insert(users).values(dropped));
        });
        throw new Error('outer failed');
      }),
    ).rejects.toThrow('outer failed');
    expect(await countUsers(dropped.id)).toBe(0);
  });

  test('afterCommit outside a transaction runs at once', () => {
    let ran = false;
    handle.afterCommit(() => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  test('lock(): serialises transactions that take the same name; refused outside a transaction', async () => {
    const order: string[] = [];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstLocked!: () => void;
    const locked = new Promise<void>((resolve) => {
      firstLocked = resolve;
    });
    const first = handle.transaction(async () => {
      await handle.lock('account:a');
      order.push('first locked');
      firstLocked();
      await firstHolds;
      order.push('first done');
    });
    await locked;
    const second = handle.transaction(async () => {
      await handle.lock('account:a');
      order.push('second locked');
    });
    // The second waits on the server for the first's lock; let it reach the wait, then release.
    await new Promise((resolve) => setTimeout(resolve, 100));
    releaseFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(['first locked', 'first done', 'second locked']);
    await expect(handle.lock('account:a')).rejects.toThrow(/outside a transaction/);
  });

  test('round-trips the mapped types: Date, boolean, jsonb array and object, bigint beyond 2^32, unicode', async () => {
    const { users, accessKeys, buckets, events } = handle.tables;
    const user = newUser({ isAdmin: true, quotaBytes: 2 ** 40 + 7 });
    const expiresAt = new Date('2031-02-03T04:05:06.789Z');
    await handle.query((db) => db.insert(users).values(user));
    await handle.query((db) =>
      db.insert(accessKeys).values({ id: `k-${user.id}`, userId: user.id, accessKeyId: `AK${user.id}`, secretEncrypted: 's', scopeBuckets: ['b1', 'b2'], expiresAt }),
    );
    const cors = [{ allowedOrigins: ['*'], allowedMethods: ['GET'], maxAgeSeconds: 600 }];
    await handle.query((db) => db.insert(buckets).values({ id: `b-${user.id}`, userId: user.id, name: 'photos-été-📷', backendName: `be-${user.id}`, cors, publicName: true }));

    const [row] = await handle.query((db) => db.select().from(users).where(eq(users.id, user.id)));
    expect(row.isAdmin).toBe(true);
    expect(row.quotaBytes).toBe(2 ** 40 + 7);
    expect(row.status).toBe('active');
    expect(row.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(row.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

    const [key] = await handle.query((db) => db.select().from(accessKeys).where(eq(accessKeys.userId, user.id)));
    expect(key.scopeBuckets).toEqual(['b1', 'b2']);
    expect(key.expiresAt).toEqual(expiresAt);
    expect(key.revokedAt).toBeNull();
    expect(key.permission).toBe('readwrite');

    const [bucket] = await handle.query((db) => db.select().from(buckets).where(eq(buckets.userId, user.id)));
    expect(bucket.name).toBe('photos-été-📷');
    expect(bucket.cors).toEqual(cors);
    expect(bucket.publicName).toBe(true);
    expect(bucket.internal).toBe(false);

    const inserted = await handle.query((db) =>
      db
        .insert(events)
        .values({
          id: `e-${user.id}`,
          type: 'object.created',
          time: new Date().toISOString(),
          accountId: user.id,
          actorKind: 'key',
          actorId: 'k',
          key: 'ключ/文件',
          size: 5 * 2 ** 32,
          detail: { nested: { a: [1, 'two'] }, flag: false },
        })
        .returning(),
    );
    expect(typeof inserted[0].seq).toBe('number');
    expect(inserted[0].size).toBe(5 * 2 ** 32);
    expect(inserted[0].key).toBe('ключ/文件');
    expect(inserted[0].detail).toEqual({ nested: { a: [1, 'two'] }, flag: false });
  });

  test('keys order byte-wise like SQLite (COLLATE "C"), and the dialect SQL helpers', async () => {
    const { users, buckets, objectAcls } = handle.tables;
    const user = newUser();
    const bucketId = `b-${user.id}`;
    await handle.query((db) => db.insert(users).values(user));
    await handle.query((db) => db.insert(buckets).values({ id: bucketId, userId: user.id, name: 'order', backendName: `be-${user.id}` }));
    const keys = ['a', 'B', 'é', 'Z', '~', 'a/b', 'a-b', 'A'];
    await handle.query((db) => db.insert(objectAcls).values(keys.map((key) => ({ bucketId, key, acl: 'public-read' as const }))));
    const ordered = await handle.query((db) => db.select({ key: objectAcls.key }).from(objectAcls).where(eq(objectAcls.bucketId, bucketId)).orderBy(asc(objectAcls.key)));
    expect(ordered.map((row) => row.key)).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(ordered.map((row) => row.key)).toEqual(['A', 'B', 'Z', 'a', 'a-b', 'a/b', '~', 'é']);

    const prefixed = await handle.query((db) => db.select({ key: objectAcls.key }).from(objectAcls).where(handle.sql.startsWith(objectAcls.key, 'a')).orderBy(asc(objectAcls.key)));
    expect(prefixed.map((row) => row.key)).toEqual(['a', 'a-b', 'a/b']);
    const wildcard = await handle.query((db) => db.select({ key: objectAcls.key }).from(objectAcls).where(handle.sql.startsWith(objectAcls.key, '_')));
    expect(wildcard).toEqual([]);

    const [{ value }] = await handle.query((db) =>
      db
        .select({ value: sql<number>`${handle.sql.greatest(sql`3`, sql`7`)}`.mapWith(Number) })
        .from(users)
        .limit(1),
    );
    expect(value).toBe(7);
  });

  test('a unique violation is recognised (and not taken for an outage); U+0000 in a key is stored escaped and read back as written', async () => {
    const { users, buckets, objectAcls } = handle.tables;
    const user = newUser();
    await handle.query((db) => db.insert(users).values(user));
    const duplicate = await handle.query((db) => db.insert(users).values({ ...newUser(), email: user.email })).catch((error: unknown) => error);
    expect(isUniqueViolation(duplicate)).toBe(true);
    expect(isAppError(duplicate)).toBe(false);

    await handle.query((db) => db.insert(buckets).values({ id: `b-${user.id}`, userId: user.id, name: 'nul', backendName: `be-${user.id}` }));
    // PostgreSQL text cannot hold U+0000: text columns escape it (src/db/pg/columns.ts).
    await handle.query((db) => db.insert(objectAcls).values({ bucketId: `b-${user.id}`, key: 'a\u0000b', acl: 'public-read' }));
    const stored = await handle.query((db) => db.select({ key: objectAcls.key }).from(objectAcls).where(eq(objectAcls.key, 'a\u0000b')));
    expect(stored).toEqual([{ key: 'a\u0000b' }]);
  });
});

describe('openPostgresDatabase: the server going away and coming back', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('query and transaction answer database.unavailable, ping is false; the same handle works again after restart', async () => {
    const { logger, lines } = capturingLogger();
    const handle = await openPostgresDatabase({ url: cluster.url, poolMax: 2, connectTimeoutMs: 1_000, logger });
    try {
      const { users } = handle.tables;
      await handle.query((db) => db.insert(users).values(newUser({ id: 'before' })));
      expect(await handle.ping()).toBe(true);

      // A transaction holding a connection when the server goes: its next statement answers unavailable (and nothing crashes).
      let bodyWaiting!: () => void;
      const waiting = new Promise<void>((resolve) => {
        bodyWaiting = resolve;
      });
      let serverGone!: () => void;
      const gone = new Promise<void>((resolve) => {
        serverGone = resolve;
      });
      const inFlight = handle
        .transaction(async () => {
          await handle.query((db) => db.insert(users).values(newUser({ id: 'in-flight' })));
          bodyWaiting();
          await gone;
          await handle.query((db) => db.select().from(users));
        })
        .catch((error: unknown) => error);
      await waiting;

      await cluster.pause();
      serverGone();
      expect(isAppError(await inFlight, 'database.unavailable')).toBe(true);
      const queried = await handle.query((db) => db.select().from(users)).catch((error: unknown) => error);
      expect(isAppError(queried, 'database.unavailable')).toBe(true);
      expect(queried).toMatchObject({ status: 503, retryAfter: 1 });
      const transacted = await handle.transaction(() => handle.query((db) => db.insert(users).values(newUser()))).catch((error: unknown) => error);
      expect(isAppError(transacted, 'database.unavailable')).toBe(true);
      expect(await handle.ping()).toBe(false);

      await cluster.resume();
      const rows = await handle.query((db) => db.select({ id: users.id }).from(users));
      expect(rows.map((row) => row.id)).toEqual(['before']);
      expect(await handle.ping()).toBe(true);
      await handle.transaction(() => handle.query((db) => db.insert(users).values(newUser({ id: 'after' }))));
      expect(await handle.query((db) => db.select({ id: users.id }).from(users).orderBy(asc(users.id)))).toEqual([{ id: 'after' }, { id: 'before' }]);
      // The connection the shutdown killed was logged, not thrown (an uncaught 'error' would fail the run).
      expect(lines.some((line) => line.message.includes('connection lost') && line.fields?.code === '57P01')).toBe(true);
    } finally {
      await handle.close();
    }
  });
});
