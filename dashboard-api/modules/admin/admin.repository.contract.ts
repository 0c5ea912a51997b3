import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import { type BucketsRepository, createBucketsRepository } from '../../../src/buckets/buckets.repository.ts';
import { type OpenDatabase, uniqueId } from '../../../src/db/contracts/contract-support.ts';
import type { UserRow } from '../../../src/db/schema.ts';
import { createKeysRepository, type KeysRepository } from '../../../src/keys/keys.repository.ts';
import { createTrashRepository, type TrashRepository } from '../../../src/trash/trash.repository.ts';
import { type AdminRepository, createAdminRepository } from './admin.repository.ts';

/** The admin repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function adminRepositoryContract(open: OpenDatabase) {
  let admin: AdminRepository;
  let accounts: AccountsRepository;
  let keys: KeysRepository;
  let buckets: BucketsRepository;
  let trash: TrashRepository;
  beforeAll(async () => {
    const database = await open();
    admin = createAdminRepository({ database });
    accounts = createAccountsRepository({ database });
    keys = createKeysRepository({ database });
    buckets = createBucketsRepository({ database });
    trash = createTrashRepository({ database });
  });
  // Ids of mixed case: creation order, then byte order of the id ('B' < 'a'), decides.
  const newAccount = (id = uniqueId('user')) => accounts.insert({ id, email: `${id.toLowerCase()}@example.com`, passwordHash: 'x', isAdmin: false });
  const newKey = (userId: string) => {
    const id = uniqueId('key');
    return keys.insert({ id, userId, accessKeyId: `AK${id}`, secretEncrypted: 'sealed', name: `name ${id}` });
  };
  const byCreation = <T extends { createdAt: Date; id: string }>(rows: T[]) =>
    [...rows].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  test('listUsers pages by cursor in creation order (ties by id), each user with live keys and own buckets counted', async () => {
    const created: UserRow[] = [];
    for (const prefix of ['a', 'B', 'b', 'A', 'é', 'z', 'Z']) created.push(await newAccount(`${prefix}${uniqueId('u')}`));
    const [first, second] = created;
    await newKey(first!.id);
    const revoked = await newKey(first!.id);
    await keys.revoke(revoked.accessKeyId, new Date());
    await newKey(first!.id);
    await buckets.insert({ id: uniqueId('b'), userId: first!.id, name: 'one', backendName: uniqueId('backend') });
    await buckets.insert({ id: uniqueId('b'), userId: first!.id, name: 'two', backendName: uniqueId('backend') });
    await trash.insertInternalBucket({ id: uniqueId('b'), userId: first!.id, name: '.trash', backendName: uniqueId('backend') });

    const everyone = byCreation(await accounts.listAll());
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await admin.listUsers({ limit: 3, after });
      if (page.length === 0) break;
      paged.push(...page.map((entry) => entry.user.id));
      after = page[page.length - 1]!.user.id;
    }
    expect(paged).toEqual(everyone.map((user) => user.id));
    expect(await admin.findUser(first!.id)).toEqual({ user: first, keyCount: 2, bucketCount: 2 });
    expect(await admin.findUser(second!.id)).toEqual({ user: second, keyCount: 0, bucketCount: 0 });
    expect(await admin.findUser('missing')).toBeUndefined();
    expect(await admin.userExists(first!.id)).toBe(true);
    expect(await admin.userExists('missing')).toBe(false);
    expect(await admin.listUsers({ limit: 3, after: 'missing' })).toEqual([]);
  });

  test('listKeys pages by cursor in creation order, filtered by status and account, never with a secret', async () => {
    const owner = await newAccount();
    const other = await newAccount();
    const mine: Awaited<ReturnType<typeof newKey>>[] = [];
    for (let n = 0; n < 5; n++) mine.push(await newKey(owner.id));
    const theirs = await newKey(other.id);
    const revokedAt = new Date(1_767_225_600_321);
    await keys.revoke(mine[1]!.accessKeyId, revokedAt);
    await keys.revoke(mine[3]!.accessKeyId, revokedAt);

    const page = async (options: Omit<Parameters<AdminRepository['listKeys']>[0], 'limit' | 'after'>) => {
      const ids: string[] = [];
      let after: string | undefined;
      for (;;) {
        const rows = await admin.listKeys({ ...options, limit: 2, after });
        if (rows.length === 0) return ids;
        ids.push(...rows.map((row) => row.id));
        after = rows[rows.length - 1]!.id;
      }
    };
    const ordered = byCreation(mine).map((key) => key.id);
    expect(await page({ userId: owner.id, status: 'all' })).toEqual(ordered);
    expect(await page({ userId: owner.id, status: 'live' })).toEqual(ordered.filter((id) => id !== mine[1]!.id && id !== mine[3]!.id));
    expect((await page({ userId: owner.id, status: 'revoked' })).sort()).toEqual([mine[1]!.id, mine[3]!.id].sort());
    expect(await page({ status: 'all' })).toEqual(expect.arrayContaining([...ordered, theirs.id]));
    const found = await admin.findKey(mine[1]!.id);
    expect(found).toEqual({
      id: mine[1]!.id,
      name: mine[1]!.name,
      accessKeyId: mine[1]!.accessKeyId,
      userId: owner.id,
      userEmail: owner.email,
      createdAt: mine[1]!.createdAt,
      revokedAt,
    });
    expect(await admin.keyExists(theirs.id)).toBe(true);
    expect(await admin.keyExists('missing')).toBe(false);
    expect(await admin.listKeys({ limit: 2, after: 'missing', status: 'all' })).toEqual([]);
  });
}
