import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGroupSync, type SyncableFile } from './group-sync.ts';

/** Real file handles whose datasync waits for the test to release it: the order of flushes is then the test's. */
function gatedFiles() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'group-sync-'));
  const file = path.join(dir, 'index.sqlite-wal');
  fs.writeFileSync(file, 'wal');
  const pending: { release: () => void; fail: (error: Error) => void }[] = [];
  let syncs = 0;
  const open = async (target: string): Promise<SyncableFile> => {
    const handle = await fs.promises.open(target, 'r');
    return {
      datasync: async () => {
        syncs++;
        await new Promise<void>((resolve, reject) => pending.push({ release: resolve, fail: reject }));
        await handle.datasync();
      },
      close: () => handle.close(),
    };
  };
  /** Lets the event loop and the thread pool run until `count` flushes have started. */
  const started = async (count: number) => {
    for (let turn = 0; syncs < count && turn < 10_000; turn++) await new Promise((resolve) => setImmediate(resolve));
    // A few more turns: a flush that should NOT start gets its chance to (wrongly) do so.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { dir, file, open, pending, syncs: () => syncs, started };
}

describe('group commit of the fs index WAL', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('flushes nothing when nothing was committed', async () => {
    const files = gatedFiles();
    dirs.push(files.dir);
    const sync = createGroupSync(files.file, files.open);
    await sync.flushed();
    expect(files.syncs()).toBe(0);
  });

  it('shares one flush between the commits made before it started', async () => {
    const files = gatedFiles();
    dirs.push(files.dir);
    const sync = createGroupSync(files.file, files.open);
    sync.committed();
    sync.committed();
    const waits = [sync.flushed(), sync.flushed(), sync.flushed()];
    await files.started(1);
    expect(files.syncs()).toBe(1);
    files.pending.shift()?.release();
    await Promise.all(waits);
    expect(files.syncs()).toBe(1);
    await sync.close();
  });

  it('a commit made while a flush runs waits for the next flush, which the later commits share', async () => {
    const files = gatedFiles();
    dirs.push(files.dir);
    const sync = createGroupSync(files.file, files.open);
    sync.committed();
    let firstDone = false;
    const first = sync.flushed().then(() => {
      firstDone = true;
    });
    await files.started(1);
    sync.committed(); // made after the running flush started: not covered by it
    let secondDone = false;
    const second = sync.flushed().then(() => {
      secondDone = true;
    });
    sync.committed();
    const third = sync.flushed();
    files.pending.shift()?.release();
    await first;
    await files.started(2);
    expect(firstDone).toBe(true);
    expect(secondDone).toBe(false);
    expect(files.syncs()).toBe(2);
    files.pending.shift()?.release();
    await Promise.all([second, third]);
    expect(files.syncs()).toBe(2);
    await sync.close();
  });

  it('a failed flush fails the writes waiting on it, and the next write flushes afresh', async () => {
    const files = gatedFiles();
    dirs.push(files.dir);
    const sync = createGroupSync(files.file, files.open);
    sync.committed();
    const failed = sync.flushed();
    await files.started(1);
    files.pending.shift()?.fail(new Error('EIO'));
    await expect(failed).rejects.toThrow('EIO');
    const retried = sync.flushed();
    await files.started(2);
    expect(files.syncs()).toBe(2);
    files.pending.shift()?.release();
    await retried;
    await sync.close();
  });
});
