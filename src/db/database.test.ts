import { executionAsyncId } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccountsRepository } from '../accounts/accounts.repository.ts';
import { openDatabase } from './database.ts';

/**
 * True while Node tracks promises for async hooks: each continuation then runs under an async id
 * of its own. Without a hook every continuation shares its caller's id, and promises cost no
 * hook call (Node 20's AsyncLocalStorage installs such a hook for as long as it is enabled).
 */
async function promisesTracked(): Promise<boolean> {
  await null;
  const first = executionAsyncId();
  await null;
  return executionAsyncId() !== first;
}

describe('SQLite database handle', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("dataVersion moves with another connection's commits, and asks SQLite only when the WAL-index header moved", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-database-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const statements: string[] = [];
    const mine = openDatabase(join(dir, 'metadata.sqlite'), { traceSql: (sql) => statements.push(String(sql)) });
    cleanups.push(() => mine.close());
    // Another connection to the same file: for SQLite, as another process.
    const other = openDatabase(join(dir, 'metadata.sqlite'));
    cleanups.push(() => other.close());
    const pragmas = () => statements.filter((sql) => sql.includes('data_version')).length;

    const first = mine.dataVersion();
    statements.length = 0;
    expect([mine.dataVersion(), mine.dataVersion(), mine.dataVersion()]).toEqual([first, first, first]);
    expect(pragmas()).toBe(0);

    await createAccountsRepository({ database: other }).insert({ id: 'o1', email: 'o1@example.com', passwordHash: 'x', isAdmin: false });
    const moved = mine.dataVersion();
    expect(moved).not.toBe(first);
    expect(pragmas()).toBe(1);
    expect(mine.dataVersion()).toBe(moved);
    expect(pragmas()).toBe(1);

    // Its own commits move the header but not data_version: asked once, same answer.
    await createAccountsRepository({ database: mine }).insert({ id: 'm1', email: 'm1@example.com', passwordHash: 'x', isAdmin: false });
    expect(mine.dataVersion()).toBe(moved);
    expect(pragmas()).toBe(2);
  });

  it('leaves no async hook behind once its transactions end, and still scopes nested statements while one is open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-database-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const database = openDatabase(join(dir, 'metadata.sqlite'));
    cleanups.push(() => database.close());
    const accounts = createAccountsRepository({ database });
    expect(await promisesTracked()).toBe(false);

    await database.transaction(async () => {
      await accounts.insert({ id: 'a1', email: 'a1@example.com', passwordHash: 'x', isAdmin: false });
      // A statement awaited inside the body runs in the open transaction rather than waiting for its end.
      expect((await accounts.findById('a1'))?.email).toBe('a1@example.com');
    });
    expect(await promisesTracked()).toBe(false);

    // A rolled-back transaction leaves nothing enabled either, and its row is gone.
    await expect(
      database.transaction(async () => {
        await accounts.insert({ id: 'a2', email: 'a2@example.com', passwordHash: 'x', isAdmin: false });
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await accounts.findById('a2')).toBeUndefined();
    expect(await promisesTracked()).toBe(false);
  });
});
