/**
 * Issue #14, "Public files": canned ACLs (private, public-read, authenticated-read) and anonymous
 * reads, over the network against the real servers, on both backends (this suite is in
 * BACKEND_INDEPENDENT_SUITES). Anonymous requests are plain HTTP with no signature at all, as curl
 * or a browser sends them; owners use the AWS SDK, the aws CLI and raw signed requests.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  UploadPartCommand,
  type ObjectCannedACL,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCli, ensureOk } from '../support/clients.ts';
import { startTestServer, tempDir, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { signupViaApi } from '../support/dashboard.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

let server: TestServer;
let owner: TestAccount;
let other: TestAccount;
let ownerS3: S3Client;
let otherS3: S3Client;
/** Everything created, deleted after the suite (the RGW of the s3-backend project is shared memory). */
const created: { s3: S3Client; bucket: string }[] = [];

const uniqueName = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

async function newBucket(s3: S3Client, prefix: string, acl?: 'private' | 'public-read' | 'authenticated-read', name = uniqueName(prefix)): Promise<string> {
  await s3.send(new CreateBucketCommand({ Bucket: name, ACL: acl }));
  created.push({ s3, bucket: name });
  return name;
}

/** A request with no credentials at all: no Authorization header, no signature in the query. */
const anonymous = (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> =>
  sendRaw(server.endpoint, { method, path, headers, body });

const signed = async (account: TestAccount, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> =>
  sendRaw(server.endpoint, await signRaw(server.endpoint, account, { method, path, headers, body }));

/** A signed PUT whose body the test sends in steps (`write`, then `finish` with the rest). */
async function openSignedUpload(account: TestAccount, path: string, length: number, headers: Record<string, string>) {
  const request = await signRaw(server.endpoint, account, { method: 'PUT', path, payloadHash: 'UNSIGNED-PAYLOAD', headers: { ...headers, 'content-length': String(length) } });
  const url = new URL(server.endpoint);
  const outgoing = httpRequest({ host: url.hostname, port: url.port, method: 'PUT', path, headers: request.headers });
  const response = new Promise<RawResponse>((resolve, reject) => {
    outgoing.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk) => chunks.push(chunk));
      incoming.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          body: Buffer.concat(chunks),
          text,
          code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1],
          sawContinue: false,
        });
      });
    });
    outgoing.on('error', reject);
  });
  return {
    write: (chunk: Buffer) => outgoing.write(chunk),
    finish: (rest: Buffer) => {
      outgoing.end(rest);
      return response;
    },
  };
}

/** Polls a condition the server reaches on its own (bounded: fails the test rather than hanging). */
async function until(condition: () => Promise<boolean>, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not reached');
}

/**
 * Another account asking for something no ACL opens to it: AccessDenied while the name is public,
 * else the answer of its own namespace (NoSuchBucket: names are per account).
 */
const refused = (response: RawResponse): boolean => (response.status === 403 && response.code === 'AccessDenied') || (response.status === 404 && response.code === 'NoSuchBucket');

const put = (s3: S3Client, bucket: string, key: string, body: string, acl?: ObjectCannedACL) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ACL: acl }));

