/**
 * Whether this process is the only one that can commit to a data directory's index.
 *
 * Why: FsIndex serves hot object rows from memory, and must never serve one that another process
 * (another WORKERS process, a second gateway over the same DATA_DIR, the admin CLI) replaced.
 * `PRAGMA data_version` tells whether anyone else committed, but it is a read transaction: two
 * `fcntl` system calls and SQLite's locking, about a tenth of a small GET's CPU. A process that
 * knows no other process can commit skips it.
 *
 * How: every process that opens the index (createFsBackend, the admin CLI too) registers as a
 * writer before its first statement, and stays registered until its index is closed, by a lock on
 * `index-writers/lock` (an empty SQLite file: SQLite's POSIX locks, which the kernel drops when a
 * process dies, `kill -9` included; as in file-owners.ts):
 *   - alone: it holds the lock exclusively (BEGIN EXCLUSIVE, kept open): nobody else can register;
 *   - shared: it holds it shared (a read transaction kept open): others may register too.
 * A process that finds the lock held exclusively knocks (creates `index-writers/knock-…`) and waits
 * for a shared lock. The lone writer looks for knocks every KNOCK_POLL_MS; on one it stops trusting
 * its cache (FsIndex checks data_version again) and only then lets go of its exclusive lock, so no
 * commit of the newcomer can precede the change. A shared writer tries every REGAIN_MS to be alone
 * again: when its exclusive attempt succeeds nobody else is registered, and it reads data_version
 * once (the commits of writers that left) before trusting its cache again.
 *
 * Every lock change that lets go of the lock for a moment (going shared, or an exclusive attempt
 * followed by taking the shared lock back) is made holding `index-writers/turn` exclusively, and so
 * is a newcomer's first attempt: no process can slip into the gap and find itself alone while
 * another is about to take its shared lock back. A knocking newcomer waits without the turn: it
 * only ever tries a shared lock, which lets go of nothing.
 *
 * Processes that only read the index (the orphan sweep's read-only connection) need no
 * registration: they never commit.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';

/** How often a lone writer looks for a process waiting to register (a newcomer waits about this long). */
export const KNOCK_POLL_MS = 50;
/** How often a shared writer tries to be alone again. */
export const REGAIN_MS = 1_000;
/** A newcomer gives up (and refuses to open the index) after waiting this long for the lone writer. */
const JOIN_TIMEOUT_MS = 30_000;
/** A knock older than this was left by a newcomer that died waiting: removed, not answered. */
const STALE_KNOCK_MS = 2 * JOIN_TIMEOUT_MS;
const RETRY_MS = 5;

export type WriterMode = 'alone' | 'shared';

export interface IndexWriters {
  readonly mode: WriterMode;
  /**
   * One round of the timer's work, exposed for tests: a lone writer answers knocks, a shared one
   * tries to be alone again.
   */
  poll(): void;
  /** Unregisters (after the index is closed). */
  close(): void;
}

export interface IndexWritersOptions {
  /** Told of every change, synchronously and before the lock changes hands (see the header). */
  onModeChange(mode: WriterMode): void;
  /** A timer round that failed (it runs again next round). */
  onError?(error: unknown): void;
  /** Off in tests that drive `poll()` themselves. */
  timer?: boolean;
}

function lockDatabase(file: string): Database.Database {
  // timeout 0: every attempt answers at once; waiting is done here, without blocking the thread.
  return new Database(file, { timeout: 0 });
}

function attempt(db: Database.Database, sql: string): boolean {
  try {
    db.exec(sql);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return false;
    throw error;
  }
}

/** A shared lock: a read transaction kept open (on an empty file it reads nothing but keeps the lock). */
function takeShared(db: Database.Database): boolean {
  if (!attempt(db, 'BEGIN')) return false;
  if (attempt(db, 'SELECT count(*) FROM sqlite_master')) return true;
  db.exec('ROLLBACK');
  return false;
}

function release(db: Database.Database): void {
  if (db.inTransaction) db.exec('COMMIT');
}

