import cluster, { type Worker } from 'node:cluster';
import { availableParallelism, constants } from 'node:os';
import { ConfigError, type Config } from '../config/config.ts';
import type { Logger } from '../logger.ts';
import { isClusterMessage, WORKER_INDEX_ENV, type ShutdownMessage } from './messages.ts';

/**
 * WORKERS resolved (`auto`: one per core), or a ConfigError when more than one process would
 * keep its own limits: the in-process rate limiter, quota reservations and upload claims cannot
 * be shared, so N workers without Redis would let an account through N times its rate limit and
 * let concurrent uploads on different workers jointly overrun its quota. With REDIS_URL every
 * worker uses the same counters (as separate gateway processes already do).
 */
export function workerCount(config: Pick<Config, 'WORKERS' | 'REDIS_URL'>): number {
  const workers = config.WORKERS === 'auto' ? availableParallelism() : config.WORKERS;
  if (workers > 1 && !config.REDIS_URL) {
    throw new ConfigError(
      `Invalid configuration: WORKERS=${workers} needs REDIS_URL: rate limits and quota reservations are kept per process, so without a shared Redis they would not be exact across workers (set REDIS_URL, or WORKERS=1)`,
    );
  }
  return workers;
}

/** The workers' node options: `--single-threaded-gc` added when they are at least as many as the cores (and no GC flag is given). */
export function workerExecArgv(execArgv: string[], workers: number, cores: number): string[] {
  if (workers < cores || execArgv.some(isGcThreadingFlag)) return execArgv;
  return [...execArgv, '--single-threaded-gc'];
}

/** A V8 flag about GC threads, in any of V8's spellings (`_` or `-`, `--no-`/`--no` negations). */
function isGcThreadingFlag(arg: string): boolean {
  if (!arg.startsWith('--')) return false;
  let name = arg.slice(2).split('=')[0].replaceAll('_', '-');
  if (name.startsWith('no-')) name = name.slice(3);
  else if (name.startsWith('no') && !name.startsWith('node')) name = name.slice(2);
  return /^(single-threaded(-gc)?|parallel-[a-z-]+|concurrent-[a-z-]+)$/.test(name);
}

export interface RestartBackoff {
  /** Delay before the first restart of a slot whose worker died. */
  initialMs: number;
  /** Upper bound of the doubling delay. */
  maxMs: number;
  /** A worker that lived this long resets its slot's backoff. */
  stableMs: number;
}

export interface PrimaryOptions {
  workers: number;
  /** SHUTDOWN_GRACE_MS: what each worker gives requests in flight; the primary waits that long plus a margin. */
  graceMs: number;
  logger: Logger;
  /**
   * One-time start-up, run here before any worker is forked (database migrations, master key,
   * the backend's start-up sweep, relaying a crash's journal): workers then start on a prepared
   * DATA_DIR and never race each other over it.
   */
  prepare(): Promise<{ dataDir: string; backend: string }>;
  backoff?: RestartBackoff;
}

interface Slot {
  index: number;
  worker?: Worker;
  startedAt: number;
  failures: number;
  restartTimer?: NodeJS.Timeout;
}

/** Beyond the grace period, how long the primary waits for workers to exit before killing them. */
const EXIT_MARGIN_MS = 10_000;

/**
 * The cluster primary: prepares DATA_DIR, forks `workers` server processes (they share the two
 * listening ports; the primary accepts and hands connections round-robin), restarts a worker
 * that dies (backoff doubling per slot), and on SIGTERM/SIGINT tells every worker to drain and
 * exits 0 once all have; a second signal kills them and exits at once. Never resolves: the
 * process ends through `process.exit`.
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { logger } = options;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000, stableMs: 30_000 };
  const prepared = await options.prepare();
  const slots: Slot[] = Array.from({ length: options.workers }, (_, i) => ({ index: i + 1, startedAt: 0, failures: 0 }));
  let started = false;
  let stopping = false;
  let exitCode = 0;
  let ready = 0;

  // As many workers as cores (or more): each worker's garbage collector runs on its own thread.
  // V8's parallel GC helper threads would only take CPU from the other workers (about 5 % of a
  // small GET's CPU with WORKERS=2 on two cores); with cores to spare they stay. The price is
  // longer pauses on a worker's main thread. availableParallelism() counts the CPUs this process
  // may run on (affinity), not a cgroup CPU quota.
  const execArgv = workerExecArgv(process.execArgv, options.workers, availableParallelism());
  if (execArgv !== process.execArgv) cluster.setupPrimary({ execArgv });
  const live = () => slots.filter((slot) => slot.worker);
  const exitWhenAllGone = () => {
    if (stopping && live().length === 0) process.exit(exitCode);
  };

  const fork = (slot: Slot) => {
    slot.restartTimer = undefined;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (!isClusterMessage(message) || message.cmd !== 'cs:ready') return;
      if (stopping) return void tellToStop(worker);
      if (started) return void logger.info('worker restarted', { worker: slot.index, workerPid: worker.process.pid });
      ready += 1;
      if (ready === slots.length) {
        started = true;
        logger.info('CloudStorage started', { s3Port: message.s3Port, apiPort: message.apiPort, workers: slots.length, dataDir: prepared.dataDir, backend: prepared.backend });
      }
    });
    worker.on('exit', (code, signal) => {
      slot.worker = undefined;
      if (stopping) {
        if (code !== 0) exitCode = 1;
        return exitWhenAllGone();
      }
      if (!started) {
        // A worker that cannot start (port taken, unreadable DATA_DIR) would fail the same way on
        // every restart: give up, as a single process would.
        logger.error('worker failed to start; stopping', { worker: slot.index, code, signal });
        stopping = true;
        exitCode = code === 78 ? 78 : 1;
        for (const other of live()) other.worker!.process.kill('SIGKILL');
        return exitWhenAllGone();
      }
      if (Date.now() - slot.startedAt >= backoff.stableMs) slot.failures = 0;
      const delay = Math.min(backoff.initialMs * 2 ** slot.failures, backoff.maxMs);
      slot.failures += 1;
      logger.error('worker exited; restarting', { worker: slot.index, workerPid: worker.process.pid, code, signal, restartInMs: delay });
      slot.restartTimer = setTimeout(() => fork(slot), delay);
    });
  };

  const tellToStop = (worker: Worker) => {
    try {
      worker.send({ cmd: 'cs:shutdown' } satisfies ShutdownMessage);
    } catch {
      // The channel is gone (the worker is exiting): a signal still reaches it.
      worker.process.kill('SIGTERM');
    }
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn('second signal: exiting at once', { signal });
      for (const slot of live()) slot.worker!.process.kill('SIGKILL');
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    logger.info('shutting down', { signal, workers: live().length, graceMs: options.graceMs });
    for (const slot of slots) clearTimeout(slot.restartTimer);
    for (const slot of live()) tellToStop(slot.worker!);
    setTimeout(() => {
      const left = live();
      if (left.length > 0) logger.error('workers did not exit in time; killing them', { workers: left.map((slot) => slot.index) });
      exitCode = 1;
      for (const slot of left) slot.worker!.process.kill('SIGKILL');
    }, options.graceMs + EXIT_MARGIN_MS).unref();
    exitWhenAllGone();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  for (const slot of slots) fork(slot);
}
