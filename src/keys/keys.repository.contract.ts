import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../accounts/accounts.repository.ts';
import { inOtherProcesses, type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { isUniqueViolation } from '../db/database-errors.ts';
import { createKeysRepository, type KeysRepository } from './keys.repository.ts';

/** The access keys repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function keysRepositoryContract(open: OpenDatabase) {
  let database: DatabaseHandle;
  let keys: KeysRepository;
  let accounts: AccountsRepository;
  beforeAll(async () => {
    database = await open();
    keys = createKeysRepository({ database });
    accounts = createAccountsRepository({ database });
  });
  const newAccount = async () => {
    const id = uniqueId('user');
    return accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false });
  };
  const newKey = (userId: string, overrides: Partial<Parameters<KeysRepository['insert']>[0]> = {}) => {
    const id = uniqueId('key');
    return keys.insert({ id, userId, accessKeyId: `AK${id}`, secretEncrypted: `sealed-${id}`, name: '', ...overrides });
  };

  test('scope, permission and expiry round-trip: JSON bucket lists, unicode prefix, Date to the millisecond', async () => {
    const user = await newAccount();
    const expiresAt = new Date(1_893_456_000_123);
    const row = await newKey(user.id, { name: 'backup \u0000✓', scopeBuckets: ['photos', 'Zeta', 'é'], scopePrefix: 'raw/été/', permission: 'read', expiresAt });
    expect(row).toMatchObject({ name: 'backup \u0000✓', scopeBuckets: ['photos', 'Zeta', 'é'], scopePrefix: 'raw/été/', permission: 'read', revokedAt: null });
    expect(row.expiresAt?.getTime()).toBe(expiresAt.getTime());
    const plain = await newKey(user.id);
    expect(plain).toMatchObject({ scopeBuckets: null, scopePrefix: null, permission: 'readwrite', expiresAt: null, revokedAt: null });
    const active = await keys.findActive(row.accessKeyId);
    expect(active).toEqual({
      keyId: row.id,
      accessKeyId: row.accessKeyId,
      userId: user.id,
      secretEncrypted: row.secretEncrypted,
      scopeBuckets: ['photos', 'Zeta', 'é'],
      scopePrefix: 'raw/été/',
      permission: 'read',
      expiresAt,
    });
  });

  test('a duplicate access key id is a unique violation', async () => {
    const user = await newAccount();
    const key = await newKey(user.id);
    const error = await newKey(user.id, { accessKeyId: key.accessKeyId }).catch((caught: unknown) => caught);
    expect(isUniqueViolation(error)).toBe(true);
  });

  test('listForUser: live keys in creation order, ties (same millisecond) in insertion order', async () => {
    const user = await newAccount();
    const inserted = [];
    for (let n = 0; n < 6; n++) inserted.push((await newKey(user.id, { name: `k${n}` })).id);
    await keys.revoke((await keys.listForUser(user.id))[2]!.accessKeyId, new Date());
    expect((await keys.listForUser(user.id)).map((row) => row.id)).toEqual(inserted.filter((_, n) => n !== 2));
    expect(await keys.countLiveForUser(user.id)).toBe(5);
  });

  test('revoke and revokeOwned: once, only the owner, the revoked key no longer authenticates', async () => {
    const user = await newAccount();
    const other = await newAccount();
    const a = await newKey(user.id, { name: 'a' });
    const b = await newKey(user.id, { name: 'b' });
    const at = new Date(1_767_225_600_456);
    expect(await keys.revoke(a.accessKeyId, at)).toEqual({ id: a.id, userId: user.id, accessKeyId: a.accessKeyId, name: 'a' });
    expect(await keys.revoke(a.accessKeyId, at)).toBeUndefined();
    expect(await keys.findActive(a.accessKeyId)).toBeUndefined();
    expect(await keys.revokeOwned(other.id, b.id, at)).toBeUndefined();
    expect(await keys.revokeOwned(user.id, b.id, at)).toEqual({ id: b.id, userId: user.id, accessKeyId: b.accessKeyId, name: 'b' });
    expect(await keys.countLiveForUser(user.id)).toBe(0);
    expect((await keys.listActive()).map((key) => key.keyId)).not.toContain(a.id);
  });

  test("a deactivated account's keys do not authenticate and are not listed active", async () => {
    const user = await newAccount();
    const key = await newKey(user.id);
    expect((await keys.listActive()).map((row) => row.keyId)).toContain(key.id);
    await accounts.setStatus(user.id, 'deactivated');
    expect(await keys.findActive(key.accessKeyId)).toBeUndefined();
    expect((await keys.listActive()).map((row) => row.keyId)).not.toContain(key.id);
  });

  test('newestSealedSecret answers the newest key, revoked or not', async () => {
    const user = await newAccount();
    await newKey(user.id);
    await sleep(5);
    const newest = await newKey(user.id);
    await keys.revoke(newest.accessKeyId, new Date());
    expect(await keys.newestSealedSecret()).toBe(newest.secretEncrypted);
  });

  test('a transaction that throws leaves no key behind', async () => {
    const user = await newAccount();
    await expect(
      keys.transaction(async () => {
        await keys.lockAccountKeys(user.id);
        await newKey(user.id);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await keys.countLiveForUser(user.id)).toBe(0);
  });

  test('lockAccountKeys + count in a transaction: concurrent creations on one handle never pass the limit', async () => {
    const user = await newAccount();
    const limit = 3;
    const attempt = () =>
      keys.transaction(async () => {
        await keys.lockAccountKeys(user.id);
        if ((await keys.countLiveForUser(user.id)) >= limit) return false;
        await newKey(user.id);
        return true;
      });
    const outcomes = await Promise.all(Array.from({ length: 6 }, attempt));
    expect(outcomes.filter(Boolean)).toHaveLength(limit);
    expect(await keys.countLiveForUser(user.id)).toBe(limit);
  });

  test('lockAccountKeys + count: concurrent creations from two other processes (gateways) never pass the limit', async () => {
    const user = await newAccount();
    const limit = 5;
    const outcomes = await inOtherProcesses<boolean[]>(database, [
      { task: 'keys.create', userId: user.id, limit, attempts: 4 },
      { task: 'keys.create', userId: user.id, limit, attempts: 4 },
    ]);
    expect(outcomes.flat().filter(Boolean)).toHaveLength(limit);
    expect(await keys.countLiveForUser(user.id)).toBe(limit);
  });
}
