import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { IncomingMessage } from 'node:http';
import { renderJsonError } from '../src/errors/render-json.ts';
import { isClientAbort } from '../src/http/client-abort.ts';
import type { RateLimiter, RateLimitRule } from '../src/limits/rate-limiter.ts';
import { healthStatus, type HealthDeps } from '../src/health.ts';
import { newRequestId } from '../src/ids.ts';
import type { Logger } from '../src/logger.ts';
import { jsonError } from './errors.ts';
import { authOperations, createAuthRoutes } from './modules/auth/auth.routes.ts';
import { createOpenApiRoutes } from './openapi/openapi.routes.ts';
import type { ApiOperation } from './openapi/operations.ts';
import type { AuthUsecases } from './modules/auth/auth.usecases.ts';
import { bucketsOperations, createBucketsRoutes } from './modules/buckets/buckets.routes.ts';
import type { DashboardBucketsUsecases } from './modules/buckets/buckets.usecases.ts';
import { createKeysRoutes, keysOperations } from './modules/keys/keys.routes.ts';
import type { KeysUsecases } from '../src/keys/keys.usecases.ts';
import { csrfProtection } from './modules/auth/csrf.middleware.ts';
import { bodyLimit } from './body-limit.middleware.ts';
import { hostCheck } from './host-check.middleware.ts';
import { sessionMiddleware, type AuthVariables } from './modules/auth/session.middleware.ts';
import { byAccountOrClientAddress, rateLimit } from './rate-limit.middleware.ts';
import { adminOperations, createAdminRoutes } from './modules/admin/admin.routes.ts';
import { createFilesRoutes, filesOperations } from './modules/files/files.routes.ts';
import type { FilesUsecases } from './modules/files/files.usecases.ts';
import { filesErrorVocabulary } from './modules/files/files.errors.ts';
import { createExplorerRoutes, explorerOperations } from './modules/explorer/explorer.routes.ts';
import type { ExplorerUsecases } from './modules/explorer/explorer.usecases.ts';
import type { KeyStore } from '../src/keys/key-store.ts';
import type { AdminUsecases } from './modules/admin/admin.usecases.ts';
import { activityOperations, createActivityRoutes, createAdminActivityRoutes } from './modules/activity/activity.routes.ts';
import type { ActivityUsecases } from './modules/activity/activity.usecases.ts';
import { noteApiRequest, noteError } from '../src/observability/access-log.ts';
import { metricsHandler, type MetricsSource } from './metrics.route.ts';
import type { ApiKeyVariables } from './modules/files/api-key.middleware.ts';
import { createSharePublicRoutes, createSharesApiRoutes, sharesOperations } from './modules/shares/shares.routes.ts';
import type { SharesUsecases } from './modules/shares/shares.usecases.ts';
import { createVersionsRoutes, versionsOperations } from './modules/versions/versions.routes.ts';
import type { VersionsUsecases } from './modules/versions/versions.usecases.ts';
import { createTrashRoutes, trashOperations } from './modules/trash/trash.routes.ts';
import type { TrashUsecases } from '../src/trash/trash.usecases.ts';
import { closeAfterErrorAnswer, drainDroppedBody } from '../src/http/unread-body.ts';