/** The AccessControlPolicy document AWS answers for a canned ACL (owner FULL_CONTROL, then the canned grant). */
function expectedPolicy(ownerId: string, group?: string): string {
  const xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';
  const ownerFields = `<ID>${ownerId}</ID><DisplayName>${ownerId}</DisplayName>`;
  const groupGrant = group ? `<Grant><Grantee ${xsi} xsi:type="Group"><URI>${group}</URI></Grantee><Permission>READ</Permission></Grant>` : '';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Owner>${ownerFields}</Owner><AccessControlList><Grant><Grantee ${xsi} xsi:type="CanonicalUser">${ownerFields}</Grantee><Permission>FULL_CONTROL</Permission></Grant>${groupGrant}</AccessControlList></AccessControlPolicy>`
  );
}

async function emptyAndDelete(s3: S3Client, bucket: string): Promise<void> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const object of page.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

beforeAll(async () => {
  server = await startTestServer({ RATE_LIMIT_ANONYMOUS: 'off', MAX_BUCKETS_PER_ACCOUNT: 50 });
  owner = await server.createAccount();
  other = await server.createAccount();
  ownerS3 = server.client(owner);
  otherS3 = server.client(other);
  // Every account comes with a `default` bucket.
  created.push({ s3: ownerS3, bucket: 'default' }, { s3: otherS3, bucket: 'default' });
});

afterAll(async () => {
  for (const { s3, bucket } of created.reverse()) await emptyAndDelete(s3, bucket).catch(() => undefined);
  for (const s3 of new Set(created.map((entry) => entry.s3))) s3.destroy();
  await server?.close();
});

describe('object ACLs: who may read', () => {
  it('PutObject with each canned ACL: anonymous GET/HEAD, another account and the owner read exactly what the ACL grants', async () => {
    const bucket = await newBucket(ownerS3, 'acl-put');
    await put(ownerS3, bucket, 'public.txt', 'for everyone', 'public-read');
    await put(ownerS3, bucket, 'members.txt', 'for any account', 'authenticated-read');
    await put(ownerS3, bucket, 'private.txt', 'owner only', 'private');
    await put(ownerS3, bucket, 'default.txt', 'owner only too');

    const publicGet = await anonymous('GET', `/${bucket}/public.txt`);
    expect(publicGet.status).toBe(200);
    expect(publicGet.text).toBe('for everyone');
    const publicHead = await anonymous('HEAD', `/${bucket}/public.txt`);
    expect(publicHead.status).toBe(200);
    expect(publicHead.headers['content-length']).toBe('12');
    const ranged = await anonymous('GET', `/${bucket}/public.txt`, { range: 'bytes=4-6' });
    expect([ranged.status, ranged.text]).toEqual([206, 'eve']);

    for (const key of ['members.txt', 'private.txt', 'default.txt']) {
      const get = await anonymous('GET', `/${bucket}/${key}`);
      expect([key, get.status, get.code]).toEqual([key, 403, 'AccessDenied']);
      expect(get.text).not.toContain('owner only');
      expect((await anonymous('HEAD', `/${bucket}/${key}`)).status).toBe(403);
    }

    // Another account's valid key: public-read and authenticated-read, nothing else.
    for (const [key, body] of [
      ['public.txt', 'for everyone'],
      ['members.txt', 'for any account'],
    ]) {
      const response = await signed(other, 'GET', `/${bucket}/${key}`);
      expect([response.status, response.text]).toEqual([200, body]);
    }
    for (const key of ['private.txt', 'default.txt']) {
      const response = await signed(other, 'GET', `/${bucket}/${key}`);
      expect([response.status, response.code]).toEqual([403, 'AccessDenied']);
    }

    // Without list permission on the bucket, a missing key is indistinguishable from a private one.
    expect((await anonymous('GET', `/${bucket}/no-such-key`)).code).toBe('AccessDenied');
    // The owner reads everything, as before.
    const own = await ownerS3.send(new GetObjectCommand({ Bucket: bucket, Key: 'default.txt' }));
    expect(await own.Body!.transformToString()).toBe('owner only too');
  });

  it('GetObjectAcl answers the AccessControlPolicy document AWS answers, for each canned ACL', async () => {
    const bucket = await newBucket(ownerS3, 'acl-doc');
    await put(ownerS3, bucket, 'p', 'x', 'public-read');
    await put(ownerS3, bucket, 'a', 'x', 'authenticated-read');
    await put(ownerS3, bucket, 'n', 'x');
    for (const [key, group] of [
      ['p', ALL_USERS],
      ['a', AUTHENTICATED_USERS],
      ['n', undefined],
    ] as const) {
      const response = await signed(owner, 'GET', `/${bucket}/${key}?acl`);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toContain('xml');
      expect(response.text).toBe(expectedPolicy(owner.userId, group));
    }
    // The SDK reads it as AWS's grants.
    const acl = await ownerS3.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'p' }));
    expect(acl.Owner).toEqual({ ID: owner.userId, DisplayName: owner.userId });
    expect(acl.Grants).toEqual([
      { Grantee: { Type: 'CanonicalUser', ID: owner.userId, DisplayName: owner.userId }, Permission: 'FULL_CONTROL' },
      { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' },
    ]);
    // ACLs are the owner's business: a public object's ACL is not public (another account is answered in its own namespace).
    expect((await anonymous('GET', `/${bucket}/p?acl`)).status).toBe(403);
    expect(refused(await signed(other, 'GET', `/${bucket}/p?acl`))).toBe(true);
    expect((await signed(owner, 'GET', `/${bucket}/missing?acl`)).code).toBe('NoSuchKey');
  });

  it('PutObjectAcl by header and by AccessControlPolicy body (the document GetObjectAcl returned) opens and closes an object', async () => {
    const bucket = await newBucket(ownerS3, 'acl-putacl');
    await put(ownerS3, bucket, 'doc.txt', 'later public');
    expect((await anonymous('GET', `/${bucket}/doc.txt`)).status).toBe(403);

    await ownerS3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'doc.txt', ACL: 'public-read' }));
    expect((await anonymous('GET', `/${bucket}/doc.txt`)).text).toBe('later public');

    await ownerS3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'doc.txt', ACL: 'private' }));
    expect((await anonymous('GET', `/${bucket}/doc.txt`)).status).toBe(403);

    // The grant document, round-tripped: AuthenticatedUsers READ is authenticated-read.
    const body = expectedPolicy(owner.userId, AUTHENTICATED_USERS);
    const response = await signed(owner, 'PUT', `/${bucket}/doc.txt?acl`, { 'content-type': 'application/xml' }, body);
    expect(response.status).toBe(200);
    expect((await signed(owner, 'GET', `/${bucket}/doc.txt?acl`)).text).toBe(body);
    expect((await signed(other, 'GET', `/${bucket}/doc.txt`)).status).toBe(200);
    expect((await anonymous('GET', `/${bucket}/doc.txt`)).status).toBe(403);

    // Through the SDK's AccessControlPolicy shape too: owner only is private.
    await ownerS3.send(
      new PutObjectAclCommand({
        Bucket: bucket,
        Key: 'doc.txt',
        AccessControlPolicy: {
          Owner: { ID: owner.userId },
          Grants: [{ Grantee: { Type: 'CanonicalUser', ID: owner.userId }, Permission: 'FULL_CONTROL' }],
        },
      }),
    );
    expect(refused(await signed(other, 'GET', `/${bucket}/doc.txt`))).toBe(true);
    expect((await signed(owner, 'PUT', `/${bucket}/missing.txt?acl`, { 'x-amz-acl': 'public-read' })).code).toBe('NoSuchKey');
  });

  it('a new write without x-amz-acl makes the key private again: PutObject, CopyObject, multipart completion, the REST file API, delete', async () => {
    const user = await signupViaApi(server);
    const account: TestAccount = { userId: user.userId, email: user.email, accessKeyId: user.firstKey.accessKey, secretAccessKey: user.firstKey.secretKey };
    const s3 = server.client(account);
    created.push({ s3, bucket: 'default' });
    const bucket = await newBucket(s3, 'acl-rewrite');
    const readable = async (key: string) => (await anonymous('GET', `/${bucket}/${key}`)).status;

    await put(s3, bucket, 'k', 'v1 public', 'public-read');
    expect(await readable('k')).toBe(200);
    await put(s3, bucket, 'k', 'v2 secret');
    const after = await anonymous('GET', `/${bucket}/k`);
    expect([after.status, after.text.includes('secret')]).toEqual([403, false]);

    // CopyObject: the copy gets the request's ACL, never the source's (private by default).
    await put(s3, bucket, 'src', 'copied bytes', 'public-read');
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-private', CopySource: `${bucket}/src` }));
    expect(await readable('copy-private')).toBe(403);
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-public', CopySource: `${bucket}/src`, ACL: 'public-read' }));
    expect((await anonymous('GET', `/${bucket}/copy-public`)).text).toBe('copied bytes');
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-public', CopySource: `${bucket}/k` }));
    expect(await readable('copy-public')).toBe(403);

    // Multipart: the ACL asked for at creation applies at completion, not before.
    const partBody = 'multipart body';
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp', ACL: 'public-read' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId: upload.UploadId, PartNumber: 1, Body: partBody }));
    expect(await readable('mp')).toBe(403);
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect((await anonymous('GET', `/${bucket}/mp`)).text).toBe(partBody);
    const privateUpload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
    const privatePart = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId: privateUpload.UploadId, PartNumber: 1, Body: 'private now' }));
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId: privateUpload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: privatePart.ETag }] } }),
    );
    expect(await readable('mp')).toBe(403);
    const aborted = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'never', ACL: 'public-read' }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'never', UploadId: aborted.UploadId }));

    // Another door (the REST file API) replacing a public object makes it private too.
    await put(s3, bucket, 'rest.txt', 'public via s3', 'public-read');
    expect(await readable('rest.txt')).toBe(200);
    const rest = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=${bucket}&key=rest.txt`, {
      method: 'POST',
      headers: { 'X-API-Key': `${account.accessKeyId}:${account.secretAccessKey}`, 'Content-Type': 'text/plain' },
      body: 'replaced via the file API',
    });
    expect(rest.status).toBe(201);
    expect(await readable('rest.txt')).toBe(403);

    // Delete, then the same key written again without an ACL: private.
    await put(s3, bucket, 'gone', 'public', 'public-read');
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));
    await put(s3, bucket, 'gone', 'back, private');
    expect(await readable('gone')).toBe(403);
  });

  it('an overwrite that fails (bad Content-MD5) leaves the previous object as public as it was; a write that started meanwhile keeps it closed', async () => {
    const bucket = await newBucket(ownerS3, 'acl-failed-write');
    await put(ownerS3, bucket, 'k', 'v1 public', 'public-read');
    const wrongMd5 = createHash('md5').update('something else').digest('base64');

    // A private overwrite whose body does not match its Content-MD5: refused, nothing stored, and v1 still public.
    const failed = await signed(owner, 'PUT', `/${bucket}/k`, { 'content-md5': wrongMd5 }, 'v2 never stored');
    expect([failed.status, failed.code]).toEqual([400, 'BadDigest']);
    const stillPublic = await anonymous('GET', `/${bucket}/k`);
    expect([stillPublic.status, stillPublic.text]).toEqual([200, 'v1 public']);

    // Failing write A holds the key while private write B completes: A's failure must not re-open B's bytes.
    const body = Buffer.alloc(64 * 1024, 'a');
    const slow = await openSignedUpload(owner, `/${bucket}/k`, body.length, { 'content-md5': wrongMd5 });
    slow.write(body.subarray(0, 1024));
    // A reached the objects service once v1 stops being readable (new bytes are never public, even briefly).
    await until(async () => (await anonymous('GET', `/${bucket}/k`)).status === 403);
    await put(ownerS3, bucket, 'k', 'v3 secret');
    const aResponse = await slow.finish(body.subarray(1024));
    expect([aResponse.status, aResponse.code]).toEqual([400, 'BadDigest']);
    const closed = await anonymous('GET', `/${bucket}/k`);
    expect([closed.status, closed.text.includes('secret')]).toEqual([403, false]);
    const own = await ownerS3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
    expect(await own.Body!.transformToString()).toBe('v3 secret');

    // An owner's explicit PutObjectAcl private during a failing write wins too.
    await put(ownerS3, bucket, 'k2', 'public again', 'public-read');
    const slow2 = await openSignedUpload(owner, `/${bucket}/k2`, body.length, { 'content-md5': wrongMd5 });
    slow2.write(body.subarray(0, 1024));
    await until(async () => (await anonymous('GET', `/${bucket}/k2`)).status === 403);
    await ownerS3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'k2', ACL: 'private' }));
    expect((await slow2.finish(body.subarray(1024))).code).toBe('BadDigest');
    expect((await anonymous('GET', `/${bucket}/k2`)).status).toBe(403);
  });

  it('anonymous GET/HEAD may not use response-* overrides (InvalidRequest, as AWS): a public file cannot be served as HTML by link', async () => {
    const bucket = await newBucket(ownerS3, 'acl-overrides');
    await ownerS3.send(new PutObjectCommand({ Bucket: bucket, Key: 'page.txt', Body: '<script>alert(1)</script>', ContentType: 'text/plain', ACL: 'public-read' }));
    for (const method of ['GET', 'HEAD']) {
      const response = await anonymous(method, `/${bucket}/page.txt?response-content-type=text%2Fhtml`);
      expect([method, response.status, response.headers['content-type']]).not.toContain('text/html');
      expect([method, response.status]).toEqual([method, 400]);
      if (method === 'GET') expect(response.code).toBe('InvalidRequest');
    }
    const plain = await anonymous('GET', `/${bucket}/page.txt`);
    expect([plain.status, plain.headers['content-type']]).toEqual([200, 'text/plain']);
    // A signed request (another account reading the public object) may use them, as on AWS.
    const signedRead = await signed(other, 'GET', `/${bucket}/page.txt?response-content-type=text%2Fcsv`);
    expect([signedRead.status, signedRead.headers['content-type']]).toEqual([200, 'text/csv']);
  });
});

