/** IPC between the cluster primary and its workers (node:cluster's channel; Node's own messages never reach these listeners). */

/** Worker → primary: both servers listen (with the ports they bound; in a cluster every worker shares the same two). */
export interface ReadyMessage {
  cmd: 'cs:ready';
  s3Port: number;
  apiPort: number;
}

/** Primary → worker: drain and exit (what SIGTERM does to a single process). */
export interface ShutdownMessage {
  cmd: 'cs:shutdown';
}

/** Worker → primary: the metrics of every worker, aggregated (the worker serving `/metrics` asks). */
export interface MetricsRequest {
  cmd: 'cs:metrics-request';
  id: number;
}

/** Primary → worker: the answer to a `MetricsRequest`. */
export interface MetricsResponse {
  cmd: 'cs:metrics-response';
  id: number;
  text?: string;
  contentType?: string;
  error?: string;
}

export type ClusterMessage = ReadyMessage | ShutdownMessage | MetricsRequest | MetricsResponse;

export function isClusterMessage(value: unknown): value is ClusterMessage {
  return typeof value === 'object' && value !== null && typeof (value as { cmd?: unknown }).cmd === 'string' && (value as { cmd: string }).cmd.startsWith('cs:');
}

/** The env variable carrying a worker's slot (1..WORKERS), stable across restarts of that slot, for its log lines. */
export const WORKER_INDEX_ENV = 'CLOUDSTORAGE_WORKER_INDEX';
