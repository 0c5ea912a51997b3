import { Hono } from 'hono';
import { healthStatus, type HealthDeps } from '../src/health.ts';

export type DashboardDeps = HealthDeps;

/** Dashboard REST API. This first cut serves health checks; accounts, keys and files follow. */
export function createDashboardApp(deps: DashboardDeps) {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/health/status', async (c) => {
    const { ok, body } = await healthStatus(deps);
    return c.json(body, ok ? 200 : 503);
  });
  app.notFound((c) => c.json({ error: 'not_found', detail: 'No such route.', requestId: crypto.randomUUID() }, 404));
  return app;
}
