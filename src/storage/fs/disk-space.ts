/**
 * Disk space of the filesystem backend: telling a full disk apart from other failures, keeping
 * deletes possible on a full disk, and measuring free space for /_health/status.
 *
 * Why a reserve: SQLite appends a transaction to its WAL before anything is freed, so on a disk
 * that is 100 % full even a DELETE fails ("database or disk is full") and space can never be
 * recovered through the API. Unlinking data files before the index commit would free space, but a
 * crash in between would leave index rows pointing at missing bytes. Instead a few megabytes are
 * held in a reserve file; a delete that hits a full disk releases it and retries, its committed
 * transaction then unlinks the object's files, and the reserve is refilled from the space freed.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { S3Error } from '../../errors/s3-errors.ts';

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** ENOSPC/EDQUOT from the filesystem, SQLITE_FULL from the index, or the S3 error made of them. */
export function isDiskFull(error: unknown): boolean {
  if (error instanceof S3Error) return error.code === 'InsufficientStorage';
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && DISK_FULL_CODES.has(code);
}

/**
 * A full disk as the client sees it: 507 InsufficientStorage, never a 500 with a stack. Other
 * errors pass through unchanged.
 */
export function storageError(error: unknown): unknown {
  if (!isDiskFull(error) || error instanceof S3Error) return error;
  return new S3Error('InsufficientStorage', undefined, { cause: error });
}

export interface SpaceReserve {
  /**
   * Grows the reserve file back to its size, as far as free space allows (never throws). A no-op
   * while this process knows it complete, unless `check`: another process may have released it.
   */
  ensure(check?: boolean): Promise<void>;
  /** Deletes the reserve file, handing its space to the next write; false if there was none. */
  release(): Promise<boolean>;
}

/**
 * A file of `bytes` random bytes (random, not zeros: compressing or deduplicating filesystems
 * would store zeros in no space at all). Shared by every process over the same data directory:
 * whichever hits a full disk first releases it, whichever frees space next refills it.
 */
export function createSpaceReserve(file: string, bytes: number): SpaceReserve {
  let pending: Promise<void> = Promise.resolve();
  let complete = false;
  const chunk = randomBytes(64 * 1024);
  const grow = async () => {
    if (complete) return;
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(file, 'a');
      let size = (await handle.stat()).size;
      while (size < bytes) {
        const { bytesWritten } = await handle.write(chunk, 0, Math.min(chunk.length, bytes - size));
        size += bytesWritten;
      }
      // No fsync: filesystems account for space at write time (ext4 reserves delayed
      // allocations then), and the reserve's bytes never need to survive a crash.
      complete = true;
    } catch {
      // ENOSPC: the reserve keeps what fitted and is topped up after the next delete. Any other
      // failure only means deletes on a full disk have no reserve to fall back on.
    } finally {
      await handle?.close().catch(() => {});
    }
  };
  return {
    ensure(check = false) {
      if (bytes <= 0 || (complete && !check)) return Promise.resolve();
      if (check) complete = false;
      // One refill at a time in this process: concurrent deletes would otherwise append twice.
      pending = pending.then(grow);
      return pending;
    },
    async release() {
      complete = false;
      try {
        await fs.promises.unlink(file);
        return true;
      } catch {
        return false;
      }
    },
  };
}

export interface FreeSpace {
  /** Bytes this process may still allocate (statfs `bavail`). */
  freeBytes: number;
  totalBytes: number;
}

export async function freeSpace(dir: string): Promise<FreeSpace> {
  const stats = await fs.promises.statfs(dir);
  return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
}

export interface FreeSpaceThreshold {
  /** Below this many free bytes the storage is degraded (0: no byte threshold). */
  minFreeBytes: number;
  /** Below this percentage of the filesystem free, the storage is degraded (0: none). */
  minFreePercent: number;
}

/** The threshold is whichever of the two is larger. */
export function isLowOnSpace(space: FreeSpace, threshold: FreeSpaceThreshold): boolean {
  const floor = Math.max(threshold.minFreeBytes, (space.totalBytes * threshold.minFreePercent) / 100);
  return floor > 0 && space.freeBytes < floor;
}
