/**
 * Domain events: the record that something changed, whichever door (S3, the file API, the
 * dashboard, the CLI, later SFTP) it came through. Later features (webhooks, activity, metering,
 * versions, shares) are subscribers of these events instead of patches in every door.
 *
 * Durability (see docs/architecture.md, "Domain events"):
 * - Object events are journaled by the storage backend IN THE SAME TRANSACTION as the metadata
 *   change where it keeps metadata locally (the fs index, the s3 proxy's catalog): the objects
 *   service hands every write a `JournalHook`, which the backend calls synchronously inside its
 *   commit with the facts only the commit knows (did it replace something, the final ETag…). A
 *   relay then moves journaled events into the event log in the metadata database (idempotent by
 *   event id), so a crash between the commit and the relay loses nothing: the relay runs at start.
 * - Bucket and key events are appended to the event log in the same database transaction as the
 *   bucket or key row change.
 * - Quota events are appended right after the change that caused them.
 * Subscribers read the log in `seq` order with their own persisted cursor; an in-process
 * dispatcher wakes them when something is appended.
 */

export const DOMAIN_EVENT_TYPES = [
  'object.created',
  'object.updated',
  'object.deleted',
  'object.restored',
  'bucket.created',
  'bucket.deleted',
  'key.created',
  'key.revoked',
  'quota.warning',
  'quota.exceeded',
  'share.created',
  'share.downloaded',
] as const;

export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number];

/** Who caused a change: an access key (S3, file API), a dashboard session, an administrator, or the system (CLI, sweeps). */
export interface Actor {
  kind: 'key' | 'session' | 'admin' | 'system' | 'anonymous';
  /** Access key id for `key`; the signed-in user's id for `session` and `admin`; a short name (`cli`) for `system`; the client address for `anonymous` (an unsigned S3 read of public data). */
  id: string;
}

export interface DomainEvent {
  /** Unique, sortable by creation (`newEventId()`); subscribers deduplicate on it. */
  id: string;
  type: DomainEventType;
  /** ISO 8601, from the injected Clock. */
  time: string;
  /** The account whose data changed. */
  accountId: string;
  actor: Actor;
  /** The client's address as the server saw it (no proxy headers trusted); absent for system actors. */
  clientAddress?: string;
  /** The bucket name as the account sees it (never the backend's name). */
  bucket?: string;
  key?: string;
  size?: number;
  etag?: string;
  contentType?: string;
  /** Present once versioning exists. */
  versionId?: string;
  /**
   * Type-specific facts: `object.updated` → `{ change: 'overwrite' | 'metadata' | 'tagging' }`;
   * `object.deleted` → `{ deleteMarker?, trashed?, trashId?, retention?, purged? }` (trash, Time Machine);
   * `object.restored` → `{ trashId }` (out of the trash) or `{ restoredVersionId }` (a version restored);
   * `key.*` → `{ accessKeyId, name }`; `quota.*` → `{ usedBytes, quotaBytes }`; `share.*` → `{ shareId, kind }`
   * (`share.downloaded` adds `downloads`, the count after this one; the code itself is never recorded).
   */
  detail?: Record<string, unknown>;
}

/** An event as stored in the log: `seq` orders the log (strictly increasing, no reuse). */
export interface StoredEvent extends DomainEvent {
  seq: number;
}

/** What a backend knows only at commit, handed to the journal hook inside its commit transaction. */
export interface CommitFacts {
  /** The key the facts are about (DeleteObjects calls the hook once per key it deleted). */
  key: string;
  /** For writes: whether the key held an object that this write replaced. For deletes: whether something was deleted. */
  replaced: boolean;
  size?: number;
  etag?: string;
  contentType?: string;
  /** The version written or removed, or the delete marker created (versioned buckets only). */
  versionId?: string;
  /** A delete that created a delete marker (or removed one by its id): the data may still be stored. */
  deleteMarker?: boolean;
}

/**
 * Called by a backend synchronously inside the transaction that makes a change visible; returns
 * the events to journal in that same transaction (possibly none, e.g. a delete of a missing key).
 * Must not throw for ordinary input, must not do I/O.
 */
export type JournalHook = (facts: CommitFacts) => DomainEvent[];

/** Read filters of the event log (all optional; `afterSeq` is the cursor). */
export interface EventQuery {
  afterSeq?: number;
  limit: number;
  accountId?: string;
  types?: DomainEventType[];
  bucket?: string;
  keyPrefix?: string;
  from?: Date;
  to?: Date;
}

/** The event log in the metadata database. */
export interface EventLog {
  /** Appends events right after a change (quota events, writes of a backend without a local journal). */
  append(events: DomainEvent[]): Promise<unknown>;
  read(query: EventQuery): Promise<StoredEvent[]>;
}

/**
 * A consumer of the event log with its own persisted cursor. `handle` gets events in `seq`
 * order, at least once: the cursor advances only after `handle` resolves, so a subscriber makes
 * its effects idempotent by event id (a crash between its effect and the cursor update replays).
 */
export interface Subscriber {
  /** Unique, stable: the cursor is stored under it. */
  readonly name: string;
  handle(events: StoredEvent[]): Promise<void>;
}

/** An event's facts as flat, nullable columns: the one mapping every table that stores events uses. */
export function eventColumns(event: DomainEvent) {
  return {
    type: event.type,
    accountId: event.accountId,
    actorKind: event.actor.kind,
    actorId: event.actor.id,
    clientAddress: event.clientAddress ?? null,
    bucket: event.bucket ?? null,
    key: event.key ?? null,
    size: event.size ?? null,
    etag: event.etag ?? null,
    contentType: event.contentType ?? null,
    versionId: event.versionId ?? null,
    detail: event.detail ?? null,
  };
}
