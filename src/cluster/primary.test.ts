import { describe, expect, it } from 'vitest';
import { workerExecArgv } from './primary.ts';

describe('workerExecArgv', () => {
  it('gives workers single-threaded GC when they are at least as many as the cores', () => {
    expect(workerExecArgv([], 2, 2)).toEqual(['--single-threaded-gc']);
    expect(workerExecArgv(['--enable-source-maps'], 8, 4)).toEqual(['--enable-source-maps', '--single-threaded-gc']);
  });

  it('leaves them alone with cores to spare, or when a GC option is already given', () => {
    // Not GC flags: added to as usual.
    expect(workerExecArgv(['--no-warnings', '--node-memory-debug'], 2, 2)).toEqual(['--no-warnings', '--node-memory-debug', '--single-threaded-gc']);
    const given = ['--max-old-space-size=512'];
    expect(workerExecArgv(given, 2, 4)).toBe(given);
    for (const flag of [
      '--single-threaded-gc',
      '--no-single-threaded-gc',
      '--nosingle-threaded-gc',
      '--single_threaded_gc',
      '--single-threaded',
      '--no-parallel-scavenge',
      '--no_concurrent_marking',
      '--parallel-marking',
      '--concurrent-sweeping',
    ]) {
      const argv = [flag];
      expect(workerExecArgv(argv, 4, 2)).toBe(argv);
    }
  });
});
