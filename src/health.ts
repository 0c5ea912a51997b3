import type { Clock } from './clock.ts';
import type { StorageBackend } from './storage/storage-backend.ts';

export interface HealthDeps {
  clock: Clock;
  backend: StorageBackend;
  startedAt: Date;
  version: string;
  /** True when the metadata database answers. */
  checkDatabase(): boolean;
}

/** The status document both servers serve (`/health/status`, `/_health/status`). */
export async function healthStatus(deps: HealthDeps) {
  const storage = await deps.backend.health().catch((error: Error) => ({ ok: false, detail: error.message }));
  const database = deps.checkDatabase();
  const ok = storage.ok && database;
  return {
    ok,
    body: {
      status: ok ? 'ok' : 'degraded',
      version: deps.version,
      uptimeSeconds: Math.floor((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000),
      database: database ? 'ok' : 'unavailable',
      storage: { backend: deps.backend.kind, status: storage.ok ? 'ok' : 'unavailable', detail: storage.detail },
    },
  };
}
