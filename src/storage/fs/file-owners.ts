/**
 * Which process wrote a data file, and whether that process still lives.
 *
 * A write renames its file into data/ and only then commits the index row that references it, so
 * for a moment every new file is unreferenced; several server processes may share one data
 * directory (gateways behind a load balancer), and a sweep in one of them must never take a file
 * another is about to commit. Each backend instance therefore claims an owner id and names every
 * file it creates `<uuid>.<owner>`. An owner is alive while it holds an exclusive lock on
 * `owners/<owner>.lock` (a one-row SQLite file, locked with SQLite's POSIX locks, which the kernel
 * drops the moment the process dies, `kill -9` included). Files of a dead owner that no index row
 * references can never become referenced again: only their owner would have committed them.
 *
 * Why not an age threshold: the window between rename and commit has no upper bound (a copy of a
 * many-part object links or copies one segment after another before its single commit; the commit
 * may wait on busy_timeout; a stopped or swapped-out process waits indefinitely). Why not a pid
 * file: pids are reused, and containers sharing a volume each have their own pid 1. The pid is
 * recorded in the lock file for operators only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

const OWNER_ID = /^[0-9a-f]{16}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const OWNED_NAME = new RegExp(`^${UUID}\\.([0-9a-f]{16})$`);
/** Files written before owners existed: a bare uuid. */
const LEGACY_NAME = new RegExp(`^${UUID}$`);

/** The owner id in a data or temp file name; `legacy` for a bare uuid; undefined for anything else. */
export function ownerOfFile(name: string): string | 'legacy' | undefined {
  const owned = OWNED_NAME.exec(name);
  if (owned) return owned[1];
  return LEGACY_NAME.test(name) ? 'legacy' : undefined;
}

export interface FileOwner {
  readonly id: string;
  /** A fresh file name carrying this owner's id (its first two characters pick the data shard). */
  newFileName(): string;
  /** Drops the claim (the lock file is deleted first, then unlocked by closing it). */
  close(): void;
}

function lockPath(ownersDir: string, id: string): string {
  return path.join(ownersDir, `${id}.lock`);
}

/**
 * Claims a new owner id. The lock is taken on a staging name and the file renamed into place
 * afterwards, so that `<id>.lock` never exists unlocked while its owner lives (a sweep seeing an
 * unlocked lock file concludes the owner crashed).
 */
export function claimOwner(ownersDir: string): FileOwner {
  fs.mkdirSync(ownersDir, { recursive: true });
  let id: string;
  do id = randomBytes(8).toString('hex');
  while (fs.existsSync(lockPath(ownersDir, id)));
  const staging = path.join(ownersDir, `${id}.claiming`);
  const db = new Database(staging);
  try {
    db.pragma('journal_mode = MEMORY');
    // EXCLUSIVE locking mode keeps the write lock taken by the first write until the connection
    // closes, or the process dies.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE owner (pid INTEGER NOT NULL, host TEXT NOT NULL, started_at INTEGER NOT NULL)');
    db.prepare('INSERT INTO owner VALUES (?, ?, ?)').run(process.pid, os.hostname(), Date.now());
    fs.renameSync(staging, lockPath(ownersDir, id));
  } catch (error) {
    db.close();
    fs.rmSync(staging, { force: true });
    throw error;
  }
  const owner = id;
  return {
    id: owner,
    newFileName: () => `${randomUUID()}.${owner}`,
    close() {
      if (!db.open) return;
      fs.rmSync(lockPath(ownersDir, owner), { force: true });
      db.close();
    },
  };
}

/**
 * `alive`: its lock is held. `crashed`: its lock file exists but nobody holds the lock (the
 * process died without closing). `gone`: no lock file (closed cleanly, or a sweep already
 * collected its leftovers). Anything unexpected counts as alive: a file is never collected on
 * doubt.
 */
export type Liveness = 'alive' | 'crashed' | 'gone';

export function ownerLiveness(ownersDir: string, id: string): Liveness {
  if (!OWNER_ID.test(id)) return 'alive';
  const file = lockPath(ownersDir, id);
  if (!fs.existsSync(file)) return 'gone';
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    // Reading needs a shared lock, refused (SQLITE_BUSY) while the owner holds its exclusive one.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return 'crashed';
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    // The lock was granted but the file is not a database: its owner died while creating it.
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return 'crashed';
    if (code === 'SQLITE_CANTOPEN' && !fs.existsSync(file)) return 'gone';
    return 'alive';
  } finally {
    db?.close();
  }
}

/** Ids of every lock file in `ownersDir`, and staging files left by a claim that died half-way. */
export async function listOwners(ownersDir: string): Promise<{ ids: string[]; staging: string[] }> {
  let names: string[];
  try {
    names = await fs.promises.readdir(ownersDir);
  } catch {
    return { ids: [], staging: [] };
  }
  const ids: string[] = [];
  const staging: string[] = [];
  for (const name of names) {
    const [id, suffix] = name.split('.');
    if (!OWNER_ID.test(id)) continue;
    if (suffix === 'lock' && name === `${id}.lock`) ids.push(id);
    else if (suffix === 'claiming' && name === `${id}.claiming`) staging.push(id);
  }
  return { ids, staging };
}

/** Deletes the lock file of an owner found dead, once its leftovers are collected. */
export async function forgetOwner(ownersDir: string, id: string): Promise<void> {
  await fs.promises.rm(lockPath(ownersDir, id), { force: true });
}
