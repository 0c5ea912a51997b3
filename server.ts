import { getRequestListener } from '@hono/node-server';
import { createServer } from 'node:http';
import { createDashboardApp } from './dashboard-api/app.ts';
import { createAuthUsecases } from './dashboard-api/modules/auth/auth.usecases.ts';
import { createSessionsRepository } from './dashboard-api/modules/auth/sessions.repository.ts';
import { createAdminRepository } from './dashboard-api/modules/admin/admin.repository.ts';
import { createAdminUsecases } from './dashboard-api/modules/admin/admin.usecases.ts';
import { createDashboardBucketsUsecases } from './dashboard-api/modules/buckets/buckets.usecases.ts';
import { createFilesUsecases } from './dashboard-api/modules/files/files.usecases.ts';
import { createExplorerUsecases } from './dashboard-api/modules/explorer/explorer.usecases.ts';
import { createActivityRepository } from './dashboard-api/modules/activity/activity.repository.ts';
import { createActivityUsecases } from './dashboard-api/modules/activity/activity.usecases.ts';
import { createActivitySubscriber } from './dashboard-api/modules/activity/activity.subscriber.ts';
import { createSharesRepository } from './dashboard-api/modules/shares/shares.repository.ts';
import { createSharesUsecases } from './dashboard-api/modules/shares/shares.usecases.ts';
import { createVersionsUsecases } from './dashboard-api/modules/versions/versions.usecases.ts';
import { createTimeMachine } from './src/versions/time-machine.ts';
import { hashPassword, verifyPassword } from './src/crypto/passwords.ts';
import { createGatewayApp } from './gateway/app.ts';
import { withBodyIdleTimeout } from './src/http/body-idle-timeout.ts';
import { pathOf } from './src/http/request-path.ts';
import { createUploadGate } from './src/limits/upload-gate.ts';
import { createS3Server, listen } from './gateway/server.ts';
import { batchRequests } from './src/http/batch-requests.ts';
import { createHttpDrain } from './src/lifecycle/http-drain.ts';
import type { Clock } from './src/clock.ts';
import type { Config } from './src/config/config.ts';
import type { SqlTrace } from './src/db/database.ts';
import { createCore, VERSION } from './src/core.ts';
import type { Logger } from './src/logger.ts';
import { createAccessLog } from './src/observability/access-log.ts';
import { instrumentBackend, instrumentRateLimiter, limitsDegraded } from './src/observability/instrument.ts';
import { createMetrics } from './src/observability/metrics.ts';
import cluster from 'node:cluster';
import { createClusterMetrics } from './src/cluster/metrics.ts';

