import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../accounts/accounts.repository.ts';
import { type BucketsRepository, createBucketsRepository } from '../buckets/buckets.repository.ts';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createTrashRepository } from '../trash/trash.repository.ts';
import { createVersionsRepository, type VersionsRepository } from './versions.repository.ts';

/** The Time Machine's repository contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function versionsRepositoryContract(open: OpenDatabase) {
  let database: DatabaseHandle;
  let versions: VersionsRepository;
  let accounts: AccountsRepository;
  let buckets: BucketsRepository;
  beforeAll(async () => {
    database = await open();
    versions = createVersionsRepository({ database });
    accounts = createAccountsRepository({ database });
    buckets = createBucketsRepository({ database });
  });
  const newBucket = async () => {
    const id = uniqueId('user');
    await accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false });
    return buckets.insert({ id: uniqueId('b'), userId: id, name: uniqueId('bucket'), backendName: uniqueId('backend') });
  };
  // Epoch milliseconds are far beyond 2^32.
  const v = (versionId: string, modifiedAt = 1_767_225_600_000) => ({ versionId, modifiedAt });
  const asObject = (numbers: Map<string, number>) => Object.fromEntries(numbers);

  test('retention: none until set, then the settings, replaced by a second set', async () => {
    const bucket = await newBucket();
    expect(await versions.retention(bucket.id)).toBeUndefined();
    await versions.setRetention(bucket.id, { maxVersions: 10, maxAgeDays: 30 });
    expect(await versions.retention(bucket.id)).toEqual({ maxVersions: 10, maxAgeDays: 30 });
    await versions.setRetention(bucket.id, { maxVersions: 0, maxAgeDays: 3650 });
    expect(await versions.retention(bucket.id)).toEqual({ maxVersions: 0, maxAgeDays: 3650 });
  });

  test('allBuckets: the accounts’ own buckets, never internal ones', async () => {
    const bucket = await newBucket();
    const internal = await createTrashRepository({ database }).insertInternalBucket({ id: uniqueId('b'), userId: bucket.userId, name: '.trash', backendName: uniqueId('backend') });
    const ids = (await versions.allBuckets()).map((row) => row.id);
    expect(ids).toContain(bucket.id);
    expect(ids).not.toContain(internal.id);
  });

  test('numberVersions: known versions keep their number, new ones take the next, a number is never reused, a replaced null version is new', async () => {
    const { id: bucketId } = await newBucket();
    const key = 'docs/été \u0000 report.pdf';
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('b')]))).toEqual({ a: 1, b: 2 });
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('b'), v('c')]))).toEqual({ a: 1, b: 2, c: 3 });
    // 'c' deleted, 'd' written: 3 is not given again.
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('b'), v('d')]))).toEqual({ a: 1, b: 2, d: 4 });
    // 'null' replaced while Suspended: same id, other modification time.
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('null', 1)]))).toEqual({ a: 1, null: 5 });
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('null', 2)]))).toEqual({ a: 1, null: 6 });
    expect(asObject(await versions.numberVersions(bucketId, key, [v('a'), v('null', 2)]))).toEqual({ a: 1, null: 6 });
    // Keys are exact: another key (case, NUL) has its own counter.
    expect(asObject(await versions.numberVersions(bucketId, key.toUpperCase(), [v('a')]))).toEqual({ a: 1 });
    expect(asObject(await versions.numberVersions(bucketId, 'docs/été ', [v('a')]))).toEqual({ a: 1 });
    expect(asObject(await versions.numberVersions(bucketId, key, []))).toEqual({});
    expect(asObject(await versions.numberVersions(bucketId, key, [v('z')]))).toEqual({ z: 7 });
  });

  test('concurrent numbering of one key agrees (on PostgreSQL: over several pooled connections)', async () => {
    const { id: bucketId } = await newBucket();
    const list = [v('one'), v('two'), v('three')];
    const answers = await Promise.all(Array.from({ length: 6 }, () => versions.numberVersions(bucketId, 'k', list)));
    for (const answer of answers) expect(asObject(answer)).toEqual({ one: 1, two: 2, three: 3 });
    const grown = [...list, v('four'), v('five')];
    const next = await Promise.all(Array.from({ length: 6 }, () => versions.numberVersions(bucketId, 'k', grown)));
    for (const answer of next) expect(asObject(answer)).toEqual({ one: 1, two: 2, three: 3, four: 4, five: 5 });
  });
}
