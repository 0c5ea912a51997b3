/**
 * The allocator settings reach the server as `npm start` runs it (src/lifecycle/allocator.ts),
 * and a server started without any says so once.
 */
import { describe, expect, it } from 'vitest';
import { RECOMMENDED_GLIBC_TUNABLES, runtimeGlibcVersion } from '../../src/lifecycle/allocator.ts';
import { tempDir } from '../support/cloudstorage.ts';
import { spawnServer } from '../support/spawned-server.ts';

const ADVICE = /^glibc malloc is untuned/;

describe.runIf(runtimeGlibcVersion() !== undefined)('glibc malloc settings of a running server', () => {
  it('runs with the recommended settings and gives no advice', async () => {
    const dir = tempDir();
    // Explicit, as npm start and the image set them: the runner's own environment must not decide.
    const server = await spawnServer({ DATA_DIR: dir.path, GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES, LD_PRELOAD: '' });
    try {
      expect(server.lines.find((line) => line.message === 'CloudStorage started')?.glibcTunables).toBe(RECOMMENDED_GLIBC_TUNABLES);
      expect(server.lines.filter((line) => ADVICE.test(line.message ?? ''))).toEqual([]);
    } finally {
      await server.stop();
      dir.remove();
    }
  });

  it('started without them, warns once at start', async () => {
    const dir = tempDir();
    const server = await spawnServer({ DATA_DIR: dir.path, GLIBC_TUNABLES: '', LD_PRELOAD: '' });
    try {
      const advice = server.lines.filter((line) => ADVICE.test(line.message ?? ''));
      expect(advice).toHaveLength(1);
      expect(advice[0]).toMatchObject({ level: 'warn' });
      expect(advice[0].message).toContain(`GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES}`);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
