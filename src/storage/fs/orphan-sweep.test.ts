import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { bodyOf, readAll } from '../storage-backend.contract.ts';
import type { SweepTimers } from './fs-backend.ts';
import { ownerLiveness } from './file-owners.ts';
import { fsStoresPerTest } from '../../../test/support/fs-stores.ts';

const meta = () => ({ userMetadata: {} });

describe('fs backend: collecting unreferenced data files', () => {
  const newStore = fsStoresPerTest('cloudstorage-sweep-');

  async function store() {
    const { dataDir, start, close } = await newStore();
    const dataFile = (name: string) => path.join(dataDir, 'data', name.slice(0, 2), name);
    /** A file as a write leaves it between its rename into data/ and its commit. */
    const uncommitted = async (owner: string) => {
      const name = `${randomUUID()}.${owner}`;
      await fs.writeFile(dataFile(name), randomBytes(50_000));
      return name;
    };
    const exists = (name: string) =>
      fs.access(dataFile(name)).then(
        () => true,
        () => false,
      );
    return { dataDir, start, close, dataFile, uncommitted, exists };
  }

  it('never collects a file a live process may still commit, from another process over the same directory', async () => {
    const { dataDir, start, close, uncommitted, exists } = await store();
    const writer = await start();
    await writer.createBucket('bucket');

    // The writer's upload in progress: its body sits in tmp/ under the writer's owner id.
    const body = new PassThrough();
    const data = randomBytes(300_000);
    const upload = writer.putObject({ bucket: 'bucket', key: 'in-flight', body, size: data.length, metadata: meta() });
    body.write(data.subarray(0, 100_000));
    await expect.poll(async () => (await fs.readdir(path.join(dataDir, 'tmp'))).length).toBe(1);
    // And one of its files already renamed into data/, not yet committed.
    const renamed = await uncommitted(writer.owner);

    // Another process sharing the directory starts (startup sweep) and runs its periodic sweep.
    const peer = await start();
    expect(ownerLiveness(path.join(dataDir, 'owners'), writer.owner)).toBe('alive');
    await peer.sweepOrphans();
    // The writer's own sweep leaves its own files alone as well: they may be in flight.
    await writer.sweepOrphans();
    expect(await exists(renamed)).toBe(true);
    expect(await fs.readdir(path.join(dataDir, 'tmp'))).toHaveLength(1);

    body.end(data.subarray(100_000));
    await upload;
    expect((await readAll((await peer.getObject({ bucket: 'bucket', key: 'in-flight' })).body)).equals(data)).toBe(true);

    // Once the writer is gone, what it left uncommitted is collected; what it committed stays.
    await close(writer);
    expect(ownerLiveness(path.join(dataDir, 'owners'), writer.owner)).toBe('gone');
    const report = await peer.sweepOrphans();
    expect(report.files).toBe(1);
    expect(await exists(renamed)).toBe(false);
    expect((await readAll((await peer.getObject({ bucket: 'bucket', key: 'in-flight' })).body)).equals(data)).toBe(true);
  });

  it('collects at start the uncommitted files and tmp/ bodies of a process that crashed, keeping committed ones', async () => {
    const { dataDir, start, close, uncommitted, exists } = await store();
    const first = await start();
    await first.createBucket('bucket');
    const kept = randomBytes(80_000);
    await first.putObject({ bucket: 'bucket', key: 'kept', body: bodyOf(kept), size: kept.length, metadata: meta() });
    const { uploadId } = await first.createMultipartUpload({ bucket: 'bucket', key: 'mpu', metadata: meta() });
    const part = randomBytes(70_000);
    await first.uploadPart({ bucket: 'bucket', key: 'mpu', uploadId, partNumber: 1, body: bodyOf(part), size: part.length });
    const owner = first.owner;
    await close(first);
    // A crash leaves the lock file behind, unlocked (the kernel dropped the lock with the process).
    await fs.writeFile(path.join(dataDir, 'owners', `${owner}.lock`), '');
    expect(ownerLiveness(path.join(dataDir, 'owners'), owner)).toBe('crashed');
    const leftovers = [await uncommitted(owner), await uncommitted(owner)];
    await fs.writeFile(path.join(dataDir, 'tmp', `${randomUUID()}.${owner}`), randomBytes(1000));
    const filesBefore = (await fs.readdir(path.join(dataDir, 'data'), { recursive: true })).length;

    const again = await start();
    for (const file of leftovers) expect(await exists(file)).toBe(false);
    expect(await fs.readdir(path.join(dataDir, 'tmp'))).toEqual([]);
    expect((await fs.readdir(path.join(dataDir, 'data'), { recursive: true })).length).toBe(filesBefore - leftovers.length);
    expect(await fs.readdir(path.join(dataDir, 'owners'))).toEqual([`${again.owner}.lock`]);
    expect((await readAll((await again.getObject({ bucket: 'bucket', key: 'kept' })).body)).equals(kept)).toBe(true);
    const parts = await again.listParts({ bucket: 'bucket', key: 'mpu', uploadId, maxParts: 10 });
    expect(parts.parts.map((p) => p.size)).toEqual([part.length]);
    await again.completeMultipartUpload({ bucket: 'bucket', key: 'mpu', uploadId, parts: [{ partNumber: 1, etag: parts.parts[0].etag }] });
    expect((await readAll((await again.getObject({ bucket: 'bucket', key: 'mpu' })).body)).equals(part)).toBe(true);
  });

  it('collects files named before owners existed only once older than the grace period', async () => {
    const { start, dataFile, exists } = await store();
    const clock = fixedClock(new Date());
    const backend = await start({ clock, legacyOrphanGraceMs: 3_600_000 });
    const legacy = randomUUID();
    await fs.writeFile(dataFile(legacy), randomBytes(10_000));
    await backend.sweepOrphans();
    expect(await exists(legacy)).toBe(true);
    clock.advance(3_600_000 + 60_000);
    expect((await backend.sweepOrphans()).files).toBe(1);
    expect(await exists(legacy)).toBe(false);
  });

  it('sweeps periodically on the injected timers, one sweep at a time', async () => {
    const { start, close, uncommitted, exists } = await store();
    const armed: { callback: () => void; ms: number }[] = [];
    const timers: SweepTimers = {
      setTimeout: (callback, ms) => armed.push({ callback, ms }),
      clearTimeout: () => {},
    };
    const gone = await start();
    const owner = gone.owner;
    await close(gone);
    const backend = await start({ timers, orphanSweepIntervalMs: 60_000 });
    // The owner closed cleanly (no lock file): its leftovers wait for the periodic sweep.
    const leftover = await uncommitted(owner);
    expect(armed.map((timer) => timer.ms)).toEqual([60_000]);
    armed[0].callback();
    await backend.sweepOrphans(); // joins the sweep the timer started
    expect(await exists(leftover)).toBe(false);
    await expect.poll(() => armed.length).toBe(2);
  });
});
