import cluster from 'node:cluster';
import type { Logger } from '../logger.ts';
import { isClusterMessage, WORKER_INDEX_ENV, type ReadyMessage } from './messages.ts';

/** This process's worker slot (1..WORKERS) when it is a cluster worker, else undefined. */
export function workerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  return Number(process.env[WORKER_INDEX_ENV]) || cluster.worker!.id;
}

/** Tells the primary both servers listen (it logs `CloudStorage started` once all workers did). */
export function reportReady(ports: { s3Port: number; apiPort: number }): void {
  process.send?.({ cmd: 'cs:ready', ...ports } satisfies ReadyMessage);
}

/** Calls `onShutdown` when the primary asks this worker to drain (on the primary's SIGTERM/SIGINT). */
export function onShutdownRequest(onShutdown: () => void): void {
  process.on('message', (message: unknown) => {
    if (isClusterMessage(message) && message.cmd === 'cs:shutdown') onShutdown();
  });
}

/** `logger` with `fields` on every line (a worker's lines carry `worker`, so logs say which one). */
export function withLogFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (message, extra) => logger.debug(message, { ...fields, ...extra }),
    info: (message, extra) => logger.info(message, { ...fields, ...extra }),
    warn: (message, extra) => logger.warn(message, { ...fields, ...extra }),
    error: (message, extra) => logger.error(message, { ...fields, ...extra }),
  };
}
