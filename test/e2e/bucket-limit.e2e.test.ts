import { CreateBucketCommand, ListBucketsCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_MASTER_KEY, type TestServer } from '../support/cloudstorage.ts';
import { createTestDatabase, sharedPostgresUrl } from '../support/postgres.ts';

/**
 * MAX_BUCKETS_PER_ACCOUNT holds under concurrency: the count and the insert of a new bucket are
 * one step per account, so creations racing on one gateway (or on several sharing PostgreSQL)
 * cannot all see room for one more bucket.
 */
describe.each(['sqlite', 'postgres'] as const)('bucket limit under concurrent CreateBucket (%s metadata)', (dialect) => {
  let server: TestServer;
  let dropDatabase = async () => {};
  beforeAll(async () => {
    const metadata: Record<string, string> = {};
    if (dialect === 'postgres') {
      const database = await createTestDatabase(sharedPostgresUrl());
      dropDatabase = database.drop;
      Object.assign(metadata, { DATABASE_URL: database.url, MASTER_KEY: TEST_MASTER_KEY });
    }
    server = await startTestServer({ MAX_BUCKETS_PER_ACCOUNT: 3, ...metadata });
  });
  afterAll(async () => {
    await server?.close();
    await dropDatabase();
  });

  it('eight concurrent CreateBucket calls of an account holding one bucket (limit 3) create exactly two; the others are TooManyBuckets', async () => {
    const account = await server.createAccount();
    const s3 = server.client(account);
    try {
      const names = Array.from({ length: 8 }, (_, index) => `race-${index}-${account.userId.slice(0, 6).toLowerCase()}`);
      const outcomes = await Promise.all(
        names.map((name) =>
          s3.send(new CreateBucketCommand({ Bucket: name })).then(
            () => 'created',
            (error: S3ServiceException) => error.name,
          ),
        ),
      );
      expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(2);
      expect(outcomes.filter((outcome) => outcome !== 'created')).toEqual(Array(6).fill('TooManyBuckets'));
      const listed = await s3.send(new ListBucketsCommand({}));
      expect(listed.Buckets).toHaveLength(3);
    } finally {
      s3.destroy();
    }
  });
});
