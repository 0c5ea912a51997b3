import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { callApi, DASHBOARD_PASSWORD, newEmail, signupViaApi, type SignedUp } from '../../../test/support/dashboard.ts';
import type { DomainEventType, StoredEvent, Subscriber } from '../../../src/events/events.ts';
import { createActivitySubscriber } from './activity.subscriber.ts';

const requestIdShape = expect.stringMatching(/^[0-9A-F]{16}$/);
const BASE = Date.UTC(2026, 0, 1);
// Far above what the real event log reaches in a test, so these never interleave with real events
// once the dispatcher feeds the activity log too.
let nextSeq = 1_000_000;
const types: DomainEventType[] = ['object.created', 'object.updated', 'object.deleted'];

function objectEvent(accountId: string, overrides: Partial<StoredEvent> = {}): StoredEvent {
  const seq = nextSeq++;
  return {
    id: `evt-${randomUUID()}`,
    seq,
    type: 'object.created',
    time: new Date(BASE + seq * 1000).toISOString(),
    accountId,
    actor: { kind: 'key', id: 'AKIAACTIVITYTEST' },
    clientAddress: '127.0.0.1',
    bucket: 'act-photos',
    key: `k-${seq}`,
    size: 10,
    etag: '"0123456789abcdef0123456789abcdef"',
    contentType: 'image/png',
    ...overrides,
  };
}

/** The API's shape of an event (own list): every field present, null when absent. */
const asItem = (event: StoredEvent) => ({
  id: event.id,
  type: event.type,
  time: event.time,
  actor: event.actor,
  clientAddress: event.clientAddress ?? null,
  bucket: event.bucket ?? null,
  key: event.key ?? null,
  size: event.size ?? null,
  etag: event.etag ?? null,
  contentType: event.contentType ?? null,
  versionId: event.versionId ?? null,
  detail: event.detail ?? null,
});

const newestFirst = (events: StoredEvent[]) => [...events].sort((x, y) => y.seq - x.seq);

