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
import { createGatewayApp } from './gateway/app.ts';
import { withBodyIdleTimeout } from './src/http/body-idle-timeout.ts';
import { createUploadGate } from './src/limits/upload-gate.ts';
import { closeServer, createS3Server, listen } from './gateway/server.ts';
import type { Clock } from './src/clock.ts';
import type { Config } from './src/config/config.ts';
import { createCore, VERSION } from './src/core.ts';
import type { Logger } from './src/logger.ts';

/** Starts the S3 gateway and the dashboard API over one core (database, keys, backend). */
export async function startCloudStorage(options: { config: Config; clock?: Clock; logger?: Logger }) {
  const core = await createCore(options);
  // Subscribers of the domain events: the dispatcher delivers the log to each from its own cursor.
  core.events.dispatcher.register(createActivitySubscriber({ db: core.database.db }));
  const keyStore = core.keyStore;
  const checkDatabase = () => {
    try {
      core.database.sqlite.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  };
  const shared = { clock: core.clock, backend: core.backend, startedAt: core.startedAt, version: VERSION, checkDatabase };

  // One count of uploads in progress per account, whichever API they came through.
  const uploadGate = createUploadGate(core.config.MAX_CONCURRENT_UPLOADS_PER_ACCOUNT);
  const gateway = createGatewayApp({
    ...shared,
    config: core.config,
    logger: core.logger,
    keyStore,
    bucketsUsecases: core.bucketsUsecases,
    rateLimiter: core.rateLimiter,
    objects: core.objects,
    uploadGate,
  });
  const s3Server = createS3Server(gateway, { bodyIdleTimeoutMs: core.config.BODY_IDLE_TIMEOUT_MS, logger: core.logger });
  const sessionsRepository = createSessionsRepository({ db: core.database.db });
  const dashboard = createDashboardApp({
    ...shared,
    logger: core.logger,
    rateLimiter: core.rateLimiter,
    apiRateLimit: core.config.RATE_LIMIT_DASHBOARD,
    // The dashboard's own feature modules are composed here, beside the app that serves them.
    authUsecases: createAuthUsecases({
      accountsRepository: core.accountsRepository,
      accountsUsecases: core.accountsUsecases,
      sessionsRepository,
      clock: core.clock,
      sessionTtlMs: core.config.SESSION_TTL_MS,
      signupEnabled: core.config.SIGNUP_ENABLED,
      rateLimiter: core.rateLimiter,
      loginRule: core.config.RATE_LIMIT_LOGIN,
    }),
    keysUsecases: core.keysUsecases,
    bucketsUsecases: createDashboardBucketsUsecases({ buckets: core.bucketsUsecases }),
    adminUsecases: createAdminUsecases({
      adminRepository: createAdminRepository({ db: core.database.db }),
      accountsRepository: core.accountsRepository,
      accountsUsecases: core.accountsUsecases,
      keysUsecases: core.keysUsecases,
      quotasUsecases: core.quotasUsecases,
      sessionsRepository,
      onAccessChanged: keyStore.invalidate,
    }),
    keyStore,
    filesUsecases: createFilesUsecases({ objects: core.objects, uploadGate }),
    explorerUsecases: createExplorerUsecases({ objects: core.objects }),
    activityUsecases: createActivityUsecases({ activityRepository: createActivityRepository({ db: core.database.db }), accountsRepository: core.accountsRepository }),
    publicUrl: core.config.PUBLIC_URL,
    allowedHosts: core.config.ALLOWED_HOSTS,
    bodyLimitBytes: core.config.API_BODY_LIMIT_BYTES,
  });
  // File API uploads (and any other body) that stop arriving are cut like the gateway's.
  const apiServer = createServer(
    withBodyIdleTimeout(getRequestListener(dashboard.fetch), {
      timeoutMs: core.config.BODY_IDLE_TIMEOUT_MS,
      onTimeout: (incoming) => core.logger.info('request body idle timeout: connection closed', { method: incoming.method, path: (incoming.url ?? '/').split('?')[0] }),
    }),
  );

  const s3Port = await listen(s3Server, core.config.S3_PORT, core.config.HOST);
  const apiPort = await listen(apiServer, core.config.API_PORT, core.config.HOST);
  core.logger.info('CloudStorage started', { s3Port, apiPort, dataDir: core.config.DATA_DIR, backend: core.backend.kind });

  return {
    core,
    /** The dashboard Hono app, for route introspection (the OpenAPI completeness test). */
    dashboardApp: dashboard,
    s3Port,
    apiPort,
    async close() {
      await Promise.all([closeServer(s3Server), closeServer(apiServer)]);
      await core.close();
    },
  };
}

export type RunningCloudStorage = Awaited<ReturnType<typeof startCloudStorage>>;