describe('every canned ACL on every operation that takes one', () => {
  const CANNED = ['private', 'public-read', 'authenticated-read'] as const;
  /** Whether [anonymous, another account] may read, per canned ACL. */
  const expected = { private: [false, false], 'public-read': [true, true], 'authenticated-read': [false, true] } as const;
  const opened = (response: RawResponse) => response.status === 200;

  it('PutObject, CopyObject, CreateMultipartUpload, PutObjectAcl; CreateBucket and PutBucketAcl', async () => {
    const bucket = await newBucket(ownerS3, 'acl-every');
    await put(ownerS3, bucket, 'source', 'source bytes');
    for (const acl of CANNED) {
      await put(ownerS3, bucket, `put-${acl}`, 'x', acl);
      await ownerS3.send(new CopyObjectCommand({ Bucket: bucket, Key: `copy-${acl}`, CopySource: `${bucket}/source`, ACL: acl }));
      const upload = await ownerS3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `mpu-${acl}`, ACL: acl }));
      const part = await ownerS3.send(new UploadPartCommand({ Bucket: bucket, Key: `mpu-${acl}`, UploadId: upload.UploadId, PartNumber: 1, Body: 'x' }));
      await ownerS3.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: `mpu-${acl}`, UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
      );
      await put(ownerS3, bucket, `putacl-${acl}`, 'x');
      await ownerS3.send(new PutObjectAclCommand({ Bucket: bucket, Key: `putacl-${acl}`, ACL: acl }));
      for (const key of [`put-${acl}`, `copy-${acl}`, `mpu-${acl}`, `putacl-${acl}`]) {
        const seen = [opened(await anonymous('GET', `/${bucket}/${key}`)), opened(await signed(other, 'HEAD', `/${bucket}/${key}`))];
        expect([key, ...seen]).toEqual([key, ...expected[acl]]);
      }
    }
    for (const acl of CANNED) {
      const created = await newBucket(ownerS3, `acl-cb-${acl}`, acl);
      const listable = async (name: string) => [opened(await anonymous('GET', `/${name}?list-type=2`)), opened(await signed(other, 'GET', `/${name}?list-type=2`))];
      expect([created, ...(await listable(created))]).toEqual([created, ...expected[acl]]);
      const changed = await newBucket(ownerS3, `acl-pb-${acl}`);
      await ownerS3.send(new PutBucketAclCommand({ Bucket: changed, ACL: acl }));
      expect([changed, ...(await listable(changed))]).toEqual([changed, ...expected[acl]]);
    }
  });
});

