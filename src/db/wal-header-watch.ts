/**
 * "Has anyone committed to this SQLite database since I last looked?" for one `pread`, instead of
 * `PRAGMA data_version`'s read transaction (two `fcntl` calls on the `-shm` file, which processes
 * sharing it contend for: about a tenth of a small GET's CPU with WORKERS=2).
 *
 * In WAL mode every commit, by any connection, rewrites the WAL-index header at the start of the
 * `-shm` file (https://www.sqlite.org/walformat.html, "The WAL-Index Header": two copies of a
 * 48-byte header holding the last valid frame, the frame checksum and the WAL salts, which a
 * commit always changes; a WAL reset changes the salts). So if the 96 bytes read now equal those
 * read before the last `data_version` check, nobody committed in between and the check can be
 * skipped. Any doubt counts as "changed" and the caller asks SQLite as before: a short read, an
 * unexpected format version, a header never remembered.
 *
 * Why it is exact: the caller reads the header first and `data_version` after, and remembers that
 * header. A commit after the header read changes the header again (the next call sees a
 * difference); a commit before it is in the `data_version` read. A header read while another
 * process writes it differs from the remembered one (the writer has already put new bytes in), or
 * equals it entirely (the commit is not yet visible to any reader either). The `-shm` file stays
 * the same file while this process keeps its own connection open (SQLite deletes it only when the
 * last connection closes).
 *
 * Callers use `watchDataVersion` below, which follows that order. Two rules keep it exact:
 * - Only for a connection in WAL mode (`journal_mode` answered `wal`): a rollback-journal
 *   database never touches a `-shm` file a past WAL session left behind.
 * - Never inside a deferred read transaction, whose snapshot may be older than the header: every
 *   transaction on these connections is BEGIN IMMEDIATE.
 *
 * The descriptor is closed only after the connection. POSIX record locks belong to the process,
 * not the descriptor: closing any descriptor of the `-shm` file drops every lock this process
 * holds on it, SQLite's included (https://www.sqlite.org/howtocorrupt.html, 2.2), and another
 * process could then reset the WAL-index under a connection still open here. So one read-only
 * descriptor per `-shm` file (per device and inode) is shared by every watch of that file in the
 * process, and closed when the last watch is, which each owner does after closing its own
 * connection (FsIndex and the metadata database are the only long-lived connections to their
 * files). Not closing at all would keep the file, and its file system, busy after the store
 * closed (an unmount fails).
 */
import fs from 'node:fs';
import { endianness } from 'node:os';
import type Database from 'better-sqlite3';

/** Both copies of the WAL-index header. */
const HEADER_BYTES = 96;
/** `iVersion`, the header's first field (native byte order): the WAL-index format this code knows. */
const WALINDEX_VERSION = 3007000;

export interface WalHeaderWatch {
  /** Reads the header; true only when it equals the remembered one (nobody committed since). */
  unchanged(): boolean;
  /** Remembers the header the last `unchanged()` read: call it after reading `data_version`. */
  remember(): void;
  /** From now on always "changed"; the shared descriptor closes with the file's last watch (after the connection: see above). */
  close(): void;
}

/**
 * Read-only descriptors of `-shm` files by device and inode, with the number of watches using each.
 * Process-wide on purpose: the locks it protects are process-wide too.
 */
const shmDescriptors = new Map<string, { fd: number; watches: number; spare: number[] }>();

function fileId(stats: fs.BigIntStats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** The shared descriptor of `file` (one more watch of it), or undefined. */
function acquire(file: string): { id: string; fd: number } | undefined {
  try {
    const id = fileId(fs.statSync(file, { bigint: true }));
    const known = shmDescriptors.get(id);
    if (known !== undefined) {
      known.watches++;
      return { id, fd: known.fd };
    }
    const fd = fs.openSync(file, 'r');
    // Keyed by what was opened (the path may have been replaced since the stat).
    const openedId = fileId(fs.fstatSync(fd, { bigint: true }));
    const raced = shmDescriptors.get(openedId);
    if (raced !== undefined) {
      // Kept open with the shared one and closed with it: closing it now would drop the locks too.
      raced.spare.push(fd);
      raced.watches++;
      return { id: openedId, fd: raced.fd };
    }
    shmDescriptors.set(openedId, { fd, watches: 1, spare: [] });
    return { id: openedId, fd };
  } catch {
    return undefined;
  }
}

function release(id: string): void {
  const entry = shmDescriptors.get(id);
  if (entry === undefined || --entry.watches > 0) return;
  shmDescriptors.delete(id);
  for (const fd of [entry.fd, ...entry.spare]) fs.closeSync(fd);
}

/**
 * A watch over `database`'s `-shm` file, or undefined when it cannot be opened (callers then always
 * ask SQLite). Call it only once the database's own connection is open in WAL mode.
 */
export function watchWalHeader(database: string): WalHeaderWatch | undefined {
  const descriptor = acquire(`${database}-shm`);
  if (descriptor === undefined) return undefined;
  let fd: number | undefined = descriptor.fd;
  const read = Buffer.alloc(HEADER_BYTES);
  const remembered = Buffer.alloc(HEADER_BYTES);
  let lastReadValid = false;
  let rememberedValid = false;
  const version = endianness() === 'LE' ? () => read.readUInt32LE(0) : () => read.readUInt32BE(0);
  return {
    unchanged() {
      lastReadValid = false;
      if (fd === undefined) return false;
      try {
        lastReadValid = fs.readSync(fd, read, 0, HEADER_BYTES, 0) === HEADER_BYTES && version() === WALINDEX_VERSION;
      } catch {
        return false;
      }
      return lastReadValid && rememberedValid && read.equals(remembered);
    },
    remember() {
      rememberedValid = lastReadValid;
      if (lastReadValid) read.copy(remembered);
    },
    /** Stops this watch; the shared descriptor closes with the last one. Call it after closing the connection. */
    close() {
      if (fd === undefined) return;
      fd = undefined;
      rememberedValid = false;
      release(descriptor.id);
    },
  };
}

/** `PRAGMA data_version` of a connection, asked only when the WAL-index header moved. */
export interface DataVersion {
  /** The connection's data_version: moves when another connection committed. */
  get(): number;
  /** Call after closing the connection (see above). */
  close(): void;
}

/**
 * The protocol above, in one place: header first; unchanged, the last data_version stands; else
 * data_version is read, and only then the header read before it is remembered. `db` must have
 * been switched to WAL (`wal`: what `journal_mode = WAL` answered); otherwise every call asks.
 */
export function watchDataVersion(db: Database.Database, wal: boolean): DataVersion {
  const statement = db.prepare('PRAGMA data_version').pluck();
  // After the connection's first statements: in WAL mode the -shm file exists by now.
  const header = wal ? watchWalHeader(db.name) : undefined;
  let last = 0;
  return {
    get() {
      if (header?.unchanged()) return last;
      last = statement.get() as number;
      header?.remember();
      return last;
    },
    close() {
      header?.close();
    },
  };
}
