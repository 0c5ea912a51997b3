import { newEventId } from '../ids.ts';
import type { DomainEvent } from './events.ts';

/** An `object.created` event of key `key` in bucket `b` of account `acct`, for the dispatcher's and the log's tests. */
export const objectCreatedEvent = (key: string): DomainEvent => ({
  id: newEventId(),
  type: 'object.created',
  time: new Date().toISOString(),
  accountId: 'acct',
  actor: { kind: 'key', id: 'CSKEY' },
  bucket: 'b',
  key,
});