describe('bucket ACLs: who may list', () => {
  it('CreateBucket/PutBucketAcl canned ACLs: anonymous ListObjects of a public-read bucket; GetBucketAcl documents; object reads still follow object ACLs', async () => {
    const bucket = await newBucket(ownerS3, 'acl-list', 'public-read');
    await put(ownerS3, bucket, 'a.txt', 'private object in a public bucket');
    await put(ownerS3, bucket, 'b.txt', 'public object', 'public-read');

    const v2 = await anonymous('GET', `/${bucket}?list-type=2`);
    expect(v2.status).toBe(200);
    expect([...v2.text.matchAll(/<Key>([^<]+)<\/Key>/g)].map((match) => match[1])).toEqual(['a.txt', 'b.txt']);
    const v1 = await anonymous('GET', `/${bucket}`);
    expect([v1.status, v1.text.includes('<Key>b.txt</Key>')]).toEqual([200, true]);
    // Listing is not reading: the private object stays private; a missing key is now NoSuchKey.
    expect((await anonymous('GET', `/${bucket}/a.txt`)).status).toBe(403);
    expect((await anonymous('GET', `/${bucket}/b.txt`)).text).toBe('public object');
    const missing = await anonymous('GET', `/${bucket}/nope`);
    expect([missing.status, missing.code]).toEqual([404, 'NoSuchKey']);

    expect((await signed(owner, 'GET', `/${bucket}?acl`)).text).toBe(expectedPolicy(owner.userId, ALL_USERS));
    const sdkAcl = await ownerS3.send(new GetBucketAclCommand({ Bucket: bucket }));
    expect(sdkAcl.Grants?.map((grant) => grant.Permission)).toEqual(['FULL_CONTROL', 'READ']);

    // authenticated-read: any account's key lists, anonymous does not.
    await ownerS3.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'authenticated-read' }));
    expect((await anonymous('GET', `/${bucket}?list-type=2`)).code).toBe('AccessDenied');
    const otherList = await otherS3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(otherList.Contents?.map((object) => object.Key)).toEqual(['a.txt', 'b.txt']);
    expect((await signed(owner, 'GET', `/${bucket}?acl`)).text).toBe(expectedPolicy(owner.userId, AUTHENTICATED_USERS));

    // Back to private, through an AccessControlPolicy body.
    expect((await signed(owner, 'PUT', `/${bucket}?acl`, {}, expectedPolicy(owner.userId))).status).toBe(200);
    expect((await anonymous('GET', `/${bucket}?list-type=2`)).code).toBe('AccessDenied');
    expect(refused(await signed(other, 'GET', `/${bucket}?list-type=2`))).toBe(true);
    // The object's own public-read still holds.
    expect((await anonymous('GET', `/${bucket}/b.txt`)).status).toBe(200);

    // authenticated-read given at creation.
    const members = await newBucket(ownerS3, 'acl-members', 'authenticated-read');
    expect((await signed(other, 'GET', `/${members}?list-type=2`)).status).toBe(200);
    expect((await anonymous('GET', `/${members}?list-type=2`)).status).toBe(403);
  });

  it('anonymous writes, deletes and everything but GET/HEAD/list are AccessDenied, and change nothing', async () => {
    const bucket = await newBucket(ownerS3, 'acl-anon-write', 'public-read');
    await put(ownerS3, bucket, 'keep.txt', 'untouched', 'public-read');
    const attempts: [string, string, Record<string, string>?, string?][] = [
      ['PUT', `/${bucket}/keep.txt`, { 'content-type': 'text/plain' }, 'overwritten'],
      ['PUT', `/${bucket}/new.txt`, {}, 'new'],
      ['DELETE', `/${bucket}/keep.txt`],
      ['POST', `/${bucket}/keep.txt?uploads`],
      ['PUT', `/${bucket}/keep.txt?acl`, { 'x-amz-acl': 'private' }],
      ['PUT', `/${bucket}?acl`, { 'x-amz-acl': 'private' }],
      ['GET', `/${bucket}/keep.txt?tagging`],
      ['GET', `/${bucket}?uploads`],
      ['DELETE', `/${bucket}`],
      ['GET', '/'],
    ];
    for (const [method, path, headers, body] of attempts) {
      const response = await anonymous(method, path, headers, body);
      expect([method, path, response.status, response.code]).toEqual([method, path, 403, 'AccessDenied']);
    }
    expect((await anonymous('GET', `/${bucket}/keep.txt`)).text).toBe('untouched');
    expect((await anonymous('GET', `/${bucket}/new.txt`)).status).toBe(404);
  });
});

