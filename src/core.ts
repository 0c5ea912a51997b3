import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAccountsRepository } from './accounts/accounts.repository.ts';
import { createAccountsUsecases } from './accounts/accounts.usecases.ts';
import { createBucketsRepository } from './buckets/buckets.repository.ts';
import { createBucketsUsecases } from './buckets/buckets.usecases.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/config.ts';
import { checkBackendSettings, recordBackendSettings } from './config/backend-settings.ts';
import { createSecretBox, loadOrCreateMasterKey } from './crypto/secret-box.ts';
import { createChangeWatcher, type ChangeWatcher } from './db/change-watcher.ts';
import { openDatabase } from './db/database.ts';
import { createKeyStore } from './keys/key-store.ts';
import { createKeysRepository } from './keys/keys.repository.ts';
import { createKeysUsecases, type KeysUsecases } from './keys/keys.usecases.ts';
import { createLimits } from './limits/index.ts';
import type { QuotaStore } from './limits/quota-store.ts';
import { createQuotasUsecases, type QuotasUsecases } from './quotas/quotas.usecases.ts';
import { createLogger, type Logger } from './logger.ts';
import { createEventLogRepository } from './events/event-log.repository.ts';
import type { DomainEvent, EventLog } from './events/events.ts';
import { createEventDispatcher } from './events/dispatcher.ts';
import { createEventRelay } from './events/relay.ts';
import { realTimers, type Timers } from './events/timers.ts';
import { createObjectsService } from './objects/objects.service.ts';
import { createObjectAclStore } from './objects/object-acls.ts';
import { createFsBackend } from './storage/fs/fs-backend.ts';
import { createS3Backend } from './storage/s3/s3-backend.ts';
import type { StorageBackend } from './storage/storage-backend.ts';

export { VERSION } from './version.ts';

/** Commits within this many ms share one relay pass and one dispatch (see relay.ts `coalesceMs`). */
const EVENT_RELAY_COALESCE_MS = 20;

/**
 * What every process over a DATA_DIR opens: the metadata database, the secret box and the
 * repositories. Opening touches nothing a running server owns (no backend, no tmp/, no timer).
 */
function openMetadata(config: Config) {
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const database = openDatabase(join(dataDir, 'cloudstorage.sqlite'));
  const secretBox = createSecretBox(loadOrCreateMasterKey(config.MASTER_KEY, join(dataDir, 'master.key')));
  return {
    dataDir,
    database,
    secretBox,
    accountsRepository: createAccountsRepository({ db: database.db }),
    keysRepository: createKeysRepository({ db: database.db }),
    bucketsRepository: createBucketsRepository({ db: database.db }),
  };
}

/** Buckets, accounts and quotas over a backend: the same wiring for the servers and the CLI. */
function createAccountUsecases(deps: {
  config: Config;
  clock: Clock;
  logger: Logger;
  metadata: ReturnType<typeof openMetadata>;
  backend: StorageBackend;
  keysUsecases: KeysUsecases;
  changes: ChangeWatcher;
  eventLog: EventLog & { appendSync(events: DomainEvent[]): number };
  quotaStore: QuotaStore;
}) {
  const { config, clock, logger, backend, changes, eventLog } = deps;
  const { accountsRepository, bucketsRepository } = deps.metadata;
  const bucketsUsecases = createBucketsUsecases({
    bucketsRepository,
    backend,
    maxBucketsPerAccount: config.MAX_BUCKETS_PER_ACCOUNT,
    backendBucketPrefix: config.BACKEND_BUCKET_PREFIX,
    changes,
    eventLog,
    clock,
  });
  const accountsUsecases = createAccountsUsecases({ accountsRepository, keysUsecases: deps.keysUsecases, bucketsUsecases });
  const quotasUsecases = createQuotasUsecases({
    accountsRepository,
    bucketsRepository,
    backend,
    quotaStore: deps.quotaStore,
    defaultQuotaBytes: config.DEFAULT_QUOTA_BYTES,
    maxObjectsPerAccount: config.MAX_OBJECTS_PER_ACCOUNT,
    maxUploadsPerAccount: config.MAX_UPLOADS_PER_ACCOUNT,
    clock,
    logger,
  });
  return { bucketsUsecases, accountsUsecases, quotasUsecases };
}

