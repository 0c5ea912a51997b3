import type { Core } from '../core.ts';
import { realTimers, type Timers } from '../events/timers.ts';
import { sessionPrincipal } from '../objects/principal.ts';
import { createInternalObjects } from '../trash/internal-objects.ts';
import { createTrashRepository } from '../trash/trash.repository.ts';
import { createTrashUsecases } from '../trash/trash.usecases.ts';
import { createRetention } from './retention.ts';
import { createTimeMachineSubscriber } from './time-machine.subscriber.ts';
import { createTimeMachineSweeper } from './time-machine.sweeper.ts';
import { createVersionsRepository } from './versions.repository.ts';

export type TimeMachine = ReturnType<typeof createTimeMachine>;

/**
 * Time Machine and trash over a core: retention (pruned after each write by the `time-machine`
 * subscriber, and by the periodic sweep), the trash use cases and their internal objects services,
 * and TIME_MACHINE_DEFAULT for buckets created through the dashboard and at sign-up. The
 * composition root (server.ts) registers the subscriber and starts and closes the sweeper.
 */
export function createTimeMachine(core: Core, options: { timers?: Timers } = {}) {
  const { config, clock, logger } = core;
  const versionsRepository = createVersionsRepository({ database: core.database });
  const trashRepository = createTrashRepository({ database: core.database });
  const retention = createRetention({
    objects: core.objects,
    repository: versionsRepository,
    defaults: { maxVersions: config.TIME_MACHINE_MAX_VERSIONS, maxAgeDays: config.TIME_MACHINE_MAX_AGE_DAYS },
    clock,
    logger,
    heldMarkers: trashRepository.heldMarkers,
  });
  const internal = createInternalObjects({
    backend: core.backend,
    buckets: core.bucketsUsecases,
    quotas: core.quotasUsecases,
    clock,
    logger,
    events: core.events.log,
    acls: core.acls,
    allowPublicAccess: config.ALLOW_PUBLIC_ACCESS,
    trashRepository,
  });
  const resolveBucket = async (accountId: string, name: string) => {
    const resolution = await core.bucketsUsecases.resolve(accountId, name);
    return resolution.kind === 'owned' ? resolution.bucket : undefined;
  };
  const trash = createTrashUsecases({
    objects: core.objects,
    internal,
    repository: trashRepository,
    resolveBucket,
    backend: core.backend,
    backendBucketPrefix: config.BACKEND_BUCKET_PREFIX,
    onBucketCreated: core.changes.notify,
    retentionDays: config.TRASH_RETENTION_DAYS,
    clock,
    logger,
  });
  // Gateways sharing PostgreSQL each run the sweep: one at a time does the work, the others skip
  // that round (their next one comes). SQLite grants the claim: one host, as before.
  const byOneGateway = async (name: string, sweep: () => Promise<number>): Promise<number> => {
    const release = await core.database.tryHold(name);
    if (release === undefined) return 0;
    try {
      return await sweep();
    } finally {
      await release();
    }
  };
  const sweeper = createTimeMachineSweeper({
    intervalMs: config.TIME_MACHINE_SWEEP_INTERVAL_MS,
    timers: options.timers ?? realTimers,
    logger,
    pruneVersions: () => byOneGateway('sweep:versions', () => retention.sweepAll()),
    purgeTrash: () => byOneGateway('sweep:trash', () => trash.purgeExpired()),
  });
  return {
    versionsRepository,
    retention,
    internal,
    trash,
    resolveBucket,
    subscriber: createTimeMachineSubscriber({ retention, resolveBucket, logger }),
    sweeper,
    /**
     * TIME_MACHINE_DEFAULT: a bucket created through the dashboard or at sign-up starts versioned.
     * A failure leaves the bucket unversioned (logged), never fails the creation that already happened.
     */
    async enableByDefault(userId: string, bucket: string): Promise<void> {
      if (!config.TIME_MACHINE_DEFAULT) return;
      try {
        await core.objects.putBucketVersioning(sessionPrincipal(userId), bucket, 'Enabled');
      } catch (error) {
        logger.warn('time machine: enabling versioning on a new bucket failed', { userId, bucket, error: (error as Error).message });
      }
    },
  };
}