describe('the public namespace', () => {
  it('a public name is unique across accounts: the second account to claim it is refused, its own private bucket of that name still works', async () => {
    const name = uniqueName('acl-claim');
    await newBucket(ownerS3, 'unused', 'public-read', name);
    await put(ownerS3, name, 'index.html', "owner's page", 'public-read');

    // Names are per account: the other account may own a private bucket of that name...
    await newBucket(otherS3, 'unused', undefined, name);
    await put(otherS3, name, 'index.html', "other's private page");
    const own = await otherS3.send(new GetObjectCommand({ Bucket: name, Key: 'index.html' }));
    expect(await own.Body!.transformToString()).toBe("other's private page");
    // ...but cannot make anything in it public under that name.
    for (const attempt of [
      () => signed(other, 'PUT', `/${name}?acl`, { 'x-amz-acl': 'public-read' }),
      () => signed(other, 'PUT', `/${name}/index.html?acl`, { 'x-amz-acl': 'authenticated-read' }),
      () => signed(other, 'PUT', `/${name}/new.html`, { 'x-amz-acl': 'public-read' }, 'x'),
    ]) {
      const response = await attempt();
      expect([response.status, response.code]).toEqual([409, 'BucketAlreadyExists']);
      expect(response.text).toContain('public bucket name');
    }
    expect((await signed(other, 'HEAD', `/${name}/new.html`)).status).toBe(404);
    // Creating a bucket public under a taken name is refused before anything is created.
    const third = await server.createAccount();
    created.push({ s3: server.client(third), bucket: 'default' });
    const thirdCreate = await signed(third, 'PUT', `/${name}`, { 'x-amz-acl': 'public-read' });
    expect([thirdCreate.status, thirdCreate.code]).toEqual([409, 'BucketAlreadyExists']);
    expect((await signed(third, 'HEAD', `/${name}`)).status).not.toBe(200);

    // Anonymous requests reach the public one.
    expect((await anonymous('GET', `/${name}/index.html`)).text).toBe("owner's page");

    // Deleting the public bucket takes its ACLs and its claim with it: the name is free to claim.
    await emptyAndDelete(ownerS3, name);
    expect((await anonymous('GET', `/${name}/index.html`)).status).toBe(403);
    expect((await signed(other, 'PUT', `/${name}?acl`, { 'x-amz-acl': 'public-read' })).status).toBe(200);
    expect((await anonymous('GET', `/${name}?list-type=2`)).text).toContain('<Key>index.html</Key>');
    expect((await anonymous('GET', `/${name}/index.html`)).status).toBe(403);
  });
});

