import type { BucketRow } from '../db/schema.ts';
import type { StoredEvent, Subscriber } from '../events/events.ts';
import type { Logger } from '../logger.ts';
import type { Retention } from './retention.ts';

export const TIME_MACHINE_SUBSCRIBER_NAME = 'time-machine';

/** A write that may have pushed an older version out of its key's retention. */
const isVersionedWrite = (event: StoredEvent) =>
  event.versionId !== undefined &&
  event.bucket !== undefined &&
  event.key !== undefined &&
  (event.type === 'object.created' || event.type === 'object.restored' || (event.type === 'object.updated' && event.detail?.change === 'overwrite'));

/**
 * Retention "after each write", whichever door wrote (S3, the file API, the Time Machine API): a
 * subscriber of the event log (at least once, from its own cursor), so writes pay nothing for it
 * and a crash only delays it. Each written key of a batch is pruned once. A key that fails is
 * logged and left to the periodic sweep, so one bad key never holds the subscriber up.
 */
export function createTimeMachineSubscriber(deps: {
  retention: Retention;
  resolveBucket: (accountId: string, name: string) => Promise<BucketRow | undefined>;
  logger?: Logger;
}): Subscriber {
  return {
    name: TIME_MACHINE_SUBSCRIBER_NAME,
    async handle(events: StoredEvent[]) {
      const seen = new Set<string>();
      for (const event of events) {
        if (!isVersionedWrite(event)) continue;
        const id = `${event.accountId}\u0000${event.bucket}\u0000${event.key}`;
        if (seen.has(id)) continue;
        seen.add(id);
        const bucket = await deps.resolveBucket(event.accountId, event.bucket!);
        if (bucket === undefined) continue;
        try {
          await deps.retention.pruneKey(event.accountId, bucket, event.key!);
        } catch (error) {
          deps.logger?.warn('time machine: pruning after a write failed; the sweep will retry', { bucketId: bucket.id, error: (error as Error).message });
        }
      }
    },
  };
}