/**
 * The composition root of the servers: every repository and use case is built here from
 * explicit dependencies, so nothing is a module-level singleton and tests build the same graph
 * from a config object. Opens the backend with its start-up maintenance (fs: sweep of crashed
 * writers' leftovers, space reserve, periodic sweep) and records its settings in DATA_DIR
 * (backend-settings.ts). The CLI builds less: `createAdminCore`.
 */
export async function createCore(options: {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  backend?: StorageBackend;
  /** The event relay's safety-net timer and subscriber retries (tests fire them by hand). */
  timers?: Timers;
  /** Period of the relay's safety-net pass (default 10 s; 0: none). */
  eventRelayIntervalMs?: number;
}) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const metadata = openMetadata(config);
  const { dataDir, database, secretBox, accountsRepository, keysRepository } = metadata;
  const backend = options.backend ?? (await createConfiguredBackend(config, dataDir, clock, logger, true));
  const changedSettings = recordBackendSettings(dataDir, config);
  if (changedSettings.length > 0) {
    logger.warn('backend settings changed since the last start; buckets created before stay where the old settings put them', { changed: changedSettings });
  }

  // Domain events (src/events/events.ts): the log in the metadata database, a dispatcher that
  // wakes subscribers after every append, and a relay moving the backend's journal into the log.
  const timers = options.timers ?? realTimers;
  const eventLog = createEventLogRepository({ db: database.db, onAppend: () => eventDispatcher.wake() });
  const eventDispatcher = createEventDispatcher({ eventLog, cursors: eventLog, timers, logger });
  const eventRelay = createEventRelay({
    journal: backend.local.journal,
    eventLog,
    intervalMs: options.eventRelayIntervalMs ?? 10_000,
    coalesceMs: EVENT_RELAY_COALESCE_MS,
    onTick: () => eventDispatcher.wake(),
    timers,
    logger,
  });
  // Before serving: events a crash left journaled but not relayed reach the log now.
  await eventRelay.start();

  const changes = createChangeWatcher({ dataVersion: database.dataVersion });
  const keyStore = createKeyStore({ keysRepository, secretBox, changes, clock });
  const keysUsecases = createKeysUsecases({ keysRepository, secretBox, clock, onChange: changes.notify, eventLog });

  // With REDIS_URL every gateway process shares one set of counters; without it, this process keeps its own.
  let quotasUsecases: QuotasUsecases | undefined;
  const limits = await createLimits({
    redisUrl: config.REDIS_URL,
    timeoutMs: config.REDIS_TIMEOUT_MS,
    reservationTtlMs: config.QUOTA_RESERVATION_TTL_MS,
    loadUsage: (userId) => quotasUsecases!.usedBytes(userId),
    clock,
    logger,
  });
  const usecases = createAccountUsecases({ config, clock, logger, metadata, backend, keysUsecases, changes, eventLog, quotaStore: limits.quotaStore });
  const { bucketsUsecases, accountsUsecases } = usecases;
  quotasUsecases = usecases.quotasUsecases;

  // The one objects service under every door (S3 gateway, file API, explorer): scope, bucket
  // resolution, quota, backend call and domain events in one place. Quota events go to the event log.
  // Object ACLs live beside the objects in the metadata database, so they work on every backend.
  const acls = createObjectAclStore({ db: database.db, bucketsRepository: metadata.bucketsRepository, dataVersion: database.dataVersion, onClaim: changes.notify });
  const objects = createObjectsService({
    backend,
    buckets: bucketsUsecases,
    quotas: quotasUsecases,
    clock,
    logger,
    events: eventLog,
    acls,
    allowPublicAccess: config.ALLOW_PUBLIC_ACCESS,
  });

  const startedAt = clock.now();

  return {
    config,
    clock,
    logger,
    database,
    backend,
    keyStore,
    accountsUsecases,
    keysUsecases,
    bucketsUsecases,
    rateLimiter: limits.rateLimiter,
    quotasUsecases,
    objects,
    /** The object ACL store the objects service uses (the Time Machine builds its internal services over it). */
    acls,
    accountsRepository,
    startedAt,
    /** The event log, its dispatcher (`register` subscribers here) and the relay from the backend's journal. */
    events: {
      log: eventLog,
      dispatcher: eventDispatcher,
      relay: eventRelay,
      /** Moves what the backend journaled into the log and delivers the log to every subscriber (tests, shutdown). */
      async flush(): Promise<void> {
        await eventRelay.drain();
        await eventDispatcher.flush();
      },
    },
    async close() {
      await eventRelay.close();
      await eventDispatcher.close();
      changes.close();
      await limits.close();
      await backend.close();
      database.close();
    },
  };
}

