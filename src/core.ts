import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAccountsRepository } from './accounts/accounts.repository.ts';
import { createAccountsUsecases } from './accounts/accounts.usecases.ts';
import { createBucketsRepository } from './buckets/buckets.repository.ts';
import { createBucketsUsecases } from './buckets/buckets.usecases.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/config.ts';
import { createSecretBox, loadOrCreateMasterKey } from './crypto/secret-box.ts';
import { createChangeWatcher } from './db/change-watcher.ts';
import { openDatabase } from './db/database.ts';
import { createKeyStore } from './keys/key-store.ts';
import { createKeysRepository } from './keys/keys.repository.ts';
import { createKeysUsecases } from './keys/keys.usecases.ts';
import { createLimits } from './limits/index.ts';
import { createQuotasUsecases, type QuotasUsecases } from './quotas/quotas.usecases.ts';
import { createLogger, type Logger } from './logger.ts';
import { createEventLogRepository } from './events/event-log.repository.ts';
import { createEventDispatcher } from './events/dispatcher.ts';
import { createEventRelay } from './events/relay.ts';
import { realTimers, type Timers } from './events/timers.ts';
import { createObjectsService } from './objects/objects.service.ts';
import { createFsBackend } from './storage/fs/fs-backend.ts';
import { createS3Backend } from './storage/s3/s3-backend.ts';
import type { StorageBackend } from './storage/storage-backend.ts';

export const VERSION = '0.1.0';

/** Commits within this many ms share one relay pass and one dispatch (see relay.ts `coalesceMs`). */
const EVENT_RELAY_COALESCE_MS = 20;

/**
 * The composition root shared by the servers and the CLI: every repository and use case is
 * built here from explicit dependencies, so nothing is a module-level singleton and tests build
 * the same graph from a config object.
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
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });

  const database = openDatabase(join(dataDir, 'cloudstorage.sqlite'));
  const secretBox = createSecretBox(loadOrCreateMasterKey(config.MASTER_KEY, join(dataDir, 'master.key')));
  const backend = options.backend ?? (await createConfiguredBackend(config, dataDir, clock, logger));

  // Domain events (src/events/events.ts): the log in the metadata database, a dispatcher that
  // wakes subscribers after every append, and a relay moving the backend's journal into the log.
  const timers = options.timers ?? realTimers;
  const eventLog = createEventLogRepository({ db: database.db, onAppend: () => eventDispatcher.wake() });
  const eventDispatcher = createEventDispatcher({ eventLog, cursors: eventLog, timers, logger });
  const eventRelay = createEventRelay({ journal: backend.local.journal, eventLog, intervalMs: options.eventRelayIntervalMs ?? 10_000, coalesceMs: EVENT_RELAY_COALESCE_MS, onTick: () => eventDispatcher.wake(), timers, logger });
  // Before serving: events a crash left journaled but not relayed reach the log now.
  await eventRelay.start();

  const accountsRepository = createAccountsRepository({ db: database.db });
  const keysRepository = createKeysRepository({ db: database.db });
  const bucketsRepository = createBucketsRepository({ db: database.db });

  const changes = createChangeWatcher({ dataVersion: database.dataVersion });
  const keyStore = createKeyStore({ keysRepository, secretBox, changes, clock });
  const keysUsecases = createKeysUsecases({ keysRepository, secretBox, clock, onChange: changes.notify, eventLog });
  const bucketsUsecases = createBucketsUsecases({
    bucketsRepository,
    backend,
    maxBucketsPerAccount: config.MAX_BUCKETS_PER_ACCOUNT,
    backendBucketPrefix: config.BACKEND_BUCKET_PREFIX,
    changes,
    eventLog,
    clock,
  });
  const accountsUsecases = createAccountsUsecases({ accountsRepository, keysUsecases, bucketsUsecases });

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
  quotasUsecases = createQuotasUsecases({
    accountsRepository,
    bucketsRepository,
    backend,
    quotaStore: limits.quotaStore,
    defaultQuotaBytes: config.DEFAULT_QUOTA_BYTES,
    maxObjectsPerAccount: config.MAX_OBJECTS_PER_ACCOUNT,
    maxUploadsPerAccount: config.MAX_UPLOADS_PER_ACCOUNT,
    clock,
    logger,
  });

  // The one objects service under every door (S3 gateway, file API, explorer): scope, bucket
  // resolution, quota, backend call and domain events in one place. Quota events go to the event log.
  const objects = createObjectsService({ backend, buckets: bucketsUsecases, quotas: quotasUsecases, clock, logger, events: eventLog });

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

/** STORAGE_BACKEND picks the implementation; both keep their local state under DATA_DIR. */
async function createConfiguredBackend(config: Config, dataDir: string, clock: Clock, logger: Logger): Promise<StorageBackend> {
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
  });
}

export type Core = Awaited<ReturnType<typeof createCore>>;
