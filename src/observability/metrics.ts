import { collectDefaultMetrics, Counter, Gauge, Registry, type Aggregator } from 'prom-client';
import { AppError } from '../errors/app-errors.ts';
import { KIND_STATUS, type ErrorKind } from '../errors/error-kind.ts';
import { S3Error } from '../errors/s3-errors.ts';
import { isAbortError } from '../http/client-signal.ts';
import type { RateLimitResult } from '../limits/rate-limiter.ts';

/** Request latency buckets (seconds): sub-millisecond cache hits up to minute-long uploads. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Backend call latency buckets (seconds). */
const BACKEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** `2xx`…`5xx` by status; `aborted`: the client left before a status was sent. */
const STATUS_CLASSES = ['aborted', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];
export function statusClassOf(status: number | undefined): StatusClass {
  if (status === undefined) return 'aborted';
  return STATUS_CLASSES[Math.floor(status / 100)] ?? '5xx';
}

/**
 * One label combination of a request family: its latency histogram, request count and bytes,
 * all plain numbers. A request costs a lookup of this object and a few additions; prom-client's
 * own metrics would hash the label set on every observation (several per request), which the
 * S3 hot path should not pay. The samples are built from these figures when /metrics is scraped.
 */
class Series {
  readonly buckets: Float64Array;
  count = 0;
  sum = 0;
  bytesIn = 0;
  bytesOut = 0;
  constructor(
    readonly labels: Record<string, string>,
    readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A metric in prom-client's registry shape whose samples are computed at scrape time. */
function scrapedMetric(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', samples: () => Sample[] | Promise<Sample[]>, aggregator: Aggregator = 'sum') {
  return {
    name,
    help,
    type,
    aggregator,
    async get() {
      return { name, help, type, aggregator, values: await samples() };
    },
  };
}

/** Series keyed by their label values (nested maps: no string is built per request). */
class SeriesTable {
  private readonly root = new Map<string, unknown>();
  readonly all: Series[] = [];
  constructor(
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {}

  get(values: readonly string[]): Series {
    let map = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = map.get(values[i]!) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        map.set(values[i]!, next);
      }
      map = next;
    }
    let series = map.get(values[last]!) as Series | undefined;
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i]!;
      });
      series = new Series(labels, this.bounds);
      map.set(values[last]!, series);
      this.all.push(series);
    }
    return series;
  }

  histogramSamples(name: string): Sample[] {
    const samples: Sample[] = [];
    for (const series of this.all) {
      let cumulative = 0;
      series.bounds.forEach((le, i) => {
        cumulative += series.buckets[i]!;
        samples.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le }, value: cumulative });
      });
      samples.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: '+Inf' }, value: series.count });
      samples.push({ metricName: `${name}_sum`, labels: series.labels, value: series.sum });
      samples.push({ metricName: `${name}_count`, labels: series.labels, value: series.count });
    }
    return samples;
  }

  samples(pick: (series: Series) => number): Sample[] {
    return this.all.map((series) => ({ labels: series.labels, value: pick(series) }));
  }
}

/** The domain kind of a failed backend call; undefined for a call its client's signal cancelled. */
function failureKind(error: unknown): ErrorKind | undefined {
  if (isAbortError(error)) return undefined;
  if (error instanceof S3Error || error instanceof AppError) return error.kind;
  return 'internal';
}