describe('dashboard /api/activity and /api/admin/activity', () => {
  let server: TestServer;
  let subscriber: Subscriber;
  let a: SignedUp;
  let b: SignedUp;
  let admin: { id: string; email: string; cookie: string };

  /** Every item of a listing, following nextCursor page by page; checks each page's size. */
  async function allPages(path: string, cookie: string, limit: number) {
    const items: { id: string; [field: string]: unknown }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page = await callApi(server, `${path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { cookie });
      expect(page.status, JSON.stringify(page.json)).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(limit);
      if (page.json.nextCursor !== null) expect(page.json.items.length).toBe(limit);
      items.push(...page.json.items);
      cursor = page.json.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 200);
    return { items, pages };
  }

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    subscriber = createActivitySubscriber({ database: server.running.core.database });
    a = await signupViaApi(server, newEmail('alice'));
    b = await signupViaApi(server, newEmail('bob'));
    const email = newEmail('admin');
    const { user } = await server.running.core.accountsUsecases.createAccount({ email, password: DASHBOARD_PASSWORD, isAdmin: true });
    const login = await callApi(server, '/api/auth/login', { body: { email, password: DASHBOARD_PASSWORD } });
    admin = {
      id: user.id,
      email,
      cookie: login.response.headers
        .getSetCookie()
        .find((line) => line.startsWith('session='))!
        .split(';')[0]!,
    };
  });
  afterAll(async () => server?.close());

  it("lists the account's own events newest first with every field; another account never sees them, whatever it asks", async () => {
    const created = objectEvent(a.userId, { bucket: 'act-own', key: 'report.pdf', contentType: 'application/pdf', size: 1234 });
    const updated = objectEvent(a.userId, { type: 'object.updated', bucket: 'act-own', key: 'report.pdf', versionId: 'v2', detail: { change: 'metadata' } });
    const deleted = objectEvent(a.userId, {
      type: 'object.deleted',
      bucket: 'act-own',
      key: 'report.pdf',
      actor: { kind: 'session', id: a.userId },
      size: undefined,
      etag: undefined,
      contentType: undefined,
    });
    const bOwn = objectEvent(b.userId, { bucket: 'act-own', key: 'b-file' });
    await subscriber.handle([created, updated, bOwn, deleted]);

    const own = await callApi(server, '/api/activity?bucket=act-own', { cookie: a.cookie });
    expect(own.status).toBe(200);
    expect(own.json).toEqual({ items: [asItem(deleted), asItem(updated), asItem(created)], nextCursor: null });

    // B sees its own event only: not by bucket, not by key, not by naming A in the query.
    for (const query of ['', '?bucket=act-own', '?prefix=report', `?account=${a.userId}`, '?action=object.created,object.updated,object.deleted']) {
      const listed = await callApi(server, `/api/activity${query}`, { cookie: b.cookie });
      expect(listed.status, query).toBe(200);
      const text = JSON.stringify(listed.json);
      for (const event of [created, updated, deleted]) expect(text, query).not.toContain(event.id);
      expect(text, query).not.toContain('report.pdf');
    }
    expect((await callApi(server, '/api/activity?bucket=act-own', { cookie: b.cookie })).json.items).toEqual([asItem(bOwn)]);
    // A cursor is a position, not a grant: A's cursor in B's hands still lists B's events only.
    const aPage = await callApi(server, '/api/activity?bucket=act-own&limit=1', { cookie: a.cookie });
    const withACursor = await callApi(server, `/api/activity?bucket=act-own&cursor=${aPage.json.nextCursor}`, { cookie: b.cookie });
    expect(withACursor.status).toBe(200);
    expect(withACursor.json.items.every((item: { id: string }) => item.id === bOwn.id)).toBe(true);

    const anonymous = await callApi(server, '/api/activity');
    expect([anonymous.status, anonymous.json.error]).toEqual([401, 'auth.unauthenticated']);
  });

  it('pages exactly (no gap, no repeat) under every filter, also when events arrive between pages and a batch is delivered twice', async () => {
    const events: StoredEvent[] = [];
    const keys = ['docs/a.txt', 'docs/b_1.txt', 'docs/bx1.txt', 'Docs/upper.txt', 'img/%.png', 'img/cat.png', 'readme'];
    for (let i = 0; i < 90; i++) {
      events.push(objectEvent(a.userId, { bucket: i % 3 === 0 ? 'act-logs' : 'act-data', key: keys[i % keys.length], type: types[i % types.length] }));
    }
    // Other accounts' events in the same buckets and time window must never leak into A's pages.
    const others = Array.from({ length: 10 }, (_, i) => objectEvent(b.userId, { bucket: i % 2 ? 'act-logs' : 'act-data', key: 'docs/a.txt' }));
    await subscriber.handle([...events.slice(0, 60), ...others]);
    await subscriber.handle(events.slice(30));
    await subscriber.handle(events.slice(0, 45));

    const ofA = (keep: (event: StoredEvent) => boolean) => newestFirst(events.filter(keep)).map((event) => event.id);
    const at = (index: number) => events[index]!.time;
    const cases: [string, string[]][] = [
      ['bucket=act-data', ofA((e) => e.bucket === 'act-data')],
      ['bucket=act-logs&prefix=docs/', ofA((e) => e.bucket === 'act-logs' && e.key!.startsWith('docs/'))],
      // Prefixes are literal and case-sensitive: `_` and `%` are not wildcards, `docs/` is not `Docs/`.
      ['bucket=act-data&prefix=docs/b_', ofA((e) => e.bucket === 'act-data' && e.key!.startsWith('docs/b_'))],
      ['prefix=img/%25', ofA((e) => e.bucket!.startsWith('act-') && e.key!.startsWith('img/%'))],
      ['prefix=Docs/', ofA((e) => e.key!.startsWith('Docs/'))],
      ['action=object.deleted&bucket=act-data', ofA((e) => e.type === 'object.deleted' && e.bucket === 'act-data')],
      ['action=object.created,object.updated&prefix=docs/', ofA((e) => e.type !== 'object.deleted' && e.key!.startsWith('docs/'))],
      ['action=object.created&action=object.deleted&prefix=docs/', ofA((e) => e.type !== 'object.updated' && e.key!.startsWith('docs/'))],
      [`from=${at(10)}&to=${at(70)}&bucket=act-data`, ofA((e) => e.seq >= events[10]!.seq && e.seq < events[70]!.seq && e.bucket === 'act-data')],
      [`from=${encodeURIComponent(at(50).replace('Z', '+00:00'))}&prefix=docs/`, ofA((e) => e.seq >= events[50]!.seq && e.key!.startsWith('docs/'))],
    ];
    for (const [query, expected] of cases) {
      expect(expected.length, query).toBeGreaterThan(0);
      for (const limit of [1, 7, 500]) {
        const { items, pages } = await allPages(`/api/activity?${query}`, a.cookie, limit);
        expect(
          items.map((item) => item.id),
          `${query} limit=${limit}`,
        ).toEqual(expected);
        expect(pages).toBe(Math.max(1, Math.ceil(expected.length / limit)));
      }
    }

    // New events between pages are newer: they never shift the pages still to come.
    const first = await callApi(server, '/api/activity?bucket=act-data&limit=5', { cookie: a.cookie });
    await subscriber.handle([objectEvent(a.userId, { bucket: 'act-data', key: 'docs/late.txt' })]);
    const rest = await allPages(`/api/activity?bucket=act-data&cursor=${encodeURIComponent(first.json.nextCursor)}`, a.cookie, 500);
    expect([...first.json.items, ...rest.items].map((item: { id: string }) => item.id)).toEqual(cases[0]![1]);
    // The default page is 50.
    const defaultPage = await callApi(server, '/api/activity?bucket=act-data', { cookie: a.cookie });
    expect(defaultPage.json.items.length).toBe(50);
    expect(defaultPage.json.nextCursor).toEqual(expect.any(String));
  });

  it('refuses malformed filters and cursors with 400 JSON errors', async () => {
    const good = await callApi(server, '/api/activity?limit=1', { cookie: a.cookie });
    const forged = Buffer.from('a1:1:x').toString('base64url');
    for (const query of [
      'limit=0',
      'limit=501',
      'limit=ten',
      'action=object.created,object.exploded',
      'action=',
      'from=yesterday',
      'to=2026-13-01T00:00:00Z',
      'cursor=not-a-cursor!',
      `cursor=${good.json.nextCursor}x%2F`,
      'cursor=Zm9v',
    ]) {
      const refused = await callApi(server, `/api/activity?${query}`, { cookie: a.cookie });
      expect(refused.status, query).toBe(400);
      expect(refused.json, query).toEqual({
        error: query.startsWith('cursor') ? 'activity.invalid_cursor' : 'invalid_request',
        detail: expect.any(String),
        requestId: requestIdShape,
      });
    }
    expect((await callApi(server, `/api/activity?cursor=${forged}`, { cookie: a.cookie })).status).toBe(200);
    expect((await callApi(server, '/api/activity?limit=500', { cookie: a.cookie })).status).toBe(200);
  });

  it('admin: refuses non-admins (403) and anonymous callers (401); lists every account with accountId, or one by id or email', async () => {
    const aEvent = objectEvent(a.userId, { bucket: 'act-admin', key: 'a.txt' });
    const bEvents = [objectEvent(b.userId, { bucket: 'act-admin', key: 'b1.txt' }), objectEvent(b.userId, { bucket: 'act-admin', key: 'b2.txt', type: 'object.deleted' })];
    const keyEvent = objectEvent(a.userId, {
      type: 'key.created',
      bucket: undefined,
      key: undefined,
      size: undefined,
      etag: undefined,
      contentType: undefined,
      actor: { kind: 'admin', id: admin.id },
      detail: { accessKeyId: 'AKIAX', name: 'ci' },
    });
    await subscriber.handle([aEvent, ...bEvents, keyEvent]);

    for (const cookie of [a.cookie, b.cookie]) {
      const refused = await callApi(server, `/api/admin/activity?account=${a.userId}`, { cookie });
      expect(refused.json).toEqual({ error: 'admin.forbidden', detail: expect.any(String), requestId: requestIdShape });
      expect(refused.status).toBe(403);
      expect(JSON.stringify(refused.json)).not.toContain(aEvent.id);
    }
    expect((await callApi(server, '/api/admin/activity')).status).toBe(401);

    const all = await allPages('/api/admin/activity?bucket=act-admin', admin.cookie, 2);
    expect(all.items).toEqual(newestFirst([aEvent, ...bEvents]).map((event) => ({ ...asItem(event), accountId: event.accountId })));

    const byId = await allPages(`/api/admin/activity?account=${b.userId}&bucket=act-admin`, admin.cookie, 1);
    expect(byId.items.map((item) => item.id)).toEqual(newestFirst(bEvents).map((event) => event.id));
    const byEmail = await callApi(server, `/api/admin/activity?account=${encodeURIComponent(a.email.toUpperCase())}&action=key.created`, { cookie: admin.cookie });
    // Signing up also recorded a real key.created for the account's first key: the one fed here is among them.
    expect(byEmail.json.items).toContainEqual({ ...asItem(keyEvent), accountId: a.userId });
    for (const item of byEmail.json.items) expect([item.accountId, item.type]).toEqual([a.userId, 'key.created']);

    const unknown = await callApi(server, `/api/admin/activity?account=${encodeURIComponent('nobody@example.com')}`, { cookie: admin.cookie });
    expect([unknown.status, unknown.json.error]).toEqual([404, 'activity.account_not_found']);
    // An id is taken as is (a deleted account's history stays reachable): an unknown one lists nothing.
    expect((await callApi(server, '/api/admin/activity?account=no-such-user', { cookie: admin.cookie })).json).toEqual({ items: [], nextCursor: null });
    expect((await callApi(server, '/api/admin/activity?limit=501', { cookie: admin.cookie })).status).toBe(400);
  });
});
