import { eventColumns, type StoredEvent, type Subscriber } from '../../../src/events/events.ts';
import type { NewActivityRow } from '../../../src/db/activity.schema.ts';
import type { DatabaseHandle } from '../../../src/db/database.ts';
import { createActivityRepository } from './activity.repository.ts';

export const ACTIVITY_SUBSCRIBER_NAME = 'activity';

export const toActivityRow = (event: StoredEvent): NewActivityRow => ({ eventId: event.id, seq: event.seq, time: new Date(event.time), ...eventColumns(event) });

/**
 * The activity log's subscriber of the event log: copies every event into the `activity` table.
 * Delivery is at least once (the dispatcher advances this subscriber's cursor only after `handle`
 * resolves), so the write ignores event ids it already has: a replayed batch shows each change once.
 * One transaction per batch: a crash leaves either the whole batch or none of it.
 */
export function createActivitySubscriber(deps: { database: DatabaseHandle }): Subscriber {
  const repository = createActivityRepository({ database: deps.database });
  return {
    name: ACTIVITY_SUBSCRIBER_NAME,
    async handle(events: StoredEvent[]) {
      if (events.length === 0) return;
      await repository.insertIgnoringDuplicates(events.map(toActivityRow));
    },
  };
}
