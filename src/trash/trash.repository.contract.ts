import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../accounts/accounts.repository.ts';
import { type BucketsRepository, createBucketsRepository } from '../buckets/buckets.repository.ts';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import { isUniqueViolation } from '../db/database-errors.ts';
import type { TrashRow } from '../db/versions.schema.ts';
import { createTrashRepository, type TrashRepository } from './trash.repository.ts';

/** The trash repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function trashRepositoryContract(open: OpenDatabase) {
  let trash: TrashRepository;
  let accounts: AccountsRepository;
  let buckets: BucketsRepository;
  beforeAll(async () => {
    const database = await open();
    trash = createTrashRepository({ database });
    accounts = createAccountsRepository({ database });
    buckets = createBucketsRepository({ database });
  });
  const newAccount = async () => {
    const id = uniqueId('user');
    return (await accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false })).id;
  };
  const entry = (userId: string, overrides: Partial<TrashRow> = {}): TrashRow => ({
    id: uniqueId('trash'),
    userId,
    bucketId: 'bucket-1',
    bucket: 'photos',
    key: 'a/b.txt',
    size: 1,
    contentType: null,
    trashedAt: new Date(1_767_225_600_000),
    location: 'moved',
    versionId: null,
    trashKey: null,
    ...overrides,
  });

  test('an entry round-trips: size beyond 2^32, Date to the millisecond, unicode and NUL in keys; only its account finds it', async () => {
    const owner = await newAccount();
    const row = entry(owner, {
      key: 'été/\u0000odd\u0001/😀',
      size: 3 * 2 ** 32 + 11,
      contentType: 'text/plain; charset=utf-8',
      trashedAt: new Date(1_767_225_600_789),
      trashKey: `${owner}/\u0000t/1`,
      versionId: 'v-1',
    });
    await trash.insert(row);
    expect(await trash.find(owner, row.id)).toEqual(row);
    expect(await trash.find(await newAccount(), row.id)).toBeUndefined();
    expect(await trash.find(owner, 'missing')).toBeUndefined();
  });

  test('listForUser: newest first, ties by id; expired: at or before the cutoff, oldest first, limited', async () => {
    const owner = await newAccount();
    const at = (ms: number) => new Date(1_700_000_000_000 + ms);
    const rows = [
      entry(owner, { id: `${owner}-b`, trashedAt: at(1) }),
      entry(owner, { id: `${owner}-a`, trashedAt: at(1) }),
      entry(owner, { id: `${owner}-c`, trashedAt: at(3) }),
      entry(owner, { id: `${owner}-d`, trashedAt: at(2) }),
    ];
    for (const row of rows) await trash.insert(row);
    expect((await trash.listForUser(owner)).map((row) => row.id)).toEqual([`${owner}-c`, `${owner}-d`, `${owner}-a`, `${owner}-b`]);
    const expired = (await trash.expired(at(2), 100)).filter((row) => row.userId === owner);
    expect(expired.map((row) => row.trashedAt.getTime())).toEqual([at(1).getTime(), at(1).getTime(), at(2).getTime()]);
    expect(await trash.expired(new Date(0), 100)).toEqual([]);
    expect(await trash.expired(at(3), 2)).toHaveLength(2);
  });

  test('heldMarkers: the version ids of marker entries on exactly that bucket and key (NUL keys included)', async () => {
    const owner = await newAccount();
    const bucketId = uniqueId('bucket');
    await trash.insert(entry(owner, { bucketId, key: 'k\u0000', location: 'marker', versionId: 'm1' }));
    await trash.insert(entry(owner, { bucketId, key: 'k\u0000', location: 'marker', versionId: 'm2' }));
    await trash.insert(entry(owner, { bucketId, key: 'k\u0000', location: 'marker', versionId: null }));
    await trash.insert(entry(owner, { bucketId, key: 'k\u0000', location: 'moved', versionId: 'moved-1' }));
    await trash.insert(entry(owner, { bucketId, key: 'k', location: 'marker', versionId: 'other-key' }));
    await trash.insert(entry(owner, { bucketId, key: 'K\u0000', location: 'marker', versionId: 'case' }));
    expect([...(await trash.heldMarkers(bucketId, 'k\u0000'))].sort()).toEqual(['m1', 'm2']);
    expect(await trash.heldMarkers(uniqueId('bucket'), 'k\u0000')).toEqual(new Set());
  });

  test('remove answers true once, even when two callers race', async () => {
    const owner = await newAccount();
    const row = entry(owner);
    await trash.insert(row);
    expect((await Promise.all([trash.remove(row.id), trash.remove(row.id)])).filter(Boolean)).toHaveLength(1);
    expect(await trash.remove(row.id)).toBe(false);
  });

  test('the internal trash bucket: inserted once per account and name (a second insert is a unique violation), never resolved as an own bucket', async () => {
    const owner = await newAccount();
    expect(await trash.internalBucket(owner, '.trash')).toBeUndefined();
    const row = await trash.insertInternalBucket({ id: uniqueId('b'), userId: owner, name: '.trash', backendName: uniqueId('backend') });
    expect(row).toMatchObject({ userId: owner, name: '.trash', internal: true, publicName: false, acl: 'private' });
    expect(await trash.internalBucket(owner, '.trash')).toEqual(row);
    const error = await trash.insertInternalBucket({ id: uniqueId('b'), userId: owner, name: '.trash', backendName: uniqueId('backend') }).catch((caught: unknown) => caught);
    expect(isUniqueViolation(error)).toBe(true);
    expect(await buckets.findByOwnerAndName(owner, '.trash')).toBeUndefined();
    expect(await buckets.countForOwner(owner)).toBe(0);
  });
}
