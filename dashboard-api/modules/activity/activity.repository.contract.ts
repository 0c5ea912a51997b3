import { beforeAll, expect, test } from 'vitest';
import type { NewActivityRow } from '../../../src/db/activity.schema.ts';
import { type OpenDatabase, uniqueId } from '../../../src/db/contracts/contract-support.ts';
import { type ActivityRepository, createActivityRepository } from './activity.repository.ts';

/** The activity log repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function activityRepositoryContract(open: OpenDatabase) {
  let activity: ActivityRepository;
  beforeAll(async () => {
    activity = createActivityRepository({ database: await open() });
  });
  const T = 1_767_225_600_000;
  let seq = 0;
  const row = (accountId: string, overrides: Partial<NewActivityRow> = {}): NewActivityRow => {
    seq++;
    return {
      eventId: uniqueId('evt'),
      seq,
      type: 'object.created',
      time: new Date(T + seq),
      accountId,
      actorKind: 'key',
      actorId: 'AKX',
      bucket: 'photos',
      key: `k/${seq}`,
      ...overrides,
    };
  };

  test('rows round-trip (Date to the ms, size beyond 2^32, JSON detail, NUL in keys); duplicates by event id are skipped; newest first', async () => {
    const account = uniqueId('acct');
    const full = row(account, {
      type: 'object.deleted',
      time: new Date(T + 123_456),
      clientAddress: '192.0.2.1',
      key: 'été/\u0000x',
      size: 7 * 2 ** 32 + 1,
      etag: '"abc"',
      contentType: 'text/plain',
      versionId: 'v1',
      detail: { trashed: true, trashId: 't', nested: { list: [1, 'deux\u0000'] } },
    });
    const bare = row(account, { bucket: null, key: null });
    await activity.insertIgnoringDuplicates([full, bare]);
    await activity.insertIgnoringDuplicates([{ ...full, key: 'changed' }]);
    const listed = await activity.list({ accountId: account }, { limit: 10 });
    expect(listed).toEqual([
      { ...bare, clientAddress: null, size: null, etag: null, contentType: null, versionId: null, detail: null },
      { ...full, time: new Date(T + 123_456) },
    ]);
  });

  test('inserts of several hundred rows (beyond one chunk) and pagination by (seq, event id) positions', async () => {
    const account = uniqueId('acct');
    const rows = Array.from({ length: 450 }, () => row(account));
    // Two rows sharing a seq: the event id breaks the tie.
    rows.push({ ...row(account), seq: rows[100]!.seq });
    await activity.insertIgnoringDuplicates(rows);
    const seen: string[] = [];
    let after: { seq: number; eventId: string } | undefined;
    for (;;) {
      const page = await activity.list({ accountId: account }, { limit: 100, after });
      if (page.length === 0) break;
      seen.push(...page.map((entry) => entry.eventId));
      const last = page[page.length - 1]!;
      after = { seq: last.seq, eventId: last.eventId };
    }
    const expected = [...rows].sort((a, b) => b.seq - a.seq || (a.eventId < b.eventId ? 1 : -1)).map((entry) => entry.eventId);
    expect(seen).toEqual(expected);
  });

  test('filters: bucket, types, time window (from inclusive, to exclusive), across accounts without accountId', async () => {
    const account = uniqueId('acct');
    const other = uniqueId('acct');
    const a = row(account, { bucket: 'A', type: 'bucket.created', time: new Date(T + 1_000) });
    const b = row(account, { bucket: 'a', type: 'object.created', time: new Date(T + 2_000) });
    const c = row(account, { bucket: 'a', type: 'object.deleted', time: new Date(T + 3_000) });
    const d = row(other, { bucket: 'a', type: 'object.deleted', time: new Date(T + 3_000) });
    await activity.insertIgnoringDuplicates([a, b, c, d]);
    const ids = async (filter: Parameters<ActivityRepository['list']>[0]) => (await activity.list(filter, { limit: 1_000 })).map((entry) => entry.eventId);
    expect(await ids({ accountId: account, bucket: 'a' })).toEqual([c.eventId, b.eventId]);
    expect(await ids({ accountId: account, types: ['bucket.created', 'object.deleted'] })).toEqual([c.eventId, a.eventId]);
    expect(await ids({ accountId: account, from: new Date(T + 2_000), to: new Date(T + 3_000) })).toEqual([b.eventId]);
    expect((await ids({ types: ['object.deleted'] })).filter((id) => [c.eventId, d.eventId].includes(id))).toEqual([d.eventId, c.eventId]);
  });

  test('keyPrefix is an exact, case-sensitive prefix: %, _ and \\ are plain characters, NUL and unicode match', async () => {
    const account = uniqueId('acct');
    const keys = ['50%/a', '50x/a', 'a_b/c', 'axb/c', 'dir\\sub/f', 'dir\\\\sub/f', 'Photos/1', 'photos/1', '\u0000held\u0000x', '\u0000hidden', 'été/1', 'ete/1', 'é'];
    await activity.insertIgnoringDuplicates(keys.map((key) => row(account, { key })));
    const matching = async (keyPrefix: string) => (await activity.list({ accountId: account, keyPrefix }, { limit: 100 })).map((entry) => entry.key).sort();
    expect(await matching('50%')).toEqual(['50%/a']);
    expect(await matching('a_')).toEqual(['a_b/c']);
    expect(await matching('dir\\s')).toEqual(['dir\\sub/f']);
    expect(await matching('dir\\\\')).toEqual(['dir\\\\sub/f']);
    expect(await matching('photos/')).toEqual(['photos/1']);
    expect(await matching('\u0000held')).toEqual(['\u0000held\u0000x']);
    expect(await matching('\u0000')).toEqual(['\u0000held\u0000x', '\u0000hidden']);
    expect(await matching('é')).toEqual(['é', 'été/1']);
    expect(await matching('')).toHaveLength(keys.length);
  });
}
