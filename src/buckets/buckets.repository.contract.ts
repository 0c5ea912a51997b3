import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../accounts/accounts.repository.ts';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import { isUniqueViolation } from '../db/database-errors.ts';
import { createTrashRepository, type TrashRepository } from '../trash/trash.repository.ts';
import { type BucketsRepository, createBucketsRepository } from './buckets.repository.ts';

/** The buckets repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function bucketsRepositoryContract(open: OpenDatabase) {
  let buckets: BucketsRepository;
  let accounts: AccountsRepository;
  let trash: TrashRepository;
  beforeAll(async () => {
    const database = await open();
    buckets = createBucketsRepository({ database });
    accounts = createAccountsRepository({ database });
    trash = createTrashRepository({ database });
  });
  const newAccount = async () => {
    const id = uniqueId('user');
    return (await accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false })).id;
  };
  const newBucket = (userId: string, name = uniqueId('bucket')) => buckets.insert({ id: uniqueId('b'), userId, name, backendName: uniqueId('backend') });

  test('insert answers the row with its defaults (private, no CORS, no public name, not internal); found by owner and name', async () => {
    const owner = await newAccount();
    const row = await newBucket(owner, 'photos');
    expect(row).toMatchObject({ userId: owner, name: 'photos', acl: 'private', cors: null, publicName: false, internal: false });
    expect(row.createdAt).toBeInstanceOf(Date);
    expect(await buckets.findByOwnerAndName(owner, 'photos')).toEqual(row);
    expect(await buckets.findByOwnerAndName(owner, 'Photos')).toBeUndefined();
    expect(await buckets.findByOwnerAndName(await newAccount(), 'photos')).toBeUndefined();
  });

  test('a bucket name twice in one account, or a backend name twice anywhere, is a unique violation; other accounts may reuse a name', async () => {
    const owner = await newAccount();
    const first = await newBucket(owner, 'dup');
    expect(isUniqueViolation(await newBucket(owner, 'dup').catch((caught: unknown) => caught))).toBe(true);
    const other = await newAccount();
    expect(isUniqueViolation(await buckets.insert({ id: uniqueId('b'), userId: other, name: 'x', backendName: first.backendName }).catch((caught: unknown) => caught))).toBe(true);
    await newBucket(other, 'dup');
    expect(await buckets.existsForAnotherOwner(owner, 'dup')).toBe(true);
    expect(await buckets.existsForAnotherOwner(owner, uniqueId('none'))).toBe(false);
  });

  test('listForOwner orders names byte-wise ("B" < "a", "é" after "z", U+FFFD before 😀 unlike UTF-16) and includes internal buckets; countForOwner does not', async () => {
    const owner = await newAccount();
    for (const name of ['z', '😀', 'é', 'a', '\uFFFD', 'B', 'a-b', 'a_b']) await newBucket(owner, name);
    await trash.insertInternalBucket({ id: uniqueId('b'), userId: owner, name: 'trash-internal', backendName: uniqueId('backend') });
    expect((await buckets.listForOwner(owner)).map((row) => row.name)).toEqual(['B', 'a', 'a-b', 'a_b', 'trash-internal', 'z', 'é', '\uFFFD', '😀']);
    expect(await buckets.countForOwner(owner)).toBe(8);
    expect(await buckets.findByOwnerAndName(owner, 'trash-internal')).toBeUndefined();
  });

  test('CORS rules round-trip as JSON (nested objects, numbers, booleans, unicode); null removes them; a missing bucket answers false', async () => {
    const owner = await newAccount();
    const bucket = await newBucket(owner);
    const rules = [
      {
        allowedOrigins: ['https://ex.example', '*'],
        allowedMethods: ['GET', 'PUT'],
        maxAgeSeconds: 3000,
        exposeHeaders: [],
        id: 'règle ✓',
        flags: { credentials: true, nothing: null },
      },
      { allowedOrigins: ['*'], allowedMethods: ['HEAD'] },
    ];
    expect(await buckets.setCors(bucket.id, rules)).toBe(true);
    expect((await buckets.findByOwnerAndName(owner, bucket.name))?.cors).toEqual(rules);
    expect(await buckets.corsCandidatesByName(bucket.name)).toEqual([{ cors: rules, publicName: false }]);
    expect(await buckets.setCors(bucket.id, null)).toBe(true);
    expect((await buckets.findByOwnerAndName(owner, bucket.name))?.cors).toBeNull();
    expect(await buckets.corsCandidatesByName(bucket.name)).toEqual([]);
    expect(await buckets.setCors('missing', rules)).toBe(false);
  });

  test('public names: the first claim wins, another account is refused, the holder is listed first among CORS candidates, release gives it back', async () => {
    const name = uniqueId('shared');
    const a = await newBucket(await newAccount(), name);
    const b = await newBucket(await newAccount(), name);
    expect(await buckets.transaction(() => buckets.claimPublicName(b.id, name))).toBe(true);
    expect(await buckets.transaction(() => buckets.claimPublicName(b.id, name))).toBe(true);
    expect(await buckets.transaction(() => buckets.claimPublicName(a.id, name))).toBe(false);
    expect((await buckets.findPublicByName(name))?.id).toBe(b.id);
    expect(await buckets.claimsPublicName(b.id)).toBe(true);
    expect(await buckets.claimsPublicName(a.id)).toBe(false);
    expect(await buckets.publicBucketIds()).toContain(b.id);
    await buckets.setCors(a.id, [{ allowedOrigins: ['*'] }]);
    await buckets.setCors(b.id, [{ allowedOrigins: ['https://b.example'] }]);
    expect((await buckets.corsCandidatesByName(name)).map((row) => row.publicName)).toEqual([true, false]);

    expect(await buckets.setAcl(b.id, 'public-read')).toBe(true);
    expect(await buckets.transaction(() => buckets.releasePublicNameIfUnused(b.id))).toBe(false);
    await buckets.setAcl(b.id, 'private');
    expect(await buckets.transaction(() => buckets.releasePublicNameIfUnused(b.id))).toBe(true);
    expect(await buckets.findPublicByName(name)).toBeUndefined();
    expect(await buckets.transaction(() => buckets.claimPublicName(a.id, name))).toBe(true);
  });

  test('two claims of one public name racing: exactly one wins', async () => {
    const name = uniqueId('race');
    const contenders = await Promise.all([1, 2, 3].map(async () => newBucket(await newAccount(), name)));
    const outcomes = await Promise.all(contenders.map((bucket) => buckets.transaction(() => buckets.claimPublicName(bucket.id, name))));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
  });

  test('a transaction that throws leaves no bucket behind; delete answers whether a row went', async () => {
    const owner = await newAccount();
    await expect(
      buckets.transaction(async () => {
        await newBucket(owner, 'doomed');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await buckets.findByOwnerAndName(owner, 'doomed')).toBeUndefined();
    const bucket = await newBucket(owner);
    expect(await buckets.delete(bucket.id)).toBe(true);
    expect(await buckets.delete(bucket.id)).toBe(false);
    expect(await buckets.setAcl(bucket.id, 'public-read')).toBe(false);
  });
}
