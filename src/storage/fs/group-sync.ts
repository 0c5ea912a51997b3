import fs from 'node:fs';

/**
 * Group commit for the fs index's write-ahead log. SQLite's `synchronous = FULL` fsyncs the WAL
 * inside every commit, on the event loop (better-sqlite3 is synchronous), so with fsync on every
 * small PUT stalled the whole process for one disk flush and concurrent PUTs queued behind each
 * other. Instead the index commits with `synchronous = NORMAL` (no flush) and each write waits,
 * before it is acknowledged, for an fsync of the WAL file that *started after* its commit: on
 * libuv's thread pool, off the event loop, and shared by every commit made before it started.
 * A commit's WAL frames are then on disk before the client hears success, which is what FULL
 * guaranteed (the WAL is the same inode for as long as a connection is open; a checkpoint
 * rewrites it from the start, it does not replace it).
 */
export interface GroupSync {
  /** Marks that a commit was just made (call right after it returned). */
  committed(): void;
  /** Resolves once every commit marked so far is on disk. */
  flushed(): Promise<void>;
  close(): Promise<void>;
}

/** What group commit needs of the WAL file (a node:fs FileHandle). */
export interface SyncableFile {
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export function createGroupSync(walFile: string, open: (file: string) => Promise<SyncableFile> = (file) => fs.promises.open(file, 'r')): GroupSync {
  let commits = 0;
  let synced = 0;
  let handle: Promise<SyncableFile> | undefined;
  /** The fsync running now, and the one that will run after it for commits made meanwhile. */
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const syncNow = (): Promise<void> => {
    const covers = commits;
    handle ??= open(walFile);
    running = handle
      .then((fh) => fh.datasync())
      .then(
        () => {
          if (covers > synced) synced = covers;
          running = undefined;
        },
        (error) => {
          running = undefined;
          // A failed flush leaves nothing known to be durable: a later write tries afresh.
          handle = undefined;
          throw error;
        },
      );
    return running;
  };

  return {
    committed() {
      commits++;
    },
    flushed() {
      if (synced >= commits) return Promise.resolve();
      if (queued) return queued;
      if (!running) return syncNow();
      // The running flush may have started before this commit: wait for the next one, shared by
      // every commit that arrives while this one runs.
      queued ??= running.then(
        () => {
          queued = undefined;
          return synced >= commits ? undefined : syncNow();
        },
        () => {
          queued = undefined;
          return syncNow();
        },
      );
      return queued;
    },
    async close() {
      const fh = await handle?.catch(() => undefined);
      handle = undefined;
      await fh?.close();
    },
  };
}
