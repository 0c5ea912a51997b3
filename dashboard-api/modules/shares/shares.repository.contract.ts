import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import { type OpenDatabase, uniqueId } from '../../../src/db/contracts/contract-support.ts';
import { isUniqueViolation } from '../../../src/db/database-errors.ts';
import { createSharesRepository, type NewShare, type SharesRepository } from './shares.repository.ts';

/** The share links repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function sharesRepositoryContract(open: OpenDatabase) {
  let shares: SharesRepository;
  let accounts: AccountsRepository;
  beforeAll(async () => {
    const database = await open();
    shares = createSharesRepository({ database });
    accounts = createAccountsRepository({ database });
  });
  const newAccount = async () => {
    const id = uniqueId('user');
    return (await accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false })).id;
  };
  const T = 1_767_225_600_000;
  const share = (ownerId: string, overrides: Partial<NewShare> = {}): NewShare => ({
    id: uniqueId('share'),
    code: uniqueId('code'),
    ownerId,
    bucketId: 'bucket-1',
    bucket: 'photos',
    objectKey: 'a/b.txt',
    kind: 'object',
    fileName: 'b.txt',
    ...overrides,
  });

  test('a share round-trips: defaults (active, no counts), Dates, unicode and NUL in the key, limits beyond 2^32', async () => {
    const owner = await newAccount();
    const row = await shares.insert(
      share(owner, {
        objectKey: 'été/\u0000x/😀.pdf',
        fileName: 'rapport été.pdf',
        accessKeyId: 'AKX',
        passwordHash: 'scrypt$x',
        expiresAt: new Date(T + 123),
        maxDownloads: 2 ** 33,
      }),
    );
    expect(row).toMatchObject({ objectKey: 'été/\u0000x/😀.pdf', fileName: 'rapport été.pdf', active: true, downloads: 0, views: 0, maxDownloads: 2 ** 33, accessKeyId: 'AKX' });
    expect(row.expiresAt?.getTime()).toBe(T + 123);
    expect(row.createdAt).toBeInstanceOf(Date);
    expect(await shares.findByCode(row.code)).toEqual(row);
    expect(await shares.findById(row.id)).toEqual(row);
    expect(await shares.findByCode(row.code.toUpperCase())).toBeUndefined();
    const prefix = await shares.insert(share(owner, { kind: 'prefix', objectKey: 'dir/' }));
    expect(prefix).toMatchObject({ kind: 'prefix', accessKeyId: null, passwordHash: null, expiresAt: null, maxDownloads: null });
  });

  test('a code twice is a unique violation', async () => {
    const owner = await newAccount();
    const row = await shares.insert(share(owner));
    expect(isUniqueViolation(await shares.insert(share(owner, { code: row.code })).catch((caught: unknown) => caught))).toBe(true);
  });

  test('listByOwner: newest first, only the owner’s; update only by the owner', async () => {
    const owner = await newAccount();
    const other = await newAccount();
    const old = await shares.insert(share(owner, { createdAt: new Date(T) }));
    const recent = await shares.insert(share(owner, { createdAt: new Date(T + 5) }));
    await shares.insert(share(other));
    expect((await shares.listByOwner(owner)).map((row) => row.id)).toEqual([recent.id, old.id]);
    expect(await shares.update(old.id, other, { active: false })).toBeUndefined();
    const updated = await shares.update(old.id, owner, { active: false, expiresAt: new Date(T + 999), maxDownloads: 3, passwordHash: null });
    expect(updated).toMatchObject({ id: old.id, active: false, maxDownloads: 3, passwordHash: null });
    expect(updated?.expiresAt?.getTime()).toBe(T + 999);
  });

  test('countView counts; claimDownload honours active, expiry (strictly before) and the limit', async () => {
    const owner = await newAccount();
    const row = await shares.insert(share(owner, { expiresAt: new Date(T + 1_000), maxDownloads: 2 }));
    await shares.countView(row.id);
    await shares.countView(row.id);
    expect((await shares.findById(row.id))?.views).toBe(2);
    expect(await shares.claimDownload(row.id, T + 1_000)).toBeUndefined();
    expect((await shares.claimDownload(row.id, T + 999))?.downloads).toBe(1);
    await shares.update(row.id, owner, { active: false });
    expect(await shares.claimDownload(row.id, T)).toBeUndefined();
    await shares.update(row.id, owner, { active: true });
    expect((await shares.claimDownload(row.id, T))?.downloads).toBe(2);
    expect(await shares.claimDownload(row.id, T)).toBeUndefined();
    const unlimited = await shares.insert(share(owner));
    for (let n = 1; n <= 3; n++) expect((await shares.claimDownload(unlimited.id, T + 10 ** 13))?.downloads).toBe(n);
  });

  test('concurrent downloads through two handles (two gateways) never pass maxDownloads', async () => {
    const owner = await newAccount();
    const row = await shares.insert(share(owner, { maxDownloads: 5 }));
    const other = createSharesRepository({ database: await open() });
    const claims = await Promise.all(Array.from({ length: 24 }, (_, n) => (n % 2 === 0 ? shares : other).claimDownload(row.id, T)));
    const taken = claims.filter((claim) => claim !== undefined);
    expect(taken).toHaveLength(5);
    expect(taken.map((claim) => claim!.downloads).sort()).toEqual([1, 2, 3, 4, 5]);
    expect((await shares.findById(row.id))?.downloads).toBe(5);
  });

  test('a transaction that throws leaves no share behind', async () => {
    const owner = await newAccount();
    const doomed = share(owner);
    await expect(
      shares.transaction(async () => {
        await shares.insert(doomed);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await shares.findById(doomed.id!)).toBeUndefined();
  });
}
