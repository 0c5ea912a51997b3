import { beforeAll, expect, test } from 'vitest';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import { isUniqueViolation } from '../db/database-errors.ts';
import { type AccountsRepository, createAccountsRepository } from './accounts.repository.ts';

/** The accounts repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function accountsRepositoryContract(open: OpenDatabase) {
  let accounts: AccountsRepository;
  beforeAll(async () => {
    accounts = createAccountsRepository({ database: await open() });
  });
  const newUser = (overrides: Partial<{ id: string; email: string; passwordHash: string; isAdmin: boolean }> = {}) => {
    const id = uniqueId('user');
    return { id, email: `${id}@example.com`, passwordHash: 'scrypt$é$😀', isAdmin: false, ...overrides };
  };

  test('insert answers the stored row with its defaults: active, no quota, a creation instant to the millisecond', async () => {
    const before = Date.now();
    const row = await accounts.insert(newUser({ isAdmin: true }));
    expect(row).toMatchObject({ isAdmin: true, status: 'active', quotaBytes: null, passwordHash: 'scrypt$é$😀' });
    expect(row.createdAt).toBeInstanceOf(Date);
    expect(row.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(await accounts.findById(row.id)).toEqual(row);
  });

  test('findByEmail matches the lower-cased address; unknown email and id are undefined', async () => {
    const user = await accounts.insert(newUser());
    expect((await accounts.findByEmail(user.email.toUpperCase()))?.id).toBe(user.id);
    expect(await accounts.findByEmail(`missing-${user.email}`)).toBeUndefined();
    expect(await accounts.findById('missing')).toBeUndefined();
  });

  test('a second account with the same email is a unique violation', async () => {
    const user = await accounts.insert(newUser());
    const error = await accounts.insert(newUser({ email: user.email })).catch((caught: unknown) => caught);
    expect(isUniqueViolation(error)).toBe(true);
  });

  test('quota beyond 2^32 bytes, status, password hash and admin flag round-trip', async () => {
    const user = await accounts.insert(newUser());
    const quota = 5 * 2 ** 32 + 7;
    await accounts.setQuota(user.id, quota);
    await accounts.setStatus(user.id, 'deactivated');
    await accounts.setPasswordHash(user.id, 'new-hash');
    expect(await accounts.findById(user.id)).toMatchObject({ quotaBytes: quota, status: 'deactivated', passwordHash: 'new-hash', isAdmin: false });
    await accounts.setQuota(user.id, null);
    expect((await accounts.findById(user.id))?.quotaBytes).toBeNull();
  });

  test('listAll includes every account', async () => {
    const a = await accounts.insert(newUser());
    const b = await accounts.insert(newUser());
    const ids = (await accounts.listAll()).map((row) => row.id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
  });

  test('a transaction that throws leaves nothing behind; one that resolves commits', async () => {
    const doomed = newUser();
    await expect(
      accounts.transaction(async () => {
        await accounts.insert(doomed);
        expect((await accounts.findById(doomed.id))?.id).toBe(doomed.id);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await accounts.findById(doomed.id)).toBeUndefined();
    const kept = newUser();
    expect(await accounts.transaction(async () => (await accounts.insert(kept)).id)).toBe(kept.id);
    expect((await accounts.findById(kept.id))?.email).toBe(kept.email);
  });
}
