import type { Clock } from '../clock.ts';
import { newEventId } from '../ids.ts';
import type { Actor, DomainEvent, DomainEventType } from './events.ts';

/** Who caused a change and from where: what a use case needs to record its event. */
export interface EventOrigin {
  actor: Actor;
  /** As the server saw it (no proxy headers trusted); absent for system actors. */
  clientAddress?: string;
}

/** The default origin of use cases called without one: the command-line tool. */
export const CLI_ORIGIN: EventOrigin = { actor: { kind: 'system', id: 'cli' } };

/** An event with a fresh id and the clock's time. */
export function domainEvent(
  clock: Clock,
  type: DomainEventType,
  accountId: string,
  origin: EventOrigin,
  facts: Omit<DomainEvent, 'id' | 'type' | 'time' | 'accountId' | 'actor' | 'clientAddress'> = {},
): DomainEvent {
  const now = clock.now();
  const event: DomainEvent = { id: newEventId(now), type, time: now.toISOString(), accountId, actor: { ...origin.actor }, ...facts };
  if (origin.clientAddress !== undefined) event.clientAddress = origin.clientAddress;
  return event;
}
