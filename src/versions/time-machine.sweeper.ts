import type { Timers } from '../events/timers.ts';
import type { Logger } from '../logger.ts';

/**
 * The periodic Time Machine sweep: version retention over every versioned bucket and the purge of
 * expired trash. Runs every `intervalMs` (0: never by itself) on injected timers, one pass at a
 * time; `sweep()` runs a pass now (tests, with an injected clock). `close()` stops it.
 */
export function createTimeMachineSweeper(deps: { intervalMs: number; timers: Timers; logger?: Logger; pruneVersions: () => Promise<number>; purgeTrash: () => Promise<number> }) {
  let timer: unknown;
  let closed = false;
  let running: Promise<{ pruned: number; purged: number }> | undefined;

  async function pass(): Promise<{ pruned: number; purged: number }> {
    const purged = await deps.purgeTrash();
    const pruned = await deps.pruneVersions();
    if (pruned > 0 || purged > 0) deps.logger?.info('time machine sweep', { prunedVersions: pruned, purgedTrash: purged });
    return { pruned, purged };
  }

  const sweep = (): Promise<{ pruned: number; purged: number }> => {
    // One pass at a time: a tick during a long pass joins it.
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (closed || deps.intervalMs <= 0) return;
    timer = deps.timers.setTimeout(() => {
      sweep()
        .catch((error: unknown) => deps.logger?.warn('time machine sweep failed', { error: (error as Error).message }))
        .finally(schedule);
    }, deps.intervalMs);
  };

  return {
    sweep,
    start: schedule,
    async close(): Promise<void> {
      closed = true;
      if (timer !== undefined) deps.timers.clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