export interface DashboardDeps extends HealthDeps {
  logger: Logger;
  rateLimiter: RateLimiter;
  /** RATE_LIMIT_DASHBOARD; undefined when off. */
  apiRateLimit: RateLimitRule | undefined;
  authUsecases: AuthUsecases;
  keysUsecases: KeysUsecases;
  bucketsUsecases: DashboardBucketsUsecases;
  adminUsecases: AdminUsecases;
  /** The S3 gateway's key store: the file API authenticates the same access keys. */
  keyStore: KeyStore;
  filesUsecases: FilesUsecases;
  explorerUsecases: ExplorerUsecases;
  /** Reads of the activity log (written by the `activity` subscriber of the event log). */
  activityUsecases: ActivityUsecases;
  /** Share links: `/api/shares` (owner) and the public `/s/{code}` pages; without it neither is mounted. */
  sharesUsecases?: SharesUsecases;
  /** Time Machine (`/api/versions`) and trash (`/api/trash`); without them neither is mounted. */
  versionsUsecases?: VersionsUsecases;
  trashUsecases?: TrashUsecases;
  /** PUBLIC_URL: the only origin allowed to send cookie-authenticated writes; https makes cookies Secure. */
  publicUrl: string | undefined;
  /** ALLOWED_HOSTS: Host names served besides loopback names and PUBLIC_URL's host. */
  allowedHosts: readonly string[];
  /** API_BODY_LIMIT_BYTES: the largest body a handler may read (streamed uploads excepted). */
  bodyLimitBytes: number;
  /** `GET /metrics` (Prometheus text); without it there is no such route. */
  metrics?: MetricsSource;
  /** METRICS_TOKEN: when set, /metrics requires `Authorization: Bearer <token>`. */
  metricsToken?: string;
}

/** The Simple REST file API's mount point. */
const FILES_API = '/api/v1/files';
/** Routes authenticated by access key alone; every other /api route authenticates by the session cookie. */
const API_KEY_ROUTES = [FILES_API];
const isFilesApi = (path: string) => path === FILES_API || path.startsWith(`${FILES_API}/`);
/** `POST /api/shares/upload` streams its multipart body to storage like the file API (shares.routes.ts). */
const SHARES_UPLOAD = '/api/shares/upload';
/** `POST /api/versions` streams (or spools) its multipart body to storage likewise (versions.routes.ts). */
const VERSIONS_UPLOAD = '/api/versions';

/**
 * The routes that stream their body to storage instead of reading it into memory (files.routes.ts
 * `POST /`), so the body cap does not apply: it has its own bounds (Content-Length required, quota
 * reserved before reading). Exact method and path (`c.req.path`, the decoded path the router
 * matches), so no other route slips past the cap.
 */
const isStreamedUpload = (method: string, path: string) => method === 'POST' && (path === FILES_API || path === SHARES_UPLOAD || path === VERSIONS_UPLOAD);

/** Every documented operation, in the order of /api/openapi.json. */
export const dashboardOperations: readonly ApiOperation[] = [
  ...Object.values(authOperations),
  ...Object.values(keysOperations),
  ...Object.values(bucketsOperations),
  ...Object.values(adminOperations),
  ...Object.values(filesOperations),
  ...Object.values(explorerOperations),
  ...Object.values(activityOperations),
  ...Object.values(sharesOperations),
  ...Object.values(versionsOperations),
  ...Object.values(trashOperations),
];