async function waitFor(what: string, deadline: number, tryOnce: () => boolean): Promise<void> {
  while (!tryOnce()) {
    if (Date.now() > deadline) throw new Error(`the fs index is held by another process that does not let ${what} (index-writers/): is it stopped?`);
    await sleep(RETRY_MS);
  }
}

/** Takes the lock: exclusively when nobody else holds it, else shared (after knocking if a lone writer holds it). */
async function join(dir: string, lock: Database.Database, turn: Database.Database): Promise<WriterMode> {
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  let mode: WriterMode | undefined;
  await waitFor('it register', deadline, () => attempt(turn, 'BEGIN EXCLUSIVE'));
  try {
    if (attempt(lock, 'BEGIN EXCLUSIVE')) mode = 'alone';
    else if (takeShared(lock)) mode = 'shared';
  } finally {
    release(turn);
  }
  if (mode === undefined) {
    // A lone writer holds it: knock, and wait for it to go shared. The wait holds no turn: the
    // lone writer needs the turn to go shared, and a shared attempt never lets go of anything.
    const knock = path.join(dir, `knock-${randomBytes(8).toString('hex')}`);
    fs.writeFileSync(knock, String(process.pid));
    try {
      await waitFor('it register', deadline, () => takeShared(lock));
    } finally {
      fs.rmSync(knock, { force: true });
    }
  }
  return mode ?? 'shared';
}

/**
 * Whether some process holds the writers' lock of `dataDir` exclusively (is alone on it) right now:
 * a shared lock cannot be had. For operators' diagnostics and tests; it takes no lock it keeps.
 */
export function heldExclusively(dataDir: string): boolean {
  const db = lockDatabase(path.join(dataDir, 'index-writers', 'lock'));
  try {
    return !takeShared(db);
  } finally {
    release(db);
    db.close();
  }
}

/** Registers this process as a writer of the index in `dataDir` (see the header). */
export async function registerIndexWriter(dataDir: string, options: IndexWritersOptions): Promise<IndexWriters> {
  const dir = path.join(dataDir, 'index-writers');
  await fs.promises.mkdir(dir, { recursive: true });
  const lock = lockDatabase(path.join(dir, 'lock'));
  const turn = lockDatabase(path.join(dir, 'turn'));
  let mode: WriterMode;
  try {
    mode = await join(dir, lock, turn);
  } catch (error) {
    lock.close();
    turn.close();
    throw error;
  }
  options.onModeChange(mode);

  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (options.timer === false || !lock.open) return;
    timer = setTimeout(
      () => {
        try {
          writers.poll();
        } catch (error) {
          options.onError?.(error);
        }
        schedule();
      },
      mode === 'alone' ? KNOCK_POLL_MS : REGAIN_MS,
    ).unref();
  };

  function knocks(): boolean {
    let found = false;
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith('knock-')) continue;
      const file = path.join(dir, name);
      const stat = fs.statSync(file, { throwIfNoEntry: false });
      if (stat && Date.now() - stat.mtimeMs > STALE_KNOCK_MS) fs.rmSync(file, { force: true });
      else if (stat) found = true;
    }
    return found;
  }

  const writers: IndexWriters = {
    get mode() {
      return mode;
    },
    poll() {
      if (!lock.open) return;
      if (mode === 'alone' && !knocks()) return;
      // Letting go of the lock and taking it back happens holding the turn, so nobody can take it
      // exclusively in between; busy: another process is changing its own, try next round.
      if (!attempt(turn, 'BEGIN EXCLUSIVE')) return;
      try {
        if (mode === 'alone') {
          // The cache stops being trusted before anyone else can register (and so commit).
          mode = 'shared';
          options.onModeChange('shared');
          release(lock);
        } else {
          release(lock);
          if (attempt(lock, 'BEGIN EXCLUSIVE')) {
            mode = 'alone';
            options.onModeChange('alone');
            return;
          }
        }
        if (!takeShared(lock)) throw new Error('index-writers: the shared lock could not be taken back');
      } finally {
        release(turn);
      }
    },
    close() {
      if (timer) clearTimeout(timer);
      if (lock.open) lock.close();
      if (turn.open) turn.close();
    },
  };
  schedule();
  return writers;
}
