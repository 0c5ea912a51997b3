import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccountsRepository } from '../accounts/accounts.repository.ts';
import { createBucketsRepository } from '../buckets/buckets.repository.ts';
import { openPostgresDatabase } from '../db/postgres.ts';
import { createTestDatabase, sharedPostgresUrl } from '../../test/support/postgres.ts';
import { createObjectAclStore } from './object-acls.ts';

/**
 * A bucket claims its public name while it has object ACL rows (`mayHaveAcls` answers from the
 * claim). On PostgreSQL (READ COMMITTED, gateways on other hosts) releasing the name when the last
 * row goes must not interleave with a concurrent `set` that stores a new row: a released bucket
 * with a row is one whose private overwrites would skip clearing that row, which the next claim of
 * the name would turn public again.
 */
describe('object ACL rows and the public-name release on PostgreSQL', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('a release racing a set on another gateway never leaves an ACL row in a bucket that does not claim its name', async () => {
    const db = await createTestDatabase(sharedPostgresUrl());
    cleanups.push(() => db.drop());
    const gateway = async () => {
      const database = await openPostgresDatabase({ url: db.url, poolMax: 4 });
      cleanups.push(() => database.close());
      const bucketsRepository = createBucketsRepository({ database });
      return { database, bucketsRepository, acls: createObjectAclStore({ database, bucketsRepository }) };
    };
    const x = await gateway();
    const y = await gateway();
    await createAccountsRepository({ database: x.database }).insert({ id: 'owner', email: 'owner@example.com', passwordHash: 'x', isAdmin: false });
    const bucket = await x.bucketsRepository.insert({ id: 'bucket-1', userId: 'owner', name: 'photos', backendName: 'backend-1' });
    await y.acls.set(bucket, 'k1', 'public-read');
    // Gateway X: PutObjectAcl k1 private, then the release of the name (nothing public left, as far as it can see).
    await x.acls.clear(bucket.id, 'k1');

    // A third session holds the bucket row, so X's release waits inside its statement (as a slow
    // release would) while gateway Y stores a new public ACL for k2.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query("SELECT 1 FROM buckets WHERE id = 'bucket-1' FOR NO KEY UPDATE");
    const waiting = async (count: number) => {
      const { rows } = await holder.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
      );
      return Number(rows[0]!.n) >= count;
    };
    const until = async (condition: () => Promise<boolean>) => {
      for (let attempt = 0; attempt < 200 && !(await condition()); attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    };

    const release = x.acls.releaseIfUnused(bucket.id);
    await until(() => waiting(1));
    let setDone = false;
    const set = y.acls.set(bucket, 'k2', 'public-read').then(() => {
      setDone = true;
    });
    // Either Y's set completes, or it waits for X's release to end.
    await until(async () => setDone || (await waiting(2)));
    await holder.query('COMMIT');
    await Promise.all([release, set]);

    expect(await y.acls.get(bucket.id, 'k2')).toBe('public-read');
    // The row is there, so the bucket must still claim its name (else mayHaveAcls says false on every gateway).
    expect(await x.bucketsRepository.claimsPublicName(bucket.id)).toBe(true);
    const fresh = createObjectAclStore({ database: x.database, bucketsRepository: x.bucketsRepository });
    expect(await fresh.mayHaveAcls(bucket.id)).toBe(true);
  });
});
