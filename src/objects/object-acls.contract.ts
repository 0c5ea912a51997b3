import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../accounts/accounts.repository.ts';
import { type BucketsRepository, createBucketsRepository } from '../buckets/buckets.repository.ts';
import { type OpenDatabase, uniqueId } from '../db/contracts/contract-support.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createObjectAclStore, heldAclKey, type ObjectAclStore, uploadAclKey } from './object-acls.ts';

/** The object ACL store's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function objectAclStoreContract(open: OpenDatabase) {
  let database: DatabaseHandle;
  let buckets: BucketsRepository;
  let accounts: AccountsRepository;
  let acls: ObjectAclStore;
  let claims = 0;
  beforeAll(async () => {
    database = await open();
    buckets = createBucketsRepository({ database });
    accounts = createAccountsRepository({ database });
    acls = createObjectAclStore({
      database,
      bucketsRepository: buckets,
      onClaim: () => {
        claims++;
      },
    });
  });
  const newBucket = async (name = uniqueId('bucket')) => {
    const id = uniqueId('user');
    await accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false });
    return buckets.insert({ id: uniqueId('b'), userId: id, name, backendName: uniqueId('backend') });
  };
  // Keys as clients send them, and the store's own NUL-prefixed pseudo keys.
  const KEYS = ['photos/été.jpg', 'a\u0000b', 'Photos/été.jpg', 'dir\\file', '50%_x'];

  test('set / get per exact key (unicode, case, NUL, backslash, wildcards); private removes; the first public ACL claims the name', async () => {
    const bucket = await newBucket();
    expect(await acls.mayHaveAcls(bucket.id)).toBe(false);
    const before = claims;
    await acls.set(bucket, KEYS[0]!, 'public-read');
    expect(claims).toBe(before + 1);
    await acls.set(bucket, KEYS[1]!, 'authenticated-read');
    expect(await acls.mayHaveAcls(bucket.id)).toBe(true);
    expect(await buckets.claimsPublicName(bucket.id)).toBe(true);
    expect(await acls.get(bucket.id, KEYS[0]!)).toBe('public-read');
    expect(await acls.get(bucket.id, KEYS[1]!)).toBe('authenticated-read');
    for (const key of [KEYS[2]!, 'a', 'a\u0000', 'a\u0000b\u0000', KEYS[3]!]) expect(await acls.get(bucket.id, key)).toBeUndefined();
    await acls.set(bucket, KEYS[1]!, 'public-read');
    expect(await acls.get(bucket.id, KEYS[1]!)).toBe('public-read');
    await acls.set(bucket, KEYS[1]!, 'private');
    expect(await acls.get(bucket.id, KEYS[1]!)).toBeUndefined();
    expect(claims).toBe(before + 1);
  });

  test('pseudo keys with NUL (uploadAclKey, heldAclKey) are stored apart from the object keys they name', async () => {
    const bucket = await newBucket();
    const uploadId = 'upload-1';
    await acls.set(bucket, uploadAclKey(uploadId), 'authenticated-read');
    await acls.set(bucket, `upload${uploadId}`, 'public-read');
    expect(await acls.get(bucket.id, uploadAclKey(uploadId))).toBe('authenticated-read');
    expect(await acls.get(bucket.id, `upload${uploadId}`)).toBe('public-read');
    expect(await acls.get(bucket.id, heldAclKey(`upload${uploadId}`))).toBeUndefined();
    await acls.clear(bucket.id, uploadAclKey(uploadId));
    expect(await acls.get(bucket.id, uploadAclKey(uploadId))).toBeUndefined();
    expect(await acls.get(bucket.id, `upload${uploadId}`)).toBe('public-read');
  });

  test('clear and clearMany remove keys and their holds, beyond one batch, only in that bucket', async () => {
    const bucket = await newBucket();
    const other = await newBucket();
    const keys = Array.from({ length: 620 }, (_, n) => (n % 2 === 0 ? `k/${n}` : `k/\u0000${n}`));
    for (const key of keys.slice(0, 4)) await acls.set(bucket, key, 'public-read');
    await acls.set(bucket, keys[619]!, 'public-read');
    await acls.set(other, keys[0]!, 'public-read');
    expect(await acls.hold(bucket.id, keys[2]!, 'private')).toBe(true);
    // Which keys have a row, across batches and only in that bucket (a hold is no row of its key).
    expect([...(await acls.keysWithAcl(bucket.id, keys))].sort()).toEqual([keys[0]!, keys[1]!, keys[3]!, keys[619]!].sort());
    expect([...(await acls.keysWithAcl(other.id, keys))]).toEqual([keys[0]!]);
    await acls.clearMany(bucket.id, keys);
    for (const key of [keys[0]!, keys[1]!, keys[3]!, keys[619]!, heldAclKey(keys[2]!)]) expect(await acls.get(bucket.id, key)).toBeUndefined();
    expect(await acls.get(other.id, keys[0]!)).toBe('public-read');
    await acls.clear(other.id, keys[0]!);
    expect(await acls.get(other.id, keys[0]!)).toBeUndefined();
  });

  test('hold / restore / dropHold: a narrower write moves the ACL aside, its failure puts it back, once', async () => {
    const bucket = await newBucket();
    const key = 'doc\u0000s/é.txt';
    await acls.set(bucket, key, 'public-read');
    expect(await acls.hold(bucket.id, key, 'public-read')).toBe(false);
    expect(await acls.hold(bucket.id, key, 'authenticated-read')).toBe(true);
    expect(await acls.get(bucket.id, key)).toBeUndefined();
    expect(await acls.get(bucket.id, heldAclKey(key))).toBe('public-read');
    expect(await acls.restore(bucket.id, key)).toBe(true);
    expect(await acls.get(bucket.id, key)).toBe('public-read');
    expect(await acls.get(bucket.id, heldAclKey(key))).toBeUndefined();
    expect(await acls.restore(bucket.id, key)).toBe(false);

    // A later write's hold drops the earlier one; an ACL set meanwhile wins over a restore.
    expect(await acls.hold(bucket.id, key, undefined)).toBe(true);
    expect(await acls.hold(bucket.id, key, undefined)).toBe(false);
    expect(await acls.restore(bucket.id, key)).toBe(false);
    await acls.set(bucket, key, 'authenticated-read');
    expect(await acls.hold(bucket.id, key, 'private')).toBe(true);
    await acls.set(bucket, key, 'public-read');
    expect(await acls.restore(bucket.id, key)).toBe(false);
    expect(await acls.get(bucket.id, key)).toBe('public-read');

    expect(await acls.hold(bucket.id, key, 'private')).toBe(true);
    await acls.dropHold(bucket.id, key);
    expect(await acls.get(bucket.id, heldAclKey(key))).toBeUndefined();
    expect(await acls.restore(bucket.id, key)).toBe(false);
  });

  test("another account's public bucket of the same name refuses the claim; release gives the name back", async () => {
    const name = uniqueId('shared');
    const first = await newBucket(name);
    const second = await newBucket(name);
    await acls.claim(first);
    await expect(acls.set(second, 'k', 'public-read')).rejects.toMatchObject({ code: 'buckets.public_name_taken' });
    await expect(acls.claim(second)).rejects.toMatchObject({ code: 'buckets.public_name_taken' });
    expect(await acls.get(second.id, 'k')).toBeUndefined();
    await acls.releaseIfUnused(first.id);
    expect(await acls.mayHaveAcls(first.id)).toBe(false);
    await acls.set(second, 'k', 'public-read');
    expect(await acls.get(second.id, 'k')).toBe('public-read');
  });

  test('mayHaveAcls of a store on another handle (another gateway) sees a claim made after it loaded its set', async () => {
    const bucket = await newBucket();
    const elsewhere = await open();
    const otherStore = createObjectAclStore({ database: elsewhere, bucketsRepository: createBucketsRepository({ database: elsewhere }) });
    expect(await otherStore.mayHaveAcls(bucket.id)).toBe(false);
    await acls.set(bucket, 'x', 'public-read');
    expect(await otherStore.mayHaveAcls(bucket.id)).toBe(true);
    expect(await otherStore.get(bucket.id, 'x')).toBe('public-read');
  });
}