/**
 * What the admin CLI builds (src/cli/cli.ts): the metadata database, accounts, keys and quotas,
 * while servers may be running over the same DATA_DIR. It refuses backend settings other than
 * the ones recorded by the server (backend-settings.ts). With `backend` it opens the storage
 * backend for administration only (fs: the index, no sweep, no space reserve, no timer;
 * fs-backend.ts `maintenance`); without it, any use of the backend is a bug and throws. No
 * event relay, no dispatcher, no change polling, no Redis: events the CLI appends are delivered
 * by the servers' dispatchers (woken by their relay's safety-net tick); the servers see its
 * database changes through their own change watchers; the quota store is never consulted by the
 * CLI's commands (usage is read from the backend, a quota is a database row).
 */
export async function createAdminCore(options: { config: Config; logger?: Logger; clock?: Clock; backend: boolean }) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const metadata = openMetadata(config);
  const { dataDir, database, secretBox, keysRepository } = metadata;
  try {
    checkBackendSettings(dataDir, config);
  } catch (error) {
    database.close();
    throw error;
  }
  const backend = options.backend ? await createConfiguredBackend(config, dataDir, clock, logger, false) : backendNotOpened();
  const eventLog = createEventLogRepository({ db: database.db });
  // One command's lifetime: its own changes matter (caches it builds), nobody else's.
  const changes = createChangeWatcher({ dataVersion: database.dataVersion, pollIntervalMs: 0 });
  const keysUsecases = createKeysUsecases({ keysRepository, secretBox, clock, onChange: changes.notify, eventLog });
  const limits = await createLimits({ clock, logger });
  const usecases = createAccountUsecases({ config, clock, logger, metadata, backend, keysUsecases, changes, eventLog, quotaStore: limits.quotaStore });
  return {
    config,
    backend,
    keysUsecases,
    accountsRepository: metadata.accountsRepository,
    bucketsRepository: metadata.bucketsRepository,
    ...usecases,
    async close() {
      await limits.close();
      if (options.backend) await backend.close();
      database.close();
    },
  };
}

export type AdminCore = Awaited<ReturnType<typeof createAdminCore>>;

/** The backend of a CLI command that needs none: a use would be a bug in the command's wiring. */
function backendNotOpened(): StorageBackend {
  return new Proxy({} as StorageBackend, {
    get(_target, name) {
      throw new Error(`the storage backend is not opened for this command (${String(name)})`);
    },
  });
}

/**
 * STORAGE_BACKEND picks the implementation; both keep their local state under DATA_DIR.
 * `maintenance` false (the CLI): fs opens its index only; s3 has no start-up work either way.
 */
async function createConfiguredBackend(config: Config, dataDir: string, clock: Clock, logger: Logger, maintenance: boolean): Promise<StorageBackend> {
  if (config.STORAGE_BACKEND === 's3') {
    return createS3Backend({
      endpoint: config.BACKEND_S3_ENDPOINT!,
      accessKeyId: config.BACKEND_S3_ACCESS_KEY!,
      secretAccessKey: config.BACKEND_S3_SECRET_KEY!,
      region: config.BACKEND_S3_REGION,
      forcePathStyle: config.BACKEND_S3_FORCE_PATH_STYLE,
      timeoutMs: config.BACKEND_TIMEOUT_MS,
      maxConnections: config.BACKEND_MAX_CONNECTIONS,
      stateDir: join(dataDir, 's3-backend'),
    });
  }
  return createFsBackend({
    dataDir: join(dataDir, 'objects'),
    fsync: config.FS_FSYNC,
    orphanSweepIntervalMs: config.FS_ORPHAN_SWEEP_INTERVAL_MS,
    reserveBytes: config.FS_RESERVE_BYTES,
    minFreeBytes: config.FS_MIN_FREE_BYTES,
    minFreePercent: config.FS_MIN_FREE_PERCENT,
    clock,
    logger,
    maintenance,
  });
}

export type Core = Awaited<ReturnType<typeof createCore>>;
