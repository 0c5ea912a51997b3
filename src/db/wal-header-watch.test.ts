import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type DataVersion, watchDataVersion, watchWalHeader } from './wal-header-watch.ts';

describe('WAL-index header watch', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0).reverse()) fn();
  });

  function setup() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-walwatch-'));
    const file = path.join(dir, 'index.sqlite');
    // Two connections: SQLite treats them as it treats two processes (data_version moves for the other's commits).
    const pragmas: string[] = [];
    const mine = new Database(file, { verbose: (sql) => pragmas.push(String(sql)) });
    mine.pragma('journal_mode = WAL');
    mine.exec('CREATE TABLE t (v INTEGER)');
    const other = new Database(file);
    const watch = watchWalHeader(file)!;
    // What FsIndex and the metadata database use: header first; on a change, data_version, then
    // remember that header. Made on first use: a second watch of the file (the descriptor test counts them).
    let dataVersion: DataVersion | undefined;
    // Run in reverse: the connections close before the watches (closing a -shm descriptor drops the process's locks).
    cleanup.push(
      () => fs.rmSync(dir, { recursive: true, force: true }),
      () => watch.close(),
      () => dataVersion?.close(),
      () => other.close(),
      () => mine.close(),
    );
    /** Whether reading mine's data_version had to ask SQLite. */
    const check = () => {
      dataVersion ??= watchDataVersion(mine, true);
      const asked = pragmas.filter((sql) => sql.includes('data_version')).length;
      dataVersion.get();
      return pragmas.filter((sql) => sql.includes('data_version')).length > asked ? 'asked' : 'unchanged';
    };
    return { file, mine, other, watch, check };
  }

  it('is unchanged until some connection commits, then changed once', () => {
    const { other, mine, check } = setup();
    expect(check()).toBe('asked'); // nothing remembered yet
    expect(check()).toBe('unchanged');
    expect(check()).toBe('unchanged');
    other.prepare('INSERT INTO t VALUES (1)').run();
    expect(check()).toBe('asked');
    expect(check()).toBe('unchanged');
    // Its own connection's commits move the header too (data_version would not): asked once, harmlessly.
    mine.prepare('INSERT INTO t VALUES (2)').run();
    expect(check()).toBe('asked');
    expect(check()).toBe('unchanged');
  });

  it('sees a commit that follows a checkpoint which reset the WAL', () => {
    const { other, mine, check } = setup();
    other.prepare('INSERT INTO t VALUES (1)').run();
    expect(check()).toBe('asked');
    mine.pragma('wal_checkpoint(TRUNCATE)');
    check();
    expect(check()).toBe('unchanged');
    // The first commit after the reset writes frame 1 again, under new salts.
    other.prepare('INSERT INTO t VALUES (1)').run();
    expect(check()).toBe('asked');
  });

  it.runIf(process.platform === 'linux')('shares one descriptor per -shm file, closed with the last watch', () => {
    const { file, watch } = setup();
    const shm = fs.realpathSync(`${file}-shm`);
    const descriptorsOfShm = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === shm;
        } catch {
          return false;
        }
      }).length;
    // SQLite's connections hold their own; setup()'s watch holds one more.
    const withOneWatch = descriptorsOfShm();
    const second = watchWalHeader(file)!;
    expect(descriptorsOfShm()).toBe(withOneWatch);
    watch.close();
    expect(descriptorsOfShm()).toBe(withOneWatch);
    // Still working through the shared descriptor.
    second.unchanged();
    second.remember();
    expect(second.unchanged()).toBe(true);
    second.close();
    expect(descriptorsOfShm()).toBe(withOneWatch - 1);
    second.close(); // idempotent
    expect(descriptorsOfShm()).toBe(withOneWatch - 1);
  });

  it('never says unchanged when it cannot read a header it knows', () => {
    const { file, watch } = setup();
    watch.unchanged();
    watch.remember();
    expect(watch.unchanged()).toBe(true);
    // A -shm of another format (iVersion other than 3007000): always "changed".
    const alien = path.join(path.dirname(file), 'alien.sqlite');
    fs.writeFileSync(`${alien}-shm`, Buffer.alloc(96, 7));
    const other = watchWalHeader(alien)!;
    cleanup.push(() => other.close());
    other.unchanged();
    other.remember();
    expect(other.unchanged()).toBe(false);
    // A short file: the same.
    fs.writeFileSync(`${alien}-shm`, Buffer.alloc(10));
    expect(other.unchanged()).toBe(false);
    // No -shm at all: no watch (FsIndex then asks data_version on every read).
    expect(watchWalHeader(path.join(path.dirname(file), 'missing.sqlite'))).toBeUndefined();
    // Closed: changed.
    watch.close();
    expect(watch.unchanged()).toBe(false);
  });
});
