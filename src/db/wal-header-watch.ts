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
 * Two rules keep it so:
 * - Only for a connection in WAL mode (the caller checks `journal_mode`): a rollback-journal
 *   database never touches a `-shm` file a past WAL session left behind.
 * - Never inside a deferred read transaction, whose snapshot may be older than the header: every
 *   transaction on these connections is BEGIN IMMEDIATE.
 *
 * The descriptor is never closed. POSIX record locks belong to the process, not the descriptor:
 * closing any descriptor of the `-shm` file would drop every lock SQLite holds on it for this
 * process's connections (https://www.sqlite.org/howtocorrupt.html, 2.2), and another process
 * could then reset the WAL-index under them. So one read-only descriptor per `-shm` file (per
 * device and inode) is opened once and kept for the life of the process, shared by every watch
 * of that file: a handful in a server (the metadata database, the fs index).
 */
import fs from 'node:fs';
import { endianness } from 'node:os';

/** Both copies of the WAL-index header. */
const HEADER_BYTES = 96;
/** `iVersion`, the header's first field (native byte order): the WAL-index format this code knows. */
const WALINDEX_VERSION = 3007000;

export interface WalHeaderWatch {
  /** Reads the header; true only when it equals the remembered one (nobody committed since). */
  unchanged(): boolean;
  /** Remembers the header the last `unchanged()` read: call it after reading `data_version`. */
  remember(): void;
  /** From now on always "changed" (the descriptor is kept: closing it would drop SQLite's locks). */
  close(): void;
}

/**
 * Read-only descriptors of `-shm` files by device and inode, never closed (see above). Process-wide
 * on purpose: the locks it protects are process-wide too.
 */
const shmDescriptors = new Map<string, number>();
/** Descriptors opened in a race with another watch of the same file: unused, but not closed either. */
const spareDescriptors: number[] = [];

function fileId(stats: fs.BigIntStats): string {
  return `${stats.dev}:${stats.ino}`;
}

function shmDescriptor(file: string): number | undefined {
  try {
    const known = shmDescriptors.get(fileId(fs.statSync(file, { bigint: true })));
    if (known !== undefined) return known;
    const fd = fs.openSync(file, 'r');
    // Keyed by what was opened (the path may have been replaced since the stat).
    const id = fileId(fs.fstatSync(fd, { bigint: true }));
    const raced = shmDescriptors.get(id);
    if (raced !== undefined) {
      spareDescriptors.push(fd);
      return raced;
    }
    shmDescriptors.set(id, fd);
    return fd;
  } catch {
    return undefined;
  }
}

/**
 * A watch over `database`'s `-shm` file, or undefined when it cannot be opened (callers then always
 * ask SQLite). Call it only once the database's own connection is open in WAL mode.
 */
export function watchWalHeader(database: string): WalHeaderWatch | undefined {
  let fd = shmDescriptor(`${database}-shm`);
  if (fd === undefined) return undefined;
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
    /** Stops this watch (the descriptor stays open: see above). */
    close() {
      fd = undefined;
      rememberedValid = false;
    },
  };
}
