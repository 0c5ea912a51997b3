import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { fileClosed } from './file-sink.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
const scratch = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-file-sink-'));
  dirs.push(dir);
  return dir;
};

describe('fileClosed', () => {
  it('waits for an open still pending when the write failed, so the rm after it is final', async () => {
    const file = path.join(scratch(), 'tmp-body');
    // The failure reaches the sink before its open ran (the open runs on a later tick, in the pool):
    // the state pipeline() leaves behind when the body fails at once.
    const sink = fs.createWriteStream(file, { flags: 'wx' });
    sink.destroy(new Error('client went away'));
    sink.on('error', () => {});
    expect(sink.closed).toBe(false);
    await fileClosed(sink);
    // The open did run after the failure: the file exists now, and nothing will touch it again.
    expect(sink.closed).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
    await fs.promises.rm(file, { force: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fs.existsSync(file)).toBe(false);
  });

  it('closes a sink the failure never reached, and resolves at once for a closed one', async () => {
    const file = path.join(scratch(), 'spool');
    const untouched = fs.createWriteStream(file);
    await fileClosed(untouched);
    expect(untouched.closed).toBe(true);

    const finished = fs.createWriteStream(file);
    await pipeline(Readable.from([Buffer.from('bytes')]), finished);
    await fileClosed(finished);
    expect(finished.closed).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe('bytes');
    await fileClosed(finished);
  });
});
