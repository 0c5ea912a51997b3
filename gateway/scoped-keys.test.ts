import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/clock.ts';
import { startTestServer, type TestServer } from '../test/support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../test/support/dashboard.ts';

type Scope = { buckets?: string[]; prefix?: string; permission?: 'read' | 'write' | 'readwrite'; expiresAt?: string };

/** 'ok', or the S3 error code (HEAD errors have no body: their status stands in). */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const failure = error as { name: string; $metadata?: { httpStatusCode?: number } };
    if (['Forbidden', 'NotFound', 'Unknown'].includes(failure.name)) return String(failure.$metadata?.httpStatusCode);
    return failure.name;
  }
}

async function bodyOf(s3: S3Client, bucket: string, key: string): Promise<string> {
  return (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

describe('scoped access keys on the S3 gateway', () => {
  let server: TestServer;
  let owner: SignedUp;
  let full: S3Client;
  // The real time, frozen: SDK signatures (real time) stay within the skew window, and expiry moves only on advance().
  const clock = fixedClock(new Date());
  const clients: S3Client[] = [];
  // An account holds at most 5 keys: each test's keys are deleted after it.
  let keyIds: string[] = [];

  async function createKey(scope: Scope) {
    const created = await callApi(server, '/api/keys', { cookie: owner.cookie, body: { name: 'scoped', ...scope } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    keyIds.push(created.json.id);
    return created.json as { id: string; accessKey: string; secretKey: string; expiresAt: string | null };
  }

  async function scopedClient(scope: Scope): Promise<S3Client> {
    const client = s3ClientFor(server, await createKey(scope));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' }, { clock });
    owner = await signupViaApi(server);
    full = s3ClientFor(server, owner.firstKey);
    clients.push(full);
    await full.send(new CreateBucketCommand({ Bucket: 'photos' }));
    for (const [bucket, key, body] of [
      ['default', 'photos/cat.jpg', 'cat'],
      ['default', 'photos/2026/dog.jpg', 'dog'],
      ['default', 'photos-private/secret.jpg', 'secret'],
      ['default', 'docs/readme.txt', 'readme'],
      ['photos', 'album/one.jpg', 'one'],
    ]) {
      await full.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    }
  });
  afterEach(async () => {
    for (const id of keyIds) await callApi(server, `/api/keys?id=${id}`, { method: 'DELETE', cookie: owner.cookie });
    keyIds = [];
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await server?.close();
  });

  it('a read key reads and lists but cannot write, delete, copy or create buckets', async () => {
    const s3 = await scopedClient({ permission: 'read' });
    expect(await bodyOf(s3, 'default', 'docs/readme.txt')).toBe('readme');
    expect(await outcome(s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('ok');
    expect(await outcome(s3.send(new GetObjectTaggingCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('ok');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'default' }));
    expect(listed.KeyCount).toBe(4);
    expect(await outcome(s3.send(new HeadBucketCommand({ Bucket: 'default' })))).toBe('ok');

    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'new.txt', Body: 'x' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new DeleteObjectsCommand({ Bucket: 'default', Delete: { Objects: [{ Key: 'docs/readme.txt' }] } })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new CopyObjectCommand({ Bucket: 'default', Key: 'copy.txt', CopySource: 'default/docs/readme.txt' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new PutObjectTaggingCommand({ Bucket: 'default', Key: 'docs/readme.txt', Tagging: { TagSet: [] } })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'big.bin' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new CreateBucketCommand({ Bucket: 'read-made' })))).toBe('AccessDenied');
    // Nothing changed.
    expect(await bodyOf(full, 'default', 'docs/readme.txt')).toBe('readme');
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'default', Key: 'new.txt' })))).toBe('404');
  });

  it('a write key writes, uploads in parts and deletes but cannot read or list', async () => {
    const s3 = await scopedClient({ permission: 'write' });
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'drop/one.txt', Body: 'dropped' })))).toBe('ok');
    expect(await bodyOf(full, 'default', 'drop/one.txt')).toBe('dropped');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'drop/multi.bin' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'default', Key: 'drop/multi.bin', UploadId, PartNumber: 1, Body: 'part-one' }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'default', Key: 'drop/multi.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect(await bodyOf(full, 'default', 'drop/multi.bin')).toBe('part-one');
    // Uploaders probe the bucket before writing: bucket facts are open to write keys.
    expect(await outcome(s3.send(new HeadBucketCommand({ Bucket: 'default' })))).toBe('ok');
    expect(await outcome(s3.send(new GetBucketLocationCommand({ Bucket: 'default' })))).toBe('ok');

    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'drop/one.txt' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'drop/one.txt' })))).toBe('403');
    expect(await outcome(s3.send(new ListObjectsV2Command({ Bucket: 'default' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new ListObjectsCommand({ Bucket: 'default' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new ListMultipartUploadsCommand({ Bucket: 'default' })))).toBe('AccessDenied');
    // A copy reads its source: a write-only key cannot use it to read around its permission.
    expect(await outcome(s3.send(new CopyObjectCommand({ Bucket: 'default', Key: 'drop/copy.txt', CopySource: 'default/docs/readme.txt' })))).toBe('AccessDenied');

    expect(await outcome(s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'drop/one.txt' })))).toBe('ok');
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'default', Key: 'drop/one.txt' })))).toBe('404');
  });

  it('a readwrite key without restrictions does everything, buckets included', async () => {
    const s3 = await scopedClient({ permission: 'readwrite' });
    await s3.send(new CreateBucketCommand({ Bucket: 'rw-made' }));
    await s3.send(new PutObjectCommand({ Bucket: 'rw-made', Key: 'a.txt', Body: 'a' }));
    expect(await bodyOf(s3, 'rw-made', 'a.txt')).toBe('a');
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'rw-made' }))).Contents?.map((object) => object.Key)).toEqual(['a.txt']);
    await s3.send(new DeleteObjectCommand({ Bucket: 'rw-made', Key: 'a.txt' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'rw-made' }));
  });

  it('a bucket-scoped key reaches only its buckets, sees only them in ListBuckets, and cannot create or delete buckets', async () => {
    const s3 = await scopedClient({ buckets: ['photos', 'later'] });
    expect(await bodyOf(s3, 'photos', 'album/one.jpg')).toBe('one');
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'album/two.jpg', Body: 'two' }));
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['photos']);

    for (const command of [
      new GetObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' }),
      new PutObjectCommand({ Bucket: 'default', Key: 'x.txt', Body: 'x' }),
      new ListObjectsV2Command({ Bucket: 'default' }),
      new DeleteObjectsCommand({ Bucket: 'default', Delete: { Objects: [{ Key: 'docs/readme.txt' }] } }),
      // Out of scope and nonexistent: the same answer, so the key learns nothing about other names.
      new ListObjectsV2Command({ Bucket: 'no-such-bucket-anywhere' }),
      // A copy out of another bucket into an allowed one reads outside the scope.
      new CopyObjectCommand({ Bucket: 'photos', Key: 'stolen.txt', CopySource: 'default/docs/readme.txt' }),
      new CreateBucketCommand({ Bucket: 'later' }),
      new DeleteBucketCommand({ Bucket: 'photos' }),
    ]) {
      expect(await outcome(s3.send(command as never)), command.constructor.name).toBe('AccessDenied');
    }
    expect(await outcome(s3.send(new HeadBucketCommand({ Bucket: 'default' })))).toBe('403');
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'stolen.txt' })))).toBe('404');

    // A named bucket may not exist yet; once the account creates it, the key can use it.
    expect(await outcome(s3.send(new ListObjectsV2Command({ Bucket: 'later' })))).toBe('NoSuchBucket');
    await full.send(new CreateBucketCommand({ Bucket: 'later' }));
    await s3.send(new PutObjectCommand({ Bucket: 'later', Key: 'now.txt', Body: 'now' }));
    expect(await bodyOf(full, 'later', 'now.txt')).toBe('now');
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((bucket) => bucket.Name)).toEqual(['later', 'photos']);
  });

  it('a prefix-scoped key reads, writes and lists only under its prefix (B2 listing rule)', async () => {
    const s3 = await scopedClient({ prefix: 'photos/' });
    expect(await bodyOf(s3, 'default', 'photos/cat.jpg')).toBe('cat');
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'photos/new.jpg', Body: 'new' }));
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'photos-private/secret.jpg' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'docs/evil.txt', Body: 'x' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('AccessDenied');

    const under = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: 'photos/' }));
    expect(under.Contents?.map((object) => object.Key)).toEqual(['photos/2026/dog.jpg', 'photos/cat.jpg', 'photos/new.jpg']);
    const deeper = await s3.send(new ListObjectsCommand({ Bucket: 'default', Prefix: 'photos/2026/' }));
    expect(deeper.Contents?.map((object) => object.Key)).toEqual(['photos/2026/dog.jpg']);
    const folders = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: 'photos/', Delimiter: '/' }));
    expect(folders.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['photos/2026/']);
    expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'default', Prefix: 'photos/' }))).Uploads ?? []).toEqual([]);

    // The root, another prefix, and `photos` (which would match photos-private/) are refused.
    for (const prefix of [undefined, '', 'docs/', 'photos']) {
      expect(await outcome(s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: prefix }))), String(prefix)).toBe('AccessDenied');
      expect(await outcome(s3.send(new ListObjectsCommand({ Bucket: 'default', Prefix: prefix }))), String(prefix)).toBe('AccessDenied');
    }
    expect(await outcome(s3.send(new ListMultipartUploadsCommand({ Bucket: 'default' })))).toBe('AccessDenied');
    expect(await outcome(s3.send(new CreateBucketCommand({ Bucket: 'prefix-made' })))).toBe('AccessDenied');

    // Presigned URLs carry the key's scope too.
    const inside = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'default', Key: 'photos/cat.jpg' }), { expiresIn: 60 });
    const outside = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' }), { expiresIn: 60 });
    expect(await (await fetch(inside)).text()).toBe('cat');
    const refused = await fetch(outside);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('<Code>AccessDenied</Code>');
  });

  it('checks both sides of a copy: the source must be readable and the destination writable', async () => {
    const s3 = await scopedClient({ prefix: 'photos/' });
    const copy = (source: string, key: string) => outcome(s3.send(new CopyObjectCommand({ Bucket: 'default', Key: key, CopySource: source })));
    expect(await copy('default/photos/cat.jpg', 'photos/cat-copy.jpg')).toBe('ok');
    expect(await bodyOf(full, 'default', 'photos/cat-copy.jpg')).toBe('cat');
    expect(await copy('default/docs/readme.txt', 'photos/readme.txt')).toBe('AccessDenied'); // reads outside
    expect(await copy('default/photos/cat.jpg', 'docs/cat.jpg')).toBe('AccessDenied'); // writes outside
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'default', Key: 'photos/readme.txt' })))).toBe('404');
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'default', Key: 'docs/cat.jpg' })))).toBe('404');

    // UploadPartCopy reads its source under the same rule.
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'default', Key: 'photos/assembled.bin' }));
    expect(
      await outcome(s3.send(new UploadPartCopyCommand({ Bucket: 'default', Key: 'photos/assembled.bin', UploadId, PartNumber: 1, CopySource: 'default/docs/readme.txt' }))),
    ).toBe('AccessDenied');
    expect(
      await outcome(s3.send(new UploadPartCopyCommand({ Bucket: 'default', Key: 'photos/assembled.bin', UploadId, PartNumber: 1, CopySource: 'default/photos/cat.jpg' }))),
    ).toBe('ok');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'default', Key: 'photos/assembled.bin', UploadId }));
  });

  it('DeleteObjects deletes the keys in scope and reports each key outside it as AccessDenied', async () => {
    await full.send(new PutObjectCommand({ Bucket: 'default', Key: 'photos/doomed.jpg', Body: 'd' }));
    const s3 = await scopedClient({ prefix: 'photos/' });
    const result = await s3.send(
      new DeleteObjectsCommand({ Bucket: 'default', Delete: { Objects: [{ Key: 'photos/doomed.jpg' }, { Key: 'docs/readme.txt' }, { Key: 'photos-private/secret.jpg' }] } }),
    );
    expect(result.Deleted?.map((deleted) => deleted.Key)).toEqual(['photos/doomed.jpg']);
    expect(result.Errors?.map((error) => [error.Key, error.Code]).sort()).toEqual([
      ['docs/readme.txt', 'AccessDenied'],
      ['photos-private/secret.jpg', 'AccessDenied'],
    ]);
    expect(await outcome(full.send(new HeadObjectCommand({ Bucket: 'default', Key: 'photos/doomed.jpg' })))).toBe('404');
    expect(await bodyOf(full, 'default', 'docs/readme.txt')).toBe('readme');
    expect(await bodyOf(full, 'default', 'photos-private/secret.jpg')).toBe('secret');
  });

  it('refuses a key from the instant it expires (InvalidAccessKeyId, no sleeping) and a revoked scoped key at once', async () => {
    const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
    const created = await createKey({ expiresAt });
    expect(created.expiresAt).toBe(expiresAt);
    const s3 = s3ClientFor(server, created);
    clients.push(s3);
    expect(await outcome(s3.send(new ListBucketsCommand({})))).toBe('ok');
    const listed = (await callApi(server, '/api/keys', { cookie: owner.cookie })).json.keys.find((key: { id: string }) => key.id === created.id);
    expect(listed.expiresAt).toBe(expiresAt);

    clock.advance(59_999);
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('ok');
    clock.advance(1);
    expect(await outcome(s3.send(new ListBucketsCommand({})))).toBe('InvalidAccessKeyId');
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'docs/readme.txt' })))).toBe('InvalidAccessKeyId');
    // Still listed (and counted) until deleted, so it can be seen and removed.
    expect((await callApi(server, '/api/keys', { cookie: owner.cookie })).json.keys.map((key: { id: string }) => key.id)).toContain(created.id);

    const scoped = await createKey({ prefix: 'photos/', permission: 'read' });
    const scopedS3 = s3ClientFor(server, scoped);
    clients.push(scopedS3);
    expect(await bodyOf(scopedS3, 'default', 'photos/cat.jpg')).toBe('cat');
    expect((await callApi(server, `/api/keys?id=${scoped.id}`, { method: 'DELETE', cookie: owner.cookie })).status).toBe(200);
    expect(await outcome(scopedS3.send(new GetObjectCommand({ Bucket: 'default', Key: 'photos/cat.jpg' })))).toBe('InvalidAccessKeyId');
  });
});