/** Dashboard REST API: health checks, auth (sessions), access keys, buckets, administration, the Simple REST file API and the explorer. */
export function createDashboardApp(deps: DashboardDeps) {
  const app = new Hono<{ Variables: { requestId: string } & AuthVariables & Partial<ApiKeyVariables> }>();
  app.use('*', async (c, next) => {
    c.set('requestId', newRequestId());
    await next();
    c.res.headers.set('X-Request-Id', c.get('requestId'));
    // The access line (written when the response is done): the matched route pattern, and who signed in or which access key.
    const apiKey = c.get('apiKey');
    noteApiRequest((c.env as { incoming?: IncomingMessage } | undefined)?.incoming, c.get('requestId'), c.req.routePath, c.get('user')?.id ?? apiKey?.userId, apiKey?.accessKeyId);
  });
  // Health probes stay reachable under any Host (orchestrators probe by pod IP); they read no body,
  // change nothing and need no session. Everything after them answers only to hosts we serve.
  app.get('/health', (c) => c.json({ status: 'ok' }));
  // Scraped by pod IP or service name like the probes: before the Host check (token-protected with METRICS_TOKEN).
  if (deps.metrics) app.get('/metrics', metricsHandler(deps.metrics, deps.metricsToken));
  app.get('/health/status', async (c) => {
    const { ok, body } = await healthStatus(deps);
    return c.json(body, ok ? 200 : 503);
  });
  app.use('*', hostCheck({ publicUrl: deps.publicUrl, allowedHosts: deps.allowedHosts }));
  // The session is resolved first (one indexed lookup, only for a well-formed cookie) so the limit
  // counts per account once signed in, per client address otherwise.
  app.use('/api/*', sessionMiddleware(deps.authUsecases));
  app.use('/api/*', rateLimit({ limiter: deps.rateLimiter, rule: deps.apiRateLimit, scope: 'dashboard', keyOf: byAccountOrClientAddress, clock: deps.clock }));
  app.use('/api/*', csrfProtection({ publicUrl: deps.publicUrl, apiKeyRoutes: API_KEY_ROUTES }));
  // After every check that needs only headers, before any handler: refused requests read no body.
  app.use('*', bodyLimit({ maxBytes: deps.bodyLimitBytes, streamed: (c) => isStreamedUpload(c.req.method, c.req.path) }));
  app.route('/api', createOpenApiRoutes({ operations: () => dashboardOperations, version: deps.version }));
  app.route('/api/auth', createAuthRoutes({ auth: deps.authUsecases, publicUrl: deps.publicUrl }));
  app.route('/api/keys', createKeysRoutes({ keys: deps.keysUsecases }));
  app.route('/api/buckets', createBucketsRoutes({ buckets: deps.bucketsUsecases }));
  app.route('/api/admin', createAdminRoutes({ admin: deps.adminUsecases }));
  app.route(FILES_API, createFilesRoutes({ files: deps.filesUsecases, keyStore: deps.keyStore }));
  app.route('/api/explorer', createExplorerRoutes({ explorer: deps.explorerUsecases }));
  app.route('/api/activity', createActivityRoutes({ activity: deps.activityUsecases }));
  app.route('/api/admin/activity', createAdminActivityRoutes({ activity: deps.activityUsecases }));
  if (deps.sharesUsecases) {
    app.route('/api/shares', createSharesApiRoutes({ shares: deps.sharesUsecases, keyStore: deps.keyStore, publicUrl: deps.publicUrl }));
    app.route('/s', createSharePublicRoutes({ shares: deps.sharesUsecases }));
  }
  if (deps.versionsUsecases) app.route('/api/versions', createVersionsRoutes({ versions: deps.versionsUsecases, keyStore: deps.keyStore }));
  if (deps.trashUsecases) app.route('/api/trash', createTrashRoutes({ trash: deps.trashUsecases, keyStore: deps.keyStore }));
  app.notFound((c) => jsonError(c, 404, 'not_found', 'No such route.'));
  app.onError((error, c) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    // The one JSON mapping of domain errors (src/errors/render-json.ts); the file API names some kinds its own way.
    const answer = renderJsonError(error, isFilesApi(c.req.path) ? filesErrorVocabulary(c.req.method) : undefined);
    noteError(incoming, answer.error);
    // A client that left mid-body, or whose departure cancelled the backend call (a download cut short).
    if (!answer.expected && incoming !== undefined && isClientAbort(error, incoming)) {
      deps.logger.info('request aborted by the client', { requestId: c.get('requestId') });
      return jsonError(c, 400, 'aborted', 'The request was aborted by the client.');
    }
    if (!answer.expected) deps.logger.error('unhandled dashboard error', { requestId: c.get('requestId'), error: error.stack ?? String(error) });
    // A 304 has no body (no route asks the core a conditional question today; this keeps it valid HTTP if one does).
    if (answer.status === 304) return c.body(null, 304);
    // An upload refused partway (a full disk, a refused form): a small rest is read and dropped,
    // a larger one is given up with the connection.
    const close = incoming !== undefined && !drainDroppedBody(incoming) && closeAfterErrorAnswer(incoming);
    const headers = close ? { ...answer.headers, Connection: 'close' } : answer.headers;
    return jsonError(c, answer.status as ContentfulStatusCode, answer.error, answer.detail, headers);
  });
  return app;
}
