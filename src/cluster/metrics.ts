/**
 * Metrics across cluster workers (for `GET /metrics` with WORKERS > 1). Each worker keeps its own
 * prom-client registry; a scrape lands on one worker, which asks the primary, which collects every
 * worker's registry through prom-client's `AggregatorRegistry` (counters and histograms summed;
 * gauges summed unless the metric sets its own `aggregator`) and answers with the text.
 *
 * The hook for the /metrics route: in a worker, `createClusterMetrics(registry).metrics()`
 * replaces `registry.metrics()`; the primary calls `serveClusterMetrics()` (runPrimary does).
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { isClusterMessage, type MetricsRequest, type MetricsResponse } from './messages.ts';

/** Primary: answers workers' `cs:metrics-request` with the aggregate of all workers. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isClusterMessage(message) || message.cmd !== 'cs:metrics-request') return;
    const reply = (answer: Omit<MetricsResponse, 'cmd' | 'id'>) => {
      if (worker.isConnected()) worker.send({ cmd: 'cs:metrics-response', id: message.id, ...answer } satisfies MetricsResponse);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text, contentType: aggregator.contentType }),
      (error: Error) => reply({ error: error.message }),
    );
  });
}

/** Worker: `registry` is offered to the primary's aggregation; `metrics()` fetches the aggregate of all workers. */
export function createClusterMetrics(registry: Registry, timeoutMs = 10_000) {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener answering the primary's collection requests.
  new AggregatorRegistry();
  let nextId = 0;
  const pending = new Map<number, { resolve(value: { text: string; contentType: string }): void; reject(error: Error): void; timer: NodeJS.Timeout }>();
  process.on('message', (message: unknown) => {
    if (!isClusterMessage(message) || message.cmd !== 'cs:metrics-response') return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error !== undefined || message.text === undefined) waiting.reject(new Error(`cluster metrics: ${message.error ?? 'no answer'}`));
    else waiting.resolve({ text: message.text, contentType: message.contentType ?? registry.contentType });
  });
  return {
    metrics(): Promise<{ text: string; contentType: string }> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('cluster metrics: the primary did not answer'));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        process.send!({ cmd: 'cs:metrics-request', id } satisfies MetricsRequest);
      });
    },
  };
}