/** One backend method's figures: wrapped once at start, so a call pays no lookup at all. */
export interface BackendCallMetrics {
  observe(seconds: number): void;
  /** A failed call: counted as a backend error when its kind is a server-side one (5xx kinds). */
  failed(error: unknown): void;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The process's metrics, in a registry of its own (no prom-client global: two servers in one
 * process, as the tests run them, keep separate figures). Prometheus text format via `render()`.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  const prefix = 'cloudstorage_';

  const s3 = new SeriesTable(['operation', 'status_class'], REQUEST_BUCKETS);
  const api = new SeriesTable(['method', 'route', 'status_class'], REQUEST_BUCKETS);
  const backend = new SeriesTable(['call'], BACKEND_BUCKETS);

  const families: Array<[SeriesTable, string, string]> = [
    [s3, `${prefix}s3`, 'S3 gateway requests'],
    [api, `${prefix}api`, 'Dashboard API requests'],
  ];
  for (const [table, base, what] of families) {
    registry.registerMetric(scrapedMetric(`${base}_requests_total`, `${what}, by outcome.`, 'counter', () => table.samples((s) => s.count)) as never);
    registry.registerMetric(
      scrapedMetric(`${base}_request_duration_seconds`, `${what}: time from request head to the response finished (or the client gone).`, 'histogram', () =>
        table.histogramSamples(`${base}_request_duration_seconds`),
      ) as never,
    );
    registry.registerMetric(scrapedMetric(`${base}_received_bytes_total`, `${what}: request body bytes received.`, 'counter', () => table.samples((s) => s.bytesIn)) as never);
    registry.registerMetric(scrapedMetric(`${base}_sent_bytes_total`, `${what}: response body bytes sent.`, 'counter', () => table.samples((s) => s.bytesOut)) as never);
  }
  registry.registerMetric(
    scrapedMetric(
      `${prefix}backend_call_duration_seconds`,
      'Storage backend calls (fs or s3 proxy): time until the call resolved (for reads: the body is ready to stream).',
      'histogram',
      () => backend.histogramSamples(`${prefix}backend_call_duration_seconds`),
    ) as never,
  );
  const backendErrors = new Counter({
    name: `${prefix}backend_errors_total`,
    help: 'Storage backend calls that failed on the server side (error kinds answered 5xx: unavailable, internal, insufficient_storage…); not-found and client aborts are not errors.',
    labelNames: ['call', 'kind'],
    registers: [registry],
  });
  const rateLimitRefusals = new Counter({
    name: `${prefix}rate_limit_refusals_total`,
    help: 'Requests refused by a rate limit, by limiter scope (s3:read, s3:write, s3:list, api:dashboard, login:email, login:ip).',
    labelNames: ['scope'],
    registers: [registry],
  });
  const rateLimitFailOpen = new Counter({
    name: `${prefix}rate_limit_fail_open_total`,
    help: 'Rate-limit checks let through unchecked because Redis did not answer (fail open).',
    labelNames: ['scope'],
    registers: [registry],
  });
  const quotaRefusals = new Counter({
    name: `${prefix}quota_refusals_total`,
    help: 'Requests refused by a quota (bytes, objects or uploads in progress), by door (s3: the gateway, api: the file API).',
    labelNames: ['door'],
    registers: [registry],
  });

  let redisProbe: (() => Promise<boolean>) | undefined;
  new Gauge({
    name: `${prefix}redis_degraded`,
    help: '1 while the limits backend (Redis, REDIS_URL) does not answer within REDIS_TIMEOUT_MS: rate limits fail open and quotas fall back to the database. Probed at scrape; always 0 without REDIS_URL.',
    registers: [registry],
    // Several workers share one Redis: the state is the same figure, not a sum.
    aggregator: 'max',
    async collect() {
      this.set(redisProbe && (await redisProbe()) ? 1 : 0);
    },
  });

  let outboxBacklog: (() => Promise<Array<{ subscriber: string; events: number }>>) | undefined;
  new Gauge({
    name: `${prefix}outbox_backlog_events`,
    help: 'Domain events in the event log not yet delivered to a subscriber (per subscriber). Read from the shared database at scrape.',
    labelNames: ['subscriber'],
    registers: [registry],
    aggregator: 'max',
    async collect() {
      // A database that does not answer leaves the gauge empty for this scrape (the health status says why).
      const backlog = (await outboxBacklog?.().catch(() => undefined)) ?? [];
      this.reset();
      for (const { subscriber, events } of backlog) this.set({ subscriber }, events);
    },
  });

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const s3Key: string[] = ['', ''];
  const apiKey: string[] = ['', '', ''];

  return {
    registry,
    contentType: registry.contentType,
    render: (): Promise<string> => registry.metrics(),

    /** One finished (or abandoned) S3 request. `status` undefined: the client left before a status was sent. */
    s3Request(operation: string, status: number | undefined, seconds: number, bytesIn: number, bytesOut: number): void {
      s3Key[0] = operation;
      s3Key[1] = statusClassOf(status);
      const series = s3.get(s3Key);
      series.observe(seconds);
      series.bytesIn += bytesIn;
      series.bytesOut += bytesOut;
    },

    /** One finished dashboard API request; `route` is the matched route pattern (bounded set). */
    apiRequest(method: string, route: string, status: number | undefined, seconds: number, bytesIn: number, bytesOut: number): void {
      apiKey[0] = method;
      apiKey[1] = route;
      apiKey[2] = statusClassOf(status);
      const series = api.get(apiKey);
      series.observe(seconds);
      series.bytesIn += bytesIn;
      series.bytesOut += bytesOut;
    },

    backendCall(call: string): BackendCallMetrics {
      const series = backend.get([call]);
      return {
        observe: (seconds) => series.observe(seconds),
        failed(error) {
          const kind = failureKind(error);
          if (kind !== undefined && KIND_STATUS[kind] >= 500) backendErrors.inc({ call, kind });
        },
      };
    },

    /** Every rate-limit answer: refusals and fail-open passes are counted by the limiter key's scope. */
    rateLimitChecked(scope: string, result: RateLimitResult): void {
      if (!result.allowed) rateLimitRefusals.inc({ scope });
      else if (result.degraded) rateLimitFailOpen.inc({ scope });
    },

    quotaRefused(door: 's3' | 'api'): void {
      quotaRefusals.inc({ door });
    },

    /** `probe` resolves true while Redis is degraded (asked at each scrape). */
    setRedisProbe(probe: () => Promise<boolean>): void {
      redisProbe = probe;
    },

    setOutboxBacklog(read: () => Promise<Array<{ subscriber: string; events: number }>>): void {
      outboxBacklog = read;
    },
  };
}