describe('refusals', () => {
  it('grants by id or e-mail, and canned ACLs beyond the three, answer NotImplemented with a clear message; unknown ones InvalidArgument', async () => {
    const bucket = await newBucket(ownerS3, 'acl-refuse');
    await put(ownerS3, bucket, 'k', 'x');
    const grantHeader = await signed(owner, 'PUT', `/${bucket}/g`, { 'x-amz-grant-read': `id="${other.userId}"` }, 'x');
    expect([grantHeader.status, grantHeader.code]).toEqual([501, 'NotImplemented']);
    expect(grantHeader.text).toContain('canned ACL');
    for (const canned of ['public-read-write', 'bucket-owner-full-control', 'aws-exec-read', 'log-delivery-write']) {
      const response = await signed(owner, 'PUT', `/${bucket}/k?acl`, { 'x-amz-acl': canned });
      expect([canned, response.status, response.code]).toEqual([canned, 501, 'NotImplemented']);
      expect(response.text).toContain(canned);
    }
    const unknown = await signed(owner, 'PUT', `/${bucket}/k`, { 'x-amz-acl': 'world-readable' }, 'x');
    expect([unknown.status, unknown.code]).toEqual([400, 'InvalidArgument']);

    const byId = expectedPolicy(owner.userId).replace(
      '</AccessControlList>',
      `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${other.userId}</ID></Grantee><Permission>READ</Permission></Grant></AccessControlList>`,
    );
    const grantById = await signed(owner, 'PUT', `/${bucket}/k?acl`, {}, byId);
    expect([grantById.status, grantById.code]).toEqual([501, 'NotImplemented']);
    const byEmail = await signed(owner, 'PUT', `/${bucket}?acl`, { 'x-amz-grant-full-control': `emailAddress="${other.email}"` });
    expect([byEmail.status, byEmail.code]).toEqual([501, 'NotImplemented']);
    const allUsersWrite = expectedPolicy(owner.userId, ALL_USERS).replace('<Permission>READ</Permission>', '<Permission>WRITE</Permission>');
    expect((await signed(owner, 'PUT', `/${bucket}?acl`, {}, allUsersWrite)).code).toBe('NotImplemented');
    // Nothing was opened by the refused requests.
    expect(refused(await signed(other, 'GET', `/${bucket}/k`))).toBe(true);
    expect((await signed(owner, 'GET', `/${bucket}?acl`)).text).toBe(expectedPolicy(owner.userId));
  });
});

