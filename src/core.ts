import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAccountsRepository } from './accounts/accounts.repository.ts';
import { createAccountsUsecases } from './accounts/accounts.usecases.ts';
import { createBucketsRepository } from './buckets/buckets.repository.ts';
import { createBucketsUsecases } from './buckets/buckets.usecases.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/config.ts';
import { checkBackendSettings, recordBackendSettings } from './config/backend-settings.ts';
import { createSecretBox, loadOrCreateMasterKey, parseMasterKey } from './crypto/secret-box.ts';
import { createChangeWatcher, type ChangeWatcher } from './db/change-watcher.ts';
import { openDatabase, type DatabaseHandle, type SqlTrace, type SqliteDatabaseHandle } from './db/database.ts';
import { createPostgresChangeFeed } from './db/pg-change-feed.ts';
import { openPostgresDatabase, type PostgresDatabaseHandle } from './db/postgres.ts';
import { assertMasterKeyOpens } from './keys/master-key-check.ts';
import { createKeyStore } from './keys/key-store.ts';
import { createKeysRepository } from './keys/keys.repository.ts';
import { createKeysUsecases, type KeysUsecases } from './keys/keys.usecases.ts';
import { createLimits } from './limits/index.ts';
import type { QuotaStore } from './limits/quota-store.ts';
import { createQuotasUsecases, type QuotasUsecases } from './quotas/quotas.usecases.ts';
import { createLogger, type Logger } from './logger.ts';
import { createEventLogRepository } from './events/event-log.repository.ts';
import type { EventLog } from './events/events.ts';
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
 * What every process over a DATA_DIR opens: the metadata database (SQLite under DATA_DIR, or
 * PostgreSQL with DATABASE_URL), the secret box and the repositories. Opening touches nothing a
 * running server owns (no backend, no tmp/, no timer). Refuses a master key that cannot open the
 * secrets already stored: a gateway started with the wrong MASTER_KEY would otherwise serve and
 * fail every signature.
 */
