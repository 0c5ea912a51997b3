import cluster from 'node:cluster';
import { constants } from 'node:os';
import { ConfigError, loadConfig, type Config } from './src/config/config.ts';
import { loadEnvFileIfPresent } from './src/config/env-file.ts';
import { startCloudStorage } from './server.ts';
import { createCore } from './src/core.ts';
import { createLogger } from './src/logger.ts';
import { serveClusterMetrics } from './src/cluster/metrics.ts';
import { runPrimary, workerCount } from './src/cluster/primary.ts';
import { onShutdownRequest, reportReady, withLogFields, workerIndex } from './src/cluster/worker.ts';
import { allocatorAdvice, runtimeGlibcVersion } from './src/lifecycle/allocator.ts';

/**
 * One server process (WORKERS=1, or a cluster worker). The first SIGTERM/SIGINT (or the
 * primary's request) drains: health turns 503, listening stops, requests in flight get
 * SHUTDOWN_GRACE_MS, then the process exits 0. A second signal exits at once.
 */
async function serve(config: Config): Promise<void> {
  const worker = workerIndex();
  const logger = worker === undefined ? createLogger(config.LOG_LEVEL) : withLogFields(createLogger(config.LOG_LEVEL), { worker });
  let stopRequested: string | undefined;
  let stop: ((reason: string) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested !== undefined) {
      logger.warn('second signal: exiting at once', { signal });
      process.exit(128 + constants.signals[signal]);
    }
    stopRequested = signal;
    stop?.(signal);
  };
  // Installed before start: a signal during start-up still drains (right after it) instead of killing.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (worker !== undefined) {
    onShutdownRequest(() => {
      if (stopRequested !== undefined) return; // already draining (a terminal's Ctrl-C reaches every worker too)
      stopRequested = 'primary';
      stop?.('primary');
    });
  }

  const running = await startCloudStorage({ config, logger });
  stop = (reason) => {
    logger.info('shutting down', { signal: reason, graceMs: config.SHUTDOWN_GRACE_MS });
    running.close({ graceMs: config.SHUTDOWN_GRACE_MS }).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      },
    );
  };
  if (worker !== undefined) reportReady({ s3Port: running.s3Port, apiPort: running.apiPort });
  if (stopRequested !== undefined) stop(stopRequested);
}

try {
  // `.env` in the working directory, if any; the environment wins (src/config/env-file.ts).
  loadEnvFileIfPresent();
  const config = loadConfig();
  const workers = workerCount(config);
  if (cluster.isPrimary) {
    // Once per deployment, not per worker (workers inherit the primary's environment).
    const advice = allocatorAdvice(process.env, runtimeGlibcVersion);
    if (advice) createLogger(config.LOG_LEVEL).warn(advice);
  }
  if (cluster.isPrimary && workers > 1) {
    serveClusterMetrics();
    const logger = createLogger(config.LOG_LEVEL);
    await runPrimary({
      workers,
      graceMs: config.SHUTDOWN_GRACE_MS,
      logger,
      // The start-up a single process does in createCore, done once before the workers race for it.
      async prepare() {
        const core = await createCore({ config, logger, eventRelayIntervalMs: 0 });
        const prepared = { dataDir: config.DATA_DIR, backend: core.backend.kind };
        await core.close();
        return prepared;
      },
    });
  } else {
    await serve(config);
  }
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(78);
  }
  throw error;
}