describe('aws CLI', () => {
  it('s3api put-object --acl public-read and get-object-acl; the object is served to anonymous requests', async () => {
    const bucket = await newBucket(ownerS3, 'acl-cli');
    const cli = awsCli(server.endpoint, owner);
    try {
      const file = join(cli.home, 'page.html');
      writeFileSync(file, '<h1>hello</h1>');
      ensureOk(await cli.run(['s3api', 'put-object', '--bucket', bucket, '--key', 'page.html', '--body', file, '--content-type', 'text/html', '--acl', 'public-read']));
      const acl = JSON.parse(ensureOk(await cli.run(['s3api', 'get-object-acl', '--bucket', bucket, '--key', 'page.html'])).stdout);
      expect(acl).toEqual({
        Owner: { DisplayName: owner.userId, ID: owner.userId },
        Grants: [
          { Grantee: { DisplayName: owner.userId, ID: owner.userId, Type: 'CanonicalUser' }, Permission: 'FULL_CONTROL' },
          { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' },
        ],
      });
      const page = await anonymous('GET', `/${bucket}/page.html`);
      expect([page.status, page.headers['content-type'], page.text]).toEqual([200, 'text/html', '<h1>hello</h1>']);
    } finally {
      cli.cleanup();
    }
  });
});

describe('ALLOW_PUBLIC_ACCESS=false and the anonymous rate limit', () => {
  it('public ACLs stored before stop granting anything; new ones are AccessDenied; unsigned requests over the limit get 503 SlowDown', async () => {
    const dataDir = tempDir('cs-acl-');
    let first: TestServer | undefined;
    let second: TestServer | undefined;
    try {
      first = await startTestServer({ DATA_DIR: dataDir.path });
      const account = await first.createAccount();
      const s3 = first.client(account);
      const bucket = uniqueName('acl-off');
      await s3.send(new CreateBucketCommand({ Bucket: bucket, ACL: 'public-read' }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'was-public', Body: 'x', ACL: 'public-read' }));
      expect((await sendRaw(first.endpoint, { method: 'GET', path: `/${bucket}/was-public` })).status).toBe(200);
      s3.destroy();
      await first.close();
      first = undefined;

      second = await startTestServer({ DATA_DIR: dataDir.path, ALLOW_PUBLIC_ACCESS: false, RATE_LIMIT_ANONYMOUS: '3/1m' });
      const endpoint = second.endpoint;
      const s3Off = second.client(account);
      try {
        const object = await sendRaw(endpoint, { method: 'GET', path: `/${bucket}/was-public` });
        expect([object.status, object.code]).toEqual([403, 'AccessDenied']);
        expect((await sendRaw(endpoint, { method: 'GET', path: `/${bucket}?list-type=2` })).status).toBe(403);
        for (const [path, headers, body] of [
          [`/${bucket}/new`, { 'x-amz-acl': 'public-read' }, 'x'],
          [`/${bucket}/was-public?acl`, { 'x-amz-acl': 'authenticated-read' }, undefined],
          [`/${bucket}?acl`, { 'x-amz-acl': 'public-read' }, undefined],
          [`/${uniqueName('acl-off-new')}`, { 'x-amz-acl': 'public-read' }, undefined],
        ] as const) {
          const response = await sendRaw(endpoint, await signRaw(endpoint, account, { method: 'PUT', path, headers, body }));
          expect([path, response.status, response.code]).toEqual([path, 403, 'AccessDenied']);
          expect(response.text).toContain('ALLOW_PUBLIC_ACCESS');
        }
        // The owner still reads; private writes are fine.
        await s3Off.send(new PutObjectCommand({ Bucket: bucket, Key: 'private', Body: 'y', ACL: 'private' }));

        // 2 unsigned requests were made above: the 3rd is answered, the 4th from this address is over the limit.
        expect((await sendRaw(endpoint, { method: 'GET', path: `/${bucket}/was-public` })).status).toBe(403);
        const limited = await sendRaw(endpoint, { method: 'GET', path: `/${bucket}/was-public` });
        expect([limited.status, limited.code]).toEqual([503, 'SlowDown']);
        expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        // Signed requests are counted per account, not here.
        expect((await sendRaw(endpoint, await signRaw(endpoint, account, { method: 'GET', path: `/${bucket}/was-public` }))).status).toBe(200);
        await emptyAndDelete(s3Off, bucket);
        await emptyAndDelete(s3Off, 'default');
      } finally {
        s3Off.destroy();
      }
    } finally {
      await first?.close();
      await second?.close();
      dataDir.remove();
    }
  });
});
