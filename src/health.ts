import type { Clock } from './clock.ts';
import type { StorageBackend, StorageHealth } from './storage/storage-backend.ts';

export interface HealthDeps {
  clock: Clock;
  backend: StorageBackend;
  startedAt: Date;
  version: string;
  /** True when the metadata database answers. */
  checkDatabase(): Promise<boolean>;
  /** True once shutdown began: the status answers 503 at once, without probing anything. */
  shuttingDown?(): boolean;
}

/** The status document both servers serve (`/health/status`, `/_health/status`). */
export async function healthStatus(deps: HealthDeps) {
  if (deps.shuttingDown?.()) {
    return { ok: false, body: { status: 'shutting_down', version: deps.version, uptimeSeconds: uptimeSeconds(deps) } };
  }
  const storage: StorageHealth = await deps.backend.health().catch((error: Error) => ({ ok: false, detail: error.message }));
  const database = await deps.checkDatabase().catch(() => false);
  // `degraded`: it works, but e.g. free space is below FS_MIN_FREE_*, so an operator must act
  // before writes start failing; the status code (503) lets monitoring alert on it.
  const storageStatus = !storage.ok ? 'unavailable' : storage.degraded ? 'degraded' : 'ok';
  const ok = storageStatus === 'ok' && database;
  return {
    ok,
    body: {
      status: ok ? 'ok' : 'degraded',
      version: deps.version,
      uptimeSeconds: uptimeSeconds(deps),
      database: database ? 'ok' : 'unavailable',
      storage: {
        backend: deps.backend.kind,
        status: storageStatus,
        detail: storage.detail,
        freeBytes: storage.freeBytes,
        totalBytes: storage.totalBytes,
      },
    },
  };
}

function uptimeSeconds(deps: HealthDeps): number {
  return Math.floor((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000);
}
