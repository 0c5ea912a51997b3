import type { AccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import type { ActivityRow } from '../../../src/db/activity.schema.ts';
import type { Actor, DomainEventType } from '../../../src/events/events.ts';
import { activityAccountNotFoundError, invalidActivityCursorError } from './activity.errors.ts';
import type { ActivityPosition, ActivityRepository } from './activity.repository.ts';

export type ActivityUsecases = ReturnType<typeof createActivityUsecases>;

/** One entry of the activity log as the API shows it: every field present, null when the event has none. */
export interface ActivityItem {
  id: string;
  type: DomainEventType;
  time: Date;
  actor: Actor;
  clientAddress: string | null;
  bucket: string | null;
  key: string | null;
  size: number | null;
  etag: string | null;
  contentType: string | null;
  versionId: string | null;
  detail: Record<string, unknown> | null;
}

export interface ActivityQuery {
  limit: number;
  cursor?: string;
  bucket?: string;
  prefix?: string;
  actions?: DomainEventType[];
  from?: Date;
  to?: Date;
}

export interface ActivityPage<T> {
  items: T[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

const CURSOR_VERSION = 'a1';

/**
 * Cursors are opaque to clients (base64url): they name the last row returned (its seq and event
 * id), so a page boundary stays exact however many events arrive meanwhile (new ones are newer and
 * never shift older pages).
 */
export function encodeActivityCursor(position: ActivityPosition): string {
  return Buffer.from(`${CURSOR_VERSION}:${position.seq}:${position.eventId}`, 'utf8').toString('base64url');
}

export function decodeActivityCursor(cursor: string): ActivityPosition {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidActivityCursorError();
  const match = /^a1:(\d{1,15}):(.+)$/s.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw invalidActivityCursorError();
  return { seq: Number(match[1]), eventId: match[2]! };
}

const toItem = (row: ActivityRow): ActivityItem => ({
  id: row.eventId,
  type: row.type,
  time: row.time,
  actor: { kind: row.actorKind, id: row.actorId },
  clientAddress: row.clientAddress,
  bucket: row.bucket,
  key: row.key,
  size: row.size,
  etag: row.etag,
  contentType: row.contentType,
  versionId: row.versionId,
  detail: row.detail,
});

/**
 * Reads of the activity log (the `activity` subscriber writes it): an account's own history, and
 * the administrator's across accounts. Newest first, by the event log's seq.
 */
export function createActivityUsecases(deps: { activityRepository: ActivityRepository; accountsRepository: AccountsRepository }) {
  const { activityRepository, accountsRepository } = deps;

  async function page(accountId: string | undefined, query: ActivityQuery): Promise<ActivityPage<ActivityRow>> {
    const after = query.cursor === undefined ? undefined : decodeActivityCursor(query.cursor);
    // One row more than asked tells whether another page follows.
    const rows = await activityRepository.list(
      { accountId, bucket: query.bucket, keyPrefix: query.prefix, types: query.actions, from: query.from, to: query.to },
      { limit: query.limit + 1, after },
    );
    if (rows.length <= query.limit) return { items: rows, nextCursor: null };
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1]!;
    return { items, nextCursor: encodeActivityCursor({ seq: last.seq, eventId: last.eventId }) };
  }

  return {
    /** The account's own activity: never another account's, whatever the filters. */
    async listForAccount(accountId: string, query: ActivityQuery): Promise<ActivityPage<ActivityItem>> {
      const found = await page(accountId, query);
      return { items: found.items.map(toItem), nextCursor: found.nextCursor };
    },

    /**
     * Every account's activity, or one account's: `account` is a user id or an email. An email
     * must name an existing account (404 otherwise); an id is taken as is, so the history of a
     * deleted account stays reachable.
     */
    async listForAdmin(query: ActivityQuery & { account?: string }): Promise<ActivityPage<ActivityItem & { accountId: string }>> {
      let accountId: string | undefined;
      if (query.account !== undefined) {
        if (query.account.includes('@')) {
          const user = await accountsRepository.findByEmail(query.account);
          if (!user) throw activityAccountNotFoundError();
          accountId = user.id;
        } else {
          accountId = query.account;
        }
      }
      const found = await page(accountId, query);
      return { items: found.items.map((row) => ({ ...toItem(row), accountId: row.accountId })), nextCursor: found.nextCursor };
    },
  };
}