async function openMetadata(config: Config, logger: Logger, traceSql?: SqlTrace) {
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const database: DatabaseHandle = config.DATABASE_URL
    ? await openPostgresDatabase({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS, logger })
    : openDatabase(join(dataDir, 'cloudstorage.sqlite'), { traceSql });
  try {
    // With DATABASE_URL the key must be configured (config.ts): one generated into this host's DATA_DIR would open nothing another gateway stored.
    const secretBox = createSecretBox(config.DATABASE_URL ? parseMasterKey(config.MASTER_KEY!) : loadOrCreateMasterKey(config.MASTER_KEY, join(dataDir, 'master.key')));
    const keysRepository = createKeysRepository({ database });
    await assertMasterKeyOpens(keysRepository, secretBox);
    return {
      dataDir,
      database,
      secretBox,
      accountsRepository: createAccountsRepository({ database }),
      keysRepository,
      bucketsRepository: createBucketsRepository({ database }),
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * How processes sharing the metadata database hear of each other's changes. SQLite (one host):
 * `PRAGMA data_version` polled (change-watcher.ts). PostgreSQL (many hosts): LISTEN/NOTIFY
 * (pg-change-feed.ts), which also wakes other gateways' event dispatchers after an append.
 */
async function openChangeFeed(database: DatabaseHandle, config: Config, logger: Logger, options: { ownChangesOnly?: boolean } = {}) {
  if (database.dialect === 'postgres') {
    const pgDatabase = database as PostgresDatabaseHandle;
    const feed = createPostgresChangeFeed({
      connectionString: config.DATABASE_URL!,
      notify: (channel, payload) => pgDatabase.pool.query('SELECT pg_notify($1, $2)', [channel, payload]),
      logger,
      listen: !options.ownChangesOnly,
    });
    await feed.started;
    return {
      changes: feed.watcher(),
      onEvents: (listener: () => void) => feed.subscribe('events', listener),
      eventsAppended: () => feed.publish('events'),
      close: () => feed.close(),
    };
  }
  const changes = createChangeWatcher({ dataVersion: (database as SqliteDatabaseHandle).dataVersion, pollIntervalMs: options.ownChangesOnly ? 0 : undefined });
  return { changes, onEvents: (_listener: () => void) => {}, eventsAppended: () => {}, close: async () => changes.close() };
}

/** Buckets, accounts and quotas over a backend: the same wiring for the servers and the CLI. */
function createAccountUsecases(deps: {
  config: Config;
  clock: Clock;
  logger: Logger;
  metadata: Awaited<ReturnType<typeof openMetadata>>;
  backend: StorageBackend;
  keysUsecases: KeysUsecases;
  changes: ChangeWatcher;
  eventLog: EventLog;
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
    changes,
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
  /** Sees every SQLite statement (tests count what a request costs): the metadata database's, the fs index's. */
  traceSql?: { metadata?: SqlTrace; backend?: SqlTrace };
}) {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const metadata = await openMetadata(config, logger, options.traceSql?.metadata);
  const { dataDir, database, secretBox, accountsRepository, keysRepository } = metadata;
  const backend = options.backend ?? (await createConfiguredBackend(config, dataDir, clock, logger, true, database, options.traceSql?.backend));
  const changedSettings = recordBackendSettings(dataDir, config);
  if (changedSettings.length > 0) {
    logger.warn('backend settings changed since the last start; buckets created before stay where the old settings put them', { changed: changedSettings });
  }

  // Domain events (src/events/events.ts): the log in the metadata database, a dispatcher that
  // wakes subscribers after every append, and a relay moving the backend's journal into the log.
  const timers = options.timers ?? realTimers;
  const feed = await openChangeFeed(database, config, logger);
  const eventLog = createEventLogRepository({
    database,
    onAppend: () => {
      eventDispatcher.wake();
      feed.eventsAppended();
    },
  });
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

  // Other gateways' appends wake this one's dispatcher (PostgreSQL).
  feed.onEvents(() => eventDispatcher.wake());
  const { changes } = feed;
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
  const acls = createObjectAclStore({
    database,
    bucketsRepository: metadata.bucketsRepository,
    dataVersion: database.dialect === 'sqlite' ? (database as SqliteDatabaseHandle).dataVersion : undefined,
    onClaim: changes.notify,
  });
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
    /** Tells every cache of every process sharing the database that metadata changed. */
    changes,
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
      await feed.close();
      await limits.close();
      await backend.close();
      await database.close();
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
  const metadata = await openMetadata(config, logger);
  const { dataDir, database, secretBox, keysRepository } = metadata;
  try {
    checkBackendSettings(dataDir, config);
  } catch (error) {
    await database.close();
    throw error;
  }
  const backend = options.backend ? await createConfiguredBackend(config, dataDir, clock, logger, false, database) : backendNotOpened();
  const eventLog = createEventLogRepository({ database });
  // One command's lifetime: its own changes matter (caches it builds), nobody else's. On
  // PostgreSQL the feed also tells the running gateways (a key revoked from the CLI).
  const feed = await openChangeFeed(database, config, logger, { ownChangesOnly: true });
  const { changes } = feed;
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
      await feed.close();
      await limits.close();
      if (options.backend) await backend.close();
      await database.close();
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
async function createConfiguredBackend(
  config: Config,
  dataDir: string,
  clock: Clock,
  logger: Logger,
  maintenance: boolean,
  database: DatabaseHandle,
  traceSql?: SqlTrace,
): Promise<StorageBackend> {
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
      // With PostgreSQL metadata the catalog (usage, sizes, versions, the event journal) is shared
      // by every gateway: quotas stay exact across hosts. Otherwise it is a SQLite file in stateDir.
      catalog: database.dialect === 'postgres' ? { kind: 'postgres', pool: (database as PostgresDatabaseHandle).pool } : undefined,
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
    traceSql,
  });
}

export type Core = Awaited<ReturnType<typeof createCore>>;
