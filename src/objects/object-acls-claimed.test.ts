import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccountsRepository } from '../accounts/accounts.repository.ts';
import { createBucketsRepository } from '../buckets/buckets.repository.ts';
import { openDatabase } from '../db/database.ts';
import { createObjectAclStore } from './object-acls.ts';

/**
 * On SQLite `mayHaveAcls` answers from the in-memory set of claiming buckets alone (reloaded when
 * another process committed): a bucket this process claimed must stay in it, whatever reload was
 * in flight meanwhile. Missing from it, a private overwrite of a public key would skip clearing the
 * key's ACL row, and the new bytes would be public.
 */
describe('object ACL store: the claimed-bucket set on SQLite', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('a claim made while a reload (after another process committed) is in flight is still known afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-acl-claimed-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const database = openDatabase(join(dir, 'metadata.sqlite'));
    cleanups.push(() => database.close());
    const bucketsRepository = createBucketsRepository({ database });
    await createAccountsRepository({ database }).insert({ id: 'owner', email: 'owner@example.com', passwordHash: 'x', isAdmin: false });
    const bucket = await bucketsRepository.insert({ id: 'bucket-1', userId: 'owner', name: 'photos', backendName: 'backend-1' });
    // Another process's commits, as PRAGMA data_version would report them.
    let version = 1;
    const acls = createObjectAclStore({ database, bucketsRepository, dataVersion: () => version });
    expect(await acls.mayHaveAcls(bucket.id)).toBe(false);

    version = 2;
    // A public PutObject and a private write's check arrive together: both reload the set.
    await Promise.all([acls.set(bucket, 'k', 'public-read'), acls.mayHaveAcls(bucket.id)]);
    expect(await acls.get(bucket.id, 'k')).toBe('public-read');
    // No other process committed since: the answer comes from the set, and must know the claim.
    expect(await acls.mayHaveAcls(bucket.id)).toBe(true);
  });
});
