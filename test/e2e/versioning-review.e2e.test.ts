/**
 * Issue #15, review of the S3 versioning API: who may reach which version through the per-key
 * ACLs once versions come and go, per-version ACL requests, malformed and replayed version ids,
 * quotas and events of permanent version deletes, and the S3 answers clients read (tagging's
 * x-amz-version-id, copies naming a delete marker). Over the network against the real gateway,
 * on both backends (BACKEND_INDEPENDENT_SUITES); every test removes each version it made.
 */
import { CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, PutBucketVersioningCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';
import { purgeAndDeleteBucket } from '../support/versioned-buckets.ts';

let server: TestServer;
let alice: TestAccount;
let bob: TestAccount;
let s3: S3Client;
let bucketCounter = 0;

async function raw(who: TestAccount, method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, who, { method, path, headers: options.headers, body: options.body }));
}

const anonymousGet = (path: string): Promise<RawResponse> => sendRaw(server.endpoint, { method: 'GET', path });

/** A fresh bucket of Alice's with versioning Enabled, purged after `body`. */
async function withBucket(body: (bucket: string) => Promise<void>): Promise<void> {
  bucketCounter += 1;
  const bucket = `review-${bucketCounter}-${Date.now().toString(36)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    await body(bucket);
  } finally {
    await purgeAndDeleteBucket(s3, bucket);
  }
}

const put = async (bucket: string, key: string, text: string, acl?: 'public-read'): Promise<string> =>
  (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ACL: acl }))).VersionId!;

describe('S3 versioning API (review)', () => {
  beforeAll(async () => {
    server = await startTestServer();
    alice = await server.createAccount();
    bob = await server.createAccount();
    s3 = server.client(alice);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('a public-read ACL written with the newest version does not open the older private version once the newest is deleted by id (DeleteObject, DeleteObjects, Suspended null marker)', async () => {
    await withBucket(async (bucket) => {
      // DeleteObject ?versionId= of the public version: the private one underneath becomes current.
      await put(bucket, 'a.txt', 'private a');
      const publicA = await put(bucket, 'a.txt', 'public a', 'public-read');
      expect((await anonymousGet(`/${bucket}/a.txt`)).text).toBe('public a');
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a.txt', VersionId: publicA }));
      const afterSingle = await anonymousGet(`/${bucket}/a.txt`);
      expect([afterSingle.status, afterSingle.text.includes('private a')]).toEqual([403, false]);

      // The same through DeleteObjects, the public version hidden under a marker first.
      await put(bucket, 'b.txt', 'private b');
      const publicB = await put(bucket, 'b.txt', 'public b', 'public-read');
      const { VersionId: markerB } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'b.txt' }));
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'b.txt', VersionId: publicB }] } }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'b.txt', VersionId: markerB }));
      const afterBatch = await anonymousGet(`/${bucket}/b.txt`);
      expect([afterBatch.status, afterBatch.text.includes('private b')]).toEqual([403, false]);

      // Suspended: a plain DELETE removes the public null version (a null marker takes its place);
      // removing that marker must not make the Enabled-era private version public.
      await put(bucket, 'c.txt', 'private c');
      await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }));
      await put(bucket, 'c.txt', 'public c', 'public-read');
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'c.txt' }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'c.txt', VersionId: 'null' }));
      const afterSuspended = await anonymousGet(`/${bucket}/c.txt`);
      expect([afterSuspended.status, afterSuspended.text.includes('private c')]).toEqual([403, false]);

      // Deleting an OLDER version keeps the current public object public (the ACL is the current one's).
      const old = await put(bucket, 'd.txt', 'old d');
      await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
      await put(bucket, 'd.txt', 'public d', 'public-read');
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'd.txt', VersionId: old }));
      expect((await anonymousGet(`/${bucket}/d.txt`)).text).toBe('public d');
    });
  });

  it('PutObjectAcl / GetObjectAcl with ?versionId= are refused (ACLs are per key here), never applied to the current version', async () => {
    await withBucket(async (bucket) => {
      const old = await put(bucket, 'doc.txt', 'old, meant to be shared');
      await put(bucket, 'doc.txt', 'current secret');
      const granted = await raw(alice, 'PUT', `/${bucket}/doc.txt?acl&versionId=${encodeURIComponent(old)}`, { headers: { 'x-amz-acl': 'public-read' } });
      expect([granted.status, granted.code]).toEqual([501, 'NotImplemented']);
      const current = await anonymousGet(`/${bucket}/doc.txt`);
      expect([current.status, current.text.includes('current secret')]).toEqual([403, false]);
      const read = await raw(alice, 'GET', `/${bucket}/doc.txt?acl&versionId=${encodeURIComponent(old)}`);
      expect([read.status, read.code]).toEqual([501, 'NotImplemented']);
    });
  });

  it('malformed version ids are 400 InvalidArgument on every door; another bucket’s version id is NoSuchVersion here', async () => {
    // No id any backend makes (the proxy backend accepts every format a store may use).
    const BAD = encodeURIComponent('bad id!');
    await withBucket(async (bucket) => {
      const mine = await put(bucket, 'k.txt', 'mine');
      for (const [method, path, headers] of [
        ['GET', `/${bucket}/k.txt?versionId=${BAD}`],
        ['DELETE', `/${bucket}/k.txt?versionId=${BAD}`],
        ['GET', `/${bucket}/k.txt?tagging&versionId=${BAD}`],
        ['PUT', `/${bucket}/copy.txt`, { 'x-amz-copy-source': `/${bucket}/k.txt?versionId=${BAD}` }],
      ] as const) {
        const answer = await raw(alice, method, path, { headers });
        expect([method, path, answer.status, answer.code]).toEqual([method, path, 400, 'InvalidArgument']);
        expect(answer.text).not.toMatch(/at .*\.ts|Error:/);
      }
      expect((await raw(alice, 'HEAD', `/${bucket}/k.txt?versionId=${BAD}`)).status).toBe(400);
      const batch = await raw(alice, 'POST', `/${bucket}?delete`, { body: '<Delete><Object><Key>k.txt</Key><VersionId>bad id!</VersionId></Object></Delete>' });
      expect(batch.text).toMatch(/<Error><Key>k.txt<\/Key><VersionId>bad id!<\/VersionId><Code>InvalidArgument<\/Code>/);

      // Bob's version id, replayed on Alice's key of the same name (and hers on his), finds nothing.
      const bobs = server.client(bob);
      try {
        await bobs.send(new CreateBucketCommand({ Bucket: bucket }));
        await bobs.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
        const his = (await bobs.send(new PutObjectCommand({ Bucket: bucket, Key: 'k.txt', Body: 'his' }))).VersionId!;
        const replayed = await raw(alice, 'GET', `/${bucket}/k.txt?versionId=${encodeURIComponent(his)}`);
        expect([replayed.status, replayed.code]).toEqual([404, 'NoSuchVersion']);
        const deleted = await raw(bob, 'DELETE', `/${bucket}/k.txt?versionId=${encodeURIComponent(mine)}`);
        expect(deleted.status).toBe(204);
        expect((await raw(alice, 'GET', `/${bucket}/k.txt?versionId=${encodeURIComponent(mine)}`)).text).toBe('mine');
        await purgeAndDeleteBucket(bobs, bucket);
      } finally {
        bobs.destroy();
      }
    });
  });

  it('permanent version deletes free quota (DeleteObject and DeleteObjects), a delete marker frees nothing; object.deleted events of a batch carry versionId and deleteMarker', async () => {
    await withBucket(async (bucket) => {
      const usage = async () => {
        const { usedBytes, objects } = await server.running.core.quotasUsecases.usage(alice.userId);
        return [usedBytes, objects];
      };
      const before = await usage();
      const v1 = await put(bucket, 'q.bin', 'x'.repeat(1000));
      const v2 = await put(bucket, 'q.bin', 'y'.repeat(2000));
      const v3 = await put(bucket, 'q.bin', 'z'.repeat(4000));
      expect(await usage()).toEqual([before[0]! + 7000, before[1]! + 3]);
      const { VersionId: marker } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'q.bin' }));
      expect(await usage()).toEqual([before[0]! + 7000, before[1]! + 3]);
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'q.bin', VersionId: v2 }));
      expect(await usage()).toEqual([before[0]! + 5000, before[1]! + 2]);
      const batch = await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: {
            Objects: [
              { Key: 'q.bin', VersionId: v1 },
              { Key: 'q.bin', VersionId: v3 },
              { Key: 'q.bin', VersionId: marker },
            ],
          },
        }),
      );
      expect(batch.Errors ?? []).toEqual([]);
      expect(await usage()).toEqual(before);

      await server.running.core.events.flush();
      const events = await server.running.core.events.log.read({ limit: 1000, accountId: alice.userId, bucket, types: ['object.deleted'] });
      const facts = events.map((event) => [event.versionId, event.detail]);
      expect(facts).toHaveLength(5);
      expect(facts).toEqual(
        expect.arrayContaining([
          [marker, { deleteMarker: true }],
          [v2, { deleteMarker: false }],
          [v1, { deleteMarker: false }],
          [v3, { deleteMarker: false }],
        ]),
      );
      expect(facts.filter(([id]) => id === marker)).toEqual([
        [marker, { deleteMarker: true }],
        [marker, { deleteMarker: true }],
      ]);
    });
  });

  it('tagging without versionId answers the current version id in a versioned bucket; a copy naming a delete marker is 400 InvalidRequest', async () => {
    await withBucket(async (bucket) => {
      await put(bucket, 't.txt', 'one');
      const current = await put(bucket, 't.txt', 'two');
      const tagged = await raw(alice, 'PUT', `/${bucket}/t.txt?tagging`, { body: '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>' });
      expect([tagged.status, tagged.headers['x-amz-version-id']]).toEqual([200, current]);
      const read = await raw(alice, 'GET', `/${bucket}/t.txt?tagging`);
      expect([read.status, read.headers['x-amz-version-id']]).toEqual([200, current]);
      const untagged = await raw(alice, 'DELETE', `/${bucket}/t.txt?tagging`);
      expect([untagged.status, untagged.headers['x-amz-version-id']]).toEqual([204, current]);

      const { VersionId: marker } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 't.txt' }));
      const copy = await raw(alice, 'PUT', `/${bucket}/copy.txt`, { headers: { 'x-amz-copy-source': `/${bucket}/t.txt?versionId=${encodeURIComponent(marker!)}` } });
      expect([copy.status, copy.code, copy.headers['x-amz-delete-marker']]).toEqual([400, 'InvalidRequest', undefined]);
    });
  });
});
