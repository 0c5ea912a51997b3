import { Hono } from 'hono';
import type { Clock } from '../src/clock.ts';
import type { StorageBackend } from '../src/storage/storage-backend.ts';

export interface DashboardDeps {
  clock: Clock;
  backend: StorageBackend;
  startedAt: Date;
  version: string;
  checkDatabase(): boolean;
}

/** Dashboard REST API. This first cut serves health checks; accounts, keys and files follow. */
export function createDashboardApp(deps: DashboardDeps) {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/health/status', async (c) => {
    const storage = await deps.backend.health().catch((error: Error) => ({ ok: false, detail: error.message }));
    const database = deps.checkDatabase();
    const ok = storage.ok && database;
    return c.json(
      {
        status: ok ? 'ok' : 'degraded',
        version: deps.version,
        uptimeSeconds: Math.floor((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000),
        database: database ? 'ok' : 'unavailable',
        storage: { backend: deps.backend.kind, status: storage.ok ? 'ok' : 'unavailable', detail: storage.detail },
      },
      ok ? 200 : 503,
    );
  });
  app.notFound((c) => c.json({ error: 'not_found', detail: 'No such route.', requestId: crypto.randomUUID() }, 404));
  return app;
}