/** Starts the S3 gateway and the dashboard API over one core (database, keys, backend). */
export async function startCloudStorage(options: { config: Config; clock?: Clock; logger?: Logger; traceSql?: { metadata?: SqlTrace; backend?: SqlTrace } }) {
  const core = await createCore(options);
  // Subscribers of the domain events: the dispatcher delivers the log to each from its own cursor.
  core.events.dispatcher.register(createActivitySubscriber({ database: core.database }));
  // Time Machine and trash: retention after each write (a subscriber) and by a periodic sweep.
  const timeMachine = createTimeMachine(core);
  core.events.dispatcher.register(timeMachine.subscriber);
  timeMachine.sweeper.start();
  // TIME_MACHINE_DEFAULT: the `default` bucket of a dashboard sign-up and dashboard-created buckets start versioned.
  const accountsUsecases: typeof core.accountsUsecases = {
    ...core.accountsUsecases,
    async createAccount(input) {
      const created = await core.accountsUsecases.createAccount(input);
      await timeMachine.enableByDefault(created.user.id, created.bucket.name);
      return created;
    },
  };
  const dashboardBuckets = createDashboardBucketsUsecases({ buckets: core.bucketsUsecases });
  // Metrics (GET /metrics on the API port) and access lines: one registry per server, fed from one
  // place each — the backend and the limiter wrapped here, requests by the servers' access log.
  const metrics = createMetrics();
  instrumentBackend(core.backend, metrics);
  const rateLimiter = instrumentRateLimiter(core.rateLimiter, metrics);
  metrics.setRedisProbe(() => limitsDegraded(core.rateLimiter));
  metrics.setOutboxBacklog(async () => {
    const last = await core.events.log.lastSeq();
    return Promise.all(core.events.dispatcher.subscribers().map(async (subscriber) => ({ subscriber, events: Math.max(0, last - (await core.events.log.cursor(subscriber))) })));
  });
  const accessLog = createAccessLog({ logger: core.logger, metrics, enabled: core.config.ACCESS_LOG && ['debug', 'info'].includes(core.config.LOG_LEVEL) });
  const keyStore = core.keyStore;
  const checkDatabase = () => core.database.ping();
  // Set when shutdown begins: the health status answers 503 from then on, so balancers stop sending.
  let shuttingDown = false;
  const shared = { clock: core.clock, backend: core.backend, startedAt: core.startedAt, version: VERSION, checkDatabase, shuttingDown: () => shuttingDown };

  // One count of uploads in progress per account, whichever API they came through.
  const uploadGate = createUploadGate(core.config.MAX_CONCURRENT_UPLOADS_PER_ACCOUNT);
  const gateway = createGatewayApp({
    ...shared,
    config: core.config,
    logger: core.logger,
    keyStore,
    bucketsUsecases: core.bucketsUsecases,
    rateLimiter,
    objects: core.objects,
    uploadGate,
  });
  const s3Server = createS3Server(gateway, { bodyIdleTimeoutMs: core.config.BODY_IDLE_TIMEOUT_MS, logger: core.logger });
  // Prepended: the access record (start time, socket byte counts) exists before the gateway runs.
  s3Server.prependListener('request', accessLog.s3);
  s3Server.prependListener('checkContinue', accessLog.s3);
  s3Server.prependListener('checkExpectation', accessLog.s3);
  const sessionsRepository = createSessionsRepository({ database: core.database });
  const dashboard = createDashboardApp({
    ...shared,
    logger: core.logger,
    rateLimiter,
    apiRateLimit: core.config.RATE_LIMIT_DASHBOARD,
    // The dashboard's own feature modules are composed here, beside the app that serves them.
    authUsecases: createAuthUsecases({
      accountsRepository: core.accountsRepository,
      accountsUsecases,
      sessionsRepository,
      clock: core.clock,
      sessionTtlMs: core.config.SESSION_TTL_MS,
      signupEnabled: core.config.SIGNUP_ENABLED,
      rateLimiter,
      loginRule: core.config.RATE_LIMIT_LOGIN,
    }),
    keysUsecases: core.keysUsecases,
    bucketsUsecases: {
      ...dashboardBuckets,
      async create(userId, name, origin) {
        const created = await dashboardBuckets.create(userId, name, origin);
        await timeMachine.enableByDefault(userId, name);
        return created;
      },
    },
    adminUsecases: createAdminUsecases({
      adminRepository: createAdminRepository({ database: core.database }),
      accountsRepository: core.accountsRepository,
      accountsUsecases,
      keysUsecases: core.keysUsecases,
      quotasUsecases: core.quotasUsecases,
      sessionsRepository,
      // Every gateway's key store (the change feed reaches the other processes).
      onAccessChanged: core.changes.notify,
    }),
    keyStore,
    filesUsecases: createFilesUsecases({ objects: core.objects, uploadGate, trash: timeMachine.trash }),
    explorerUsecases: createExplorerUsecases({ objects: core.objects }),
    activityUsecases: createActivityUsecases({ activityRepository: createActivityRepository({ database: core.database }), accountsRepository: core.accountsRepository }),
    // Share links read through the objects service as the share's owner; downloads are counted in SQL, events go to the log.
    sharesUsecases: createSharesUsecases({
      repository: createSharesRepository({ database: core.database }),
      objects: core.objects,
      buckets: core.bucketsUsecases,
      accounts: core.accountsRepository,
      keyStore,
      files: createFilesUsecases({ objects: core.objects, uploadGate }),
      passwords: { hash: hashPassword, verify: verifyPassword },
      clock: core.clock,
      limiter: rateLimiter,
      accessRule: core.config.RATE_LIMIT_SHARE_ACCESS,
      passwordRule: core.config.RATE_LIMIT_SHARE_PASSWORD,
      eventLog: core.events.log,
    }),
    versionsUsecases: createVersionsUsecases({
      objects: core.objects,
      restoring: timeMachine.internal.restoring,
      repository: timeMachine.versionsRepository,
      retention: timeMachine.retention,
      resolveBucket: timeMachine.resolveBucket,
      uploadGate,
      usage: (accountId) => core.quotasUsecases.usage(accountId),
    }),
    trashUsecases: timeMachine.trash,
    publicUrl: core.config.PUBLIC_URL,
    allowedHosts: core.config.ALLOWED_HOSTS,
    bodyLimitBytes: core.config.API_BODY_LIMIT_BYTES,
    // With WORKERS > 1 a scrape reaches one worker, which answers with every worker's figures (merged by the primary).
    metrics: cluster.isWorker ? clusterMetricsSource(createClusterMetrics(metrics.registry), metrics.contentType) : metrics,
    metricsToken: core.config.METRICS_TOKEN,
  });
  // File API uploads (and any other body) that stop arriving are cut like the gateway's.
  const apiServer = createServer(
    // Served in batches per loop turn, as the gateway's requests are (src/http/batch-requests.ts).
    withBodyIdleTimeout(
      batchRequests(getRequestListener(dashboard.fetch), (error, incoming) =>
        core.logger.error('unhandled API error', { method: incoming.method, path: pathOf(incoming.url), error: (error as Error)?.stack ?? String(error) }),
      ),
      {
        timeoutMs: core.config.BODY_IDLE_TIMEOUT_MS,
        onTimeout: (incoming) => core.logger.info('request body idle timeout: connection closed', { method: incoming.method, path: pathOf(incoming.url) }),
      },
    ),
  );
  apiServer.prependListener('request', accessLog.api);

  const drains = [createHttpDrain(s3Server), createHttpDrain(apiServer)];
  const s3Port = await listen(s3Server, core.config.S3_PORT, core.config.HOST);
  const apiPort = await listen(apiServer, core.config.API_PORT, core.config.HOST);
  // The allocator settings this process was started with (src/lifecycle/allocator.ts): glibc read them at exec.
  core.logger.info('CloudStorage started', { s3Port, apiPort, dataDir: core.config.DATA_DIR, backend: core.backend.kind, glibcTunables: process.env.GLIBC_TUNABLES });

  return {
    core,
    /** The dashboard Hono app, for route introspection (the OpenAPI completeness test). */
    dashboardApp: dashboard,
    /** This process's metrics registry (GET /metrics renders it). */
    metrics,
    /** Retention, trash and the sweep (tests run `timeMachine.sweeper.sweep()` with an injected clock). */
    timeMachine,
    s3Port,
    apiPort,
    /**
     * Health turns 503, both servers stop accepting, requests in flight get `graceMs` (default 0:
     * cut at once) to finish, then the core closes. main.ts passes SHUTDOWN_GRACE_MS.
     */
    async close(options: { graceMs?: number } = {}) {
      shuttingDown = true;
      const results = await Promise.all(drains.map((drain) => drain.close(options.graceMs ?? 0)));
      const cut = results.reduce((sum, result) => sum + result.cut, 0);
      if (cut > 0 && options.graceMs) core.logger.warn('shutdown: grace period over, connections cut', { connections: cut, graceMs: options.graceMs });
      await timeMachine.sweeper.close();
      await core.close();
    },
  };
}

export type RunningCloudStorage = Awaited<ReturnType<typeof startCloudStorage>>;

function clusterMetricsSource(clusterMetrics: ReturnType<typeof createClusterMetrics>, contentType: string) {
  return { contentType, render: async () => (await clusterMetrics.metrics()).text };
}
