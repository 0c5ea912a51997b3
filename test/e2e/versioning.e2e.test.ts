/**
 * Issue #15, "S3 versioning API": PutBucketVersioning / GetBucketVersioning, ListObjectVersions,
 * versionId on GET / HEAD / DELETE / tagging / copy sources, delete markers and their headers,
 * `null` versions, DeleteObjects with version ids, multipart completion creating a version, and
 * who may do any of it (another account, anonymous readers, scoped keys). Over the network against
 * the real gateway with @aws-sdk/client-s3 and raw signed requests, boto3, the aws CLI and rclone,
 * on both backends (BACKEND_INDEPENDENT_SUITES). Every test removes each version and marker it
 * made (the RGW under test keeps its data in RAM).
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { awsCli, describeRun, ensureOk, python, REGION, rclone } from '../support/clients.ts';
import { sendRaw, signRaw, type RawResponse } from '../support/raw-s3.ts';
import { purgeAndDeleteBucket } from '../support/versioned-buckets.ts';

const BOTO3_SCRIPT = fileURLToPath(new URL('./boto3_versioning.py', import.meta.url));

let server: TestServer;
let alice: TestAccount;
let bob: TestAccount;
let s3: S3Client;
let bucketCounter = 0;

async function raw(who: TestAccount, method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  return sendRaw(server.endpoint, await signRaw(server.endpoint, who, { method, path, headers: options.headers, body: options.body }));
}

/** 'ok', or the error's S3 code (HEAD errors have no body: their status stands in). */
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

const bodyOf = async (client: S3Client, bucket: string, key: string, versionId?: string): Promise<string> =>
  (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).Body!.transformToString();

/** A fresh bucket of Alice's (versioning Enabled unless `unversioned`), purged after `body`. */
async function withBucket(body: (bucket: string) => Promise<void>, options: { unversioned?: boolean } = {}): Promise<void> {
  bucketCounter += 1;
  const bucket = `versions-${bucketCounter}-${Date.now().toString(36)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    if (!options.unversioned) await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    await body(bucket);
  } finally {
    await purgeAndDeleteBucket(s3, bucket);
  }
}

/** A browser form upload of `text` to `bucket/key`, signed with Alice's key (SigV4 POST policy, derived here independently of the server). */
async function postForm(bucket: string, key: string, text: string): Promise<Response> {
  const date = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const credential = `${alice.accessKeyId}/${date.slice(0, 8)}/${REGION}/s3/aws4_request`;
  const policy = Buffer.from(
    JSON.stringify({
      expiration: new Date(Date.now() + 600_000).toISOString(),
      conditions: [{ bucket }, ['eq', '$key', key], { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': credential }, { 'x-amz-date': date }],
    }),
  ).toString('base64');
  let signingKey = createHmac('sha256', `AWS4${alice.secretAccessKey}`).update(date.slice(0, 8)).digest();
  for (const part of [REGION, 's3', 'aws4_request']) signingKey = createHmac('sha256', signingKey).update(part).digest();
  const form = new FormData();
  const fields = { key, 'x-amz-algorithm': 'AWS4-HMAC-SHA256', 'x-amz-credential': credential, 'x-amz-date': date, policy };
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('x-amz-signature', createHmac('sha256', signingKey).update(policy).digest('hex'));
  form.append('file', new Blob([text]), 'upload.txt');
  return fetch(`${server.endpoint}/${bucket}`, { method: 'POST', body: form });
}

const put = async (bucket: string, key: string, text: string): Promise<string | undefined> =>
  (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }))).VersionId;

describe('S3 versioning API', () => {
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

  it('PutBucketVersioning / GetBucketVersioning: empty configuration until configured, Enabled, Suspended; bad bodies MalformedXML, MFA delete NotImplemented', async () => {
    await withBucket(
      async (bucket) => {
        const fresh = await raw(alice, 'GET', `/${bucket}?versioning`);
        expect(fresh.status).toBe(200);
        expect(fresh.text).toMatch(/<VersioningConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><\/VersioningConfiguration>$/);
        const enabled = await raw(alice, 'PUT', `/${bucket}?versioning`, {
          body: '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>',
        });
        expect(enabled.status, enabled.text).toBe(200);
        expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
        await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }));
        expect((await raw(alice, 'GET', `/${bucket}?versioning`)).text).toContain('<Status>Suspended</Status>');
        // MfaDelete Disabled (sent by some tools) changes nothing.
        const mfaOff = await raw(alice, 'PUT', `/${bucket}?versioning`, {
          body: '<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>',
        });
        expect(mfaOff.status, mfaOff.text).toBe(200);
        for (const body of [
          '<VersioningConfiguration><Status>On</Status></VersioningConfiguration>',
          '<VersioningConfiguration></VersioningConfiguration>',
          '<Other><Status>Enabled</Status></Other>',
          'not xml',
        ]) {
          const refused = await raw(alice, 'PUT', `/${bucket}?versioning`, { body });
          expect([body, refused.status, refused.code]).toEqual([body, 400, 'MalformedXML']);
        }
        const mfa = await raw(alice, 'PUT', `/${bucket}?versioning`, {
          body: '<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>',
        });
        expect([mfa.status, mfa.code]).toEqual([501, 'NotImplemented']);
        expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
      },
      { unversioned: true },
    );
  });

  it('ListObjectVersions on an unversioned bucket: every object is its null version, latest, in AWS XML; no x-amz-version-id on its reads and writes', async () => {
    await withBucket(
      async (bucket) => {
        const putRaw = await raw(alice, 'PUT', `/${bucket}/a.txt`, { body: 'aaa' });
        expect(putRaw.headers['x-amz-version-id']).toBeUndefined();
        await put(bucket, 'dir/b.txt', 'bb');
        const listed = await raw(alice, 'GET', `/${bucket}?versions`);
        expect(listed.status, listed.text).toBe(200);
        const owner = `<Owner><ID>${alice.userId}</ID><DisplayName>${alice.userId}</DisplayName></Owner>`;
        const version = (key: string, size: number, etag: string) =>
          new RegExp(
            `<Version><Key>${key}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z</LastModified><ETag>${etag.replaceAll('"', '&quot;')}</ETag><Size>${size}</Size><StorageClass>STANDARD</StorageClass>${owner}</Version>`,
          );
        expect(listed.text).toContain(
          `<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Version><Key>a.txt</Key>`,
        );
        expect(listed.text).toMatch(version('a.txt', 3, '"47bce5c74f589f4867dbd57e9ca9f808"'));
        expect(listed.text).toMatch(version('dir/b.txt', 2, '"[0-9a-f]{32}"'));
        expect(listed.text).not.toContain('<DeleteMarker>');
        // The SDK reads it, and a delimiter rolls up.
        const rolled = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/' }));
        expect(rolled.Versions?.map((entry) => [entry.Key, entry.VersionId, entry.IsLatest])).toEqual([['a.txt', 'null', true]]);
        expect(rolled.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['dir/']);
        const head = await raw(alice, 'HEAD', `/${bucket}/a.txt`);
        expect(head.headers['x-amz-version-id']).toBeUndefined();
        // The null version by its id reads as the object.
        expect(await bodyOf(s3, bucket, 'a.txt', 'null')).toBe('aaa');
        const deleted = await raw(alice, 'DELETE', `/${bucket}/a.txt`);
        expect([deleted.status, deleted.headers['x-amz-version-id'], deleted.headers['x-amz-delete-marker']]).toEqual([204, undefined, undefined]);
      },
      { unversioned: true },
    );
  });

  it('versioned writes answer x-amz-version-id (PUT, copy, CompleteMultipartUpload) and reads by versionId serve that version; NoSuchVersion, empty id InvalidArgument', async () => {
    await withBucket(async (bucket) => {
      const first = await raw(alice, 'PUT', `/${bucket}/doc.txt`, { body: 'first' });
      const firstId = first.headers['x-amz-version-id'] as string;
      expect(firstId).toMatch(/^[^\s]+$/);
      expect(firstId).not.toBe('null');
      const secondId = await put(bucket, 'doc.txt', 'second!');
      expect(secondId).toBeDefined();
      expect(secondId).not.toBe(firstId);

      const old = await raw(alice, 'GET', `/${bucket}/doc.txt?versionId=${encodeURIComponent(firstId)}`);
      expect([old.status, old.text, old.headers['x-amz-version-id']]).toEqual([200, 'first', firstId]);
      const current = await raw(alice, 'GET', `/${bucket}/doc.txt`);
      expect([current.text, current.headers['x-amz-version-id']]).toEqual(['second!', secondId]);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'doc.txt', VersionId: firstId }));
      expect([head.ContentLength, head.VersionId]).toEqual([5, firstId]);
      const ranged = await raw(alice, 'GET', `/${bucket}/doc.txt?versionId=${encodeURIComponent(firstId)}`, { headers: { range: 'bytes=1-2' } });
      expect([ranged.status, ranged.text]).toEqual([206, 'ir']);

      // An id the key never had: NoSuchVersion (404), or InvalidArgument (400) where the backend's id format refuses it, as AWS.
      const altered = secondId!.slice(0, -1) + (secondId!.endsWith('A') ? 'B' : 'A');
      const missing = await raw(alice, 'GET', `/${bucket}/doc.txt?versionId=${encodeURIComponent(altered)}`);
      expect([
        [404, 'NoSuchVersion'],
        [400, 'InvalidArgument'],
      ]).toContainEqual([missing.status, missing.code]);
      const missingNull = await raw(alice, 'GET', `/${bucket}/doc.txt?versionId=null`);
      expect([missingNull.status, missingNull.code]).toEqual([404, 'NoSuchVersion']);
      const empty = await raw(alice, 'GET', `/${bucket}/doc.txt?versionId=`);
      expect([empty.status, empty.code]).toEqual([400, 'InvalidArgument']);
      expect(await outcome(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'never-there', VersionId: 'null' })))).toBe('404');

      // Tags per version.
      const tagged = await raw(alice, 'PUT', `/${bucket}/doc.txt?tagging&versionId=${encodeURIComponent(firstId)}`, {
        body: '<Tagging><TagSet><Tag><Key>era</Key><Value>old</Value></Tag></TagSet></Tagging>',
      });
      expect([tagged.status, tagged.headers['x-amz-version-id']]).toEqual([200, firstId]);
      const oldTags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'doc.txt', VersionId: firstId }));
      expect([oldTags.TagSet, oldTags.VersionId]).toEqual([[{ Key: 'era', Value: 'old' }], firstId]);
      expect((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'doc.txt' }))).TagSet).toEqual([]);
      await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'doc.txt', VersionId: secondId, Tagging: { TagSet: [{ Key: 'era', Value: 'new' }] } }));
      expect((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'doc.txt' }))).TagSet).toEqual([{ Key: 'era', Value: 'new' }]);

      // A copy is a new version and names the source version it read.
      const copied = await raw(alice, 'PUT', `/${bucket}/copy.txt`, { headers: { 'x-amz-copy-source': `/${bucket}/doc.txt?versionId=${encodeURIComponent(firstId)}` } });
      expect(copied.status, copied.text).toBe(200);
      expect(copied.headers['x-amz-copy-source-version-id']).toBe(firstId);
      expect(copied.headers['x-amz-version-id']).toMatch(/\S/);
      expect(await bodyOf(s3, bucket, 'copy.txt')).toBe('first');

      // Multipart completion makes a version too.
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'doc.txt' }));
      const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'doc.txt', UploadId, PartNumber: 1, Body: 'multipart' }));
      const completed = await s3.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'doc.txt', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
      );
      expect(completed.VersionId).toBeDefined();
      expect([firstId, secondId]).not.toContain(completed.VersionId);
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'doc.txt' }));
      expect(versions.Versions?.map((entry) => [entry.VersionId, entry.IsLatest, entry.Size])).toEqual([
        [completed.VersionId, true, 9],
        [secondId, false, 7],
        [firstId, false, 5],
      ]);
      expect(await bodyOf(s3, bucket, 'doc.txt', secondId)).toBe('second!');
    });
  });

  it('POST Object (browser form) and GetObjectAttributes answer x-amz-version-id in a versioned bucket', async () => {
    await withBucket(async (bucket) => {
      const posted = await postForm(bucket, 'form.txt', 'from a form');
      expect(posted.status, await posted.clone().text()).toBe(204);
      const formVersion = posted.headers.get('x-amz-version-id');
      expect(formVersion).toMatch(/\S/);
      await put(bucket, 'form.txt', 'newer');
      const attributes = await raw(alice, 'GET', `/${bucket}/form.txt?attributes&versionId=${encodeURIComponent(formVersion!)}`, {
        headers: { 'x-amz-object-attributes': 'ObjectSize' },
      });
      expect([attributes.status, attributes.headers['x-amz-version-id']]).toEqual([200, formVersion]);
      expect(attributes.text).toContain('<ObjectSize>11</ObjectSize>');
    });
  });

  it('delete markers: DELETE answers x-amz-delete-marker; GET 404 NoSuchKey and HEAD 404 carry the marker headers; GET of the marker is 405; removing the marker restores the key', async () => {
    await withBucket(async (bucket) => {
      const kept = await put(bucket, 'note.txt', 'keep me');
      const deleted = await raw(alice, 'DELETE', `/${bucket}/note.txt`);
      expect(deleted.status).toBe(204);
      expect(deleted.headers['x-amz-delete-marker']).toBe('true');
      const marker = deleted.headers['x-amz-version-id'] as string;
      expect(marker).toMatch(/\S/);
      expect(marker).not.toBe(kept);

      const get = await raw(alice, 'GET', `/${bucket}/note.txt`);
      expect([get.status, get.code, get.headers['x-amz-delete-marker'], get.headers['x-amz-version-id']]).toEqual([404, 'NoSuchKey', 'true', marker]);
      const head = await raw(alice, 'HEAD', `/${bucket}/note.txt`);
      expect([head.status, head.text, head.headers['x-amz-delete-marker'], head.headers['x-amz-version-id']]).toEqual([404, '', 'true', marker]);
      const byId = await raw(alice, 'GET', `/${bucket}/note.txt?versionId=${encodeURIComponent(marker)}`);
      expect([byId.status, byId.code, byId.headers['x-amz-delete-marker'], byId.headers['x-amz-version-id']]).toEqual([405, 'MethodNotAllowed', 'true', marker]);
      expect(byId.headers['last-modified']).toMatch(/GMT$/);
      const headById = await raw(alice, 'HEAD', `/${bucket}/note.txt?versionId=${encodeURIComponent(marker)}`);
      expect([headById.status, headById.headers['x-amz-delete-marker']]).toEqual([405, 'true']);
      // Listings hide the key; the old version is still readable by id.
      expect((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(0);
      expect(await bodyOf(s3, bucket, 'note.txt', kept)).toBe('keep me');
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      expect(listed.DeleteMarkers?.map((entry) => [entry.Key, entry.VersionId, entry.IsLatest])).toEqual([['note.txt', marker, true]]);
      expect(listed.Versions?.map((entry) => [entry.VersionId, entry.IsLatest])).toEqual([[kept, false]]);

      // Removing the marker by its id: the previous version is current again.
      const unmarked = await raw(alice, 'DELETE', `/${bucket}/note.txt?versionId=${encodeURIComponent(marker)}`);
      expect([unmarked.status, unmarked.headers['x-amz-version-id'], unmarked.headers['x-amz-delete-marker']]).toEqual([204, marker, 'true']);
      expect(await bodyOf(s3, bucket, 'note.txt')).toBe('keep me');
      // A version delete removes it for good, and names it.
      const gone = await raw(alice, 'DELETE', `/${bucket}/note.txt?versionId=${encodeURIComponent(kept!)}`);
      expect([gone.status, gone.headers['x-amz-version-id'], gone.headers['x-amz-delete-marker']]).toEqual([204, kept, undefined]);
      expect(await outcome(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'note.txt' })))).toBe('NoSuchKey');
      expect((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions).toBeUndefined();
    });
  });

  it('ListObjectVersions pages by key-marker and version-id-marker, with prefix, delimiter and encoding-type=url', async () => {
    await withBucket(async (bucket) => {
      const ids: Record<string, string[]> = { 'a b+c.txt': [], 'k.txt': [], 'z/one': [] };
      for (const key of Object.keys(ids)) for (const n of [1, 2]) ids[key]!.unshift((await put(bucket, key, `${key} ${n}`))!);
      const expected = Object.entries(ids).flatMap(([key, versions]) => versions.map((versionId) => [key, versionId]));
      // Two entries a page, following NextKeyMarker / NextVersionIdMarker.
      const seen: string[][] = [];
      let keyMarker: string | undefined;
      let versionIdMarker: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 2, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
        expect((page.Versions ?? []).length).toBeLessThanOrEqual(2);
        seen.push(...(page.Versions ?? []).map((entry) => [entry.Key!, entry.VersionId!]));
        if (!page.IsTruncated) break;
        expect(page.NextKeyMarker).toBeDefined();
        keyMarker = page.NextKeyMarker;
        versionIdMarker = page.NextVersionIdMarker;
      }
      expect(seen).toEqual(expected);
      // key-marker alone: after every version of that key.
      const after = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: 'k.txt' }));
      expect(after.Versions?.map((entry) => entry.Key)).toEqual(['z/one', 'z/one']);
      // Raw: the truncated page's markers, a prefix, url encoding of keys (never of version ids).
      const truncated = await raw(alice, 'GET', `/${bucket}?versions&max-keys=1&encoding-type=url`);
      expect(truncated.text).toContain(
        `<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>a%20b%2Bc.txt</NextKeyMarker><NextVersionIdMarker>${ids['a b+c.txt']![0]}</NextVersionIdMarker><MaxKeys>1</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><Version><Key>a%20b%2Bc.txt</Key>`,
      );
      const prefixed = await raw(alice, 'GET', `/${bucket}?versions&prefix=z/&delimiter=/`);
      expect(prefixed.text).toContain('<Prefix>z/</Prefix>');
      expect(prefixed.text).toContain('<Delimiter>/</Delimiter>');
      expect(prefixed.text).toContain('<Key>z/one</Key>');
      expect(prefixed.text).not.toContain('<Key>k.txt</Key>');
      const rolled = await raw(alice, 'GET', `/${bucket}?versions&delimiter=/`);
      expect(rolled.text).toContain('<CommonPrefixes><Prefix>z/</Prefix></CommonPrefixes>');
      expect(rolled.text).not.toContain('<Key>z/one</Key>');
      const orphanMarker = await raw(alice, 'GET', `/${bucket}?versions&version-id-marker=${encodeURIComponent(ids['k.txt']![0]!)}`);
      expect([orphanMarker.status, orphanMarker.code]).toEqual([400, 'InvalidArgument']);
      const badMax = await raw(alice, 'GET', `/${bucket}?versions&max-keys=lots`);
      expect([badMax.status, badMax.code]).toEqual([400, 'InvalidArgument']);
    });
  });

  it('DeleteObjects with VersionId: removes versions and markers for good, reports VersionId, DeleteMarker and DeleteMarkerVersionId as AWS', async () => {
    await withBucket(async (bucket) => {
      const v1 = await put(bucket, 'x', 'one');
      const v2 = await put(bucket, 'x', 'two');
      await put(bucket, 'y', 'why');
      const result = await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [{ Key: 'x', VersionId: v1 }, { Key: 'y' }] },
        }),
      );
      const byKey = Object.fromEntries((result.Deleted ?? []).map((entry) => [entry.Key, entry]));
      expect(byKey.x).toEqual({ Key: 'x', VersionId: v1 });
      expect(byKey.y?.DeleteMarker).toBe(true);
      const yMarker = byKey.y?.DeleteMarkerVersionId;
      expect(yMarker).toMatch(/\S/);
      expect(result.Errors).toBeUndefined();
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      expect(listed.Versions?.map((entry) => [entry.Key, entry.VersionId])).toEqual([
        ['x', v2],
        ['y', expect.any(String)],
      ]);
      expect(listed.DeleteMarkers?.map((entry) => [entry.Key, entry.VersionId, entry.IsLatest])).toEqual([['y', yMarker, true]]);
      // Removing the marker by id in a batch: DeleteMarker true, the marker's id as VersionId and DeleteMarkerVersionId (AWS).
      const unmark = await raw(alice, 'POST', `/${bucket}?delete`, {
        body: `<Delete><Object><Key>y</Key><VersionId>${yMarker}</VersionId></Object></Delete>`,
      });
      expect(unmark.status, unmark.text).toBe(200);
      expect(unmark.text).toContain(
        `<Deleted><Key>y</Key><VersionId>${yMarker}</VersionId><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>${yMarker}</DeleteMarkerVersionId></Deleted>`,
      );
      expect(await bodyOf(s3, bucket, 'y')).toBe('why');
    });
  });

  it('a version is read and restored by copying it onto its own key; the copy of the current object onto itself stays refused', async () => {
    await withBucket(async (bucket) => {
      const old = await put(bucket, 'page.html', '<p>old</p>');
      await put(bucket, 'page.html', '<p>new</p>');
      const restored = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'page.html', CopySource: `${bucket}/page.html?versionId=${old}` }));
      expect(restored.CopySourceVersionId).toBe(old);
      expect(restored.VersionId).toBeDefined();
      expect(await bodyOf(s3, bucket, 'page.html')).toBe('<p>old</p>');
      expect(await outcome(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'page.html', CopySource: `${bucket}/page.html` })))).toBe('InvalidRequest');
      expect((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions).toHaveLength(3);
      // UploadPartCopy of a version is refused rather than silently copying the current object.
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'parted' }));
      const partCopy = await raw(alice, 'PUT', `/${bucket}/parted?partNumber=1&uploadId=${encodeURIComponent(UploadId!)}`, {
        headers: { 'x-amz-copy-source': `/${bucket}/page.html?versionId=${old}` },
      });
      expect([partCopy.status, partCopy.code]).toEqual([501, 'NotImplemented']);
      await raw(alice, 'DELETE', `/${bucket}/parted?uploadId=${encodeURIComponent(UploadId!)}`);
    });
  });

  it('another account cannot read a version, list versions, or change versioning of my bucket (NoSuchBucket); once the bucket has a public object, its versions stay AccessDenied to others and anonymous readers', async () => {
    await withBucket(async (bucket) => {
      const secret = await put(bucket, 'secret.txt', 'private first');
      const id = encodeURIComponent(secret!);
      const requests = [
        ['GetObject version', 'GET', `/${bucket}/secret.txt?versionId=${id}`],
        ['HeadObject version', 'HEAD', `/${bucket}/secret.txt?versionId=${id}`],
        ['ListObjectVersions', 'GET', `/${bucket}?versions`],
        ['GetBucketVersioning', 'GET', `/${bucket}?versioning`],
        ['PutBucketVersioning', 'PUT', `/${bucket}?versioning`, '<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>'],
        ['DeleteObject version', 'DELETE', `/${bucket}/secret.txt?versionId=${id}`],
        ['GetObjectTagging version', 'GET', `/${bucket}/secret.txt?tagging&versionId=${id}`],
        ['DeleteObjects version', 'POST', `/${bucket}?delete`, `<Delete><Object><Key>secret.txt</Key><VersionId>${secret}</VersionId></Object></Delete>`],
        ['CopyObject from a version', 'PUT', '/default/stolen.txt', undefined, { 'x-amz-copy-source': `/${bucket}/secret.txt?versionId=${id}` }],
      ] as const;
      for (const [label, method, path, body, headers] of requests) {
        const answer = await raw(bob, method, path, { body, headers });
        expect([label, answer.status, answer.code]).toEqual([label, 404, method === 'HEAD' ? undefined : 'NoSuchBucket']);
      }
      // A public-read current object claims the bucket's public name: reads by others now reach the
      // bucket, but the ACL (per key) does not open the key's older versions, written private.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'secret.txt', Body: 'public now', ACL: 'public-read' }));
      const publicRead = await sendRaw(server.endpoint, { method: 'GET', path: `/${bucket}/secret.txt` });
      expect([publicRead.status, publicRead.text]).toEqual([200, 'public now']);
      const anonymousVersion = await sendRaw(server.endpoint, { method: 'GET', path: `/${bucket}/secret.txt?versionId=${id}` });
      expect([anonymousVersion.status, anonymousVersion.code]).toEqual([403, 'AccessDenied']);
      const anonymousList = await sendRaw(server.endpoint, { method: 'GET', path: `/${bucket}?versions` });
      expect([anonymousList.status, anonymousList.code]).toEqual([403, 'AccessDenied']);
      const bobsVersion = await raw(bob, 'GET', `/${bucket}/secret.txt?versionId=${id}`);
      expect([bobsVersion.status, bobsVersion.code]).toEqual([403, 'AccessDenied']);
      const bobsCopy = await raw(bob, 'PUT', '/default/stolen.txt', { headers: { 'x-amz-copy-source': `/${bucket}/secret.txt?versionId=${id}` } });
      expect([bobsCopy.status, bobsCopy.code]).toEqual([403, 'AccessDenied']);
      const bobsList = await raw(bob, 'GET', `/${bucket}?versions`);
      expect([bobsList.status, bobsList.code]).toEqual([404, 'NoSuchBucket']);
      // Nothing changed.
      expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
      expect(await bodyOf(s3, bucket, 'secret.txt', secret)).toBe('private first');
    });
  });

  it('a public-read key keeps its ACL under a delete marker (removing the marker makes it public again) and loses it with its last version', async () => {
    await withBucket(async (bucket) => {
      const { VersionId: version } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared.txt', Body: 'for everyone', ACL: 'public-read' }));
      const anonymous = () => sendRaw(server.endpoint, { method: 'GET', path: `/${bucket}/shared.txt` });
      expect((await anonymous()).status).toBe(200);
      const { VersionId: marker } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'shared.txt' }));
      expect((await anonymous()).status).not.toBe(200);
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'shared.txt', VersionId: marker }));
      const again = await anonymous();
      expect([again.status, again.text]).toEqual([200, 'for everyone']);
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'shared.txt', VersionId: version }));
      const row = await server.running.core.bucketsUsecases.resolve(alice.userId, bucket);
      expect(row.kind).toBe('owned');
      expect(await server.running.core.acls.get((row as { bucket: { id: string } }).bucket.id, 'shared.txt')).toBeUndefined();
    });
  });

  it('scoped keys: a read-only key cannot delete versions; a prefix key cannot delete or list versions outside its prefix; neither can change versioning', async () => {
    await withBucket(async (bucket) => {
      const outside = await put(bucket, 'private/a.txt', 'outside');
      const inside = await put(bucket, 'shared/b.txt', 'inside');
      const keys = server.running.core.keysUsecases;
      const reader = await keys.create(alice.userId, 'reader', { permission: 'read' });
      const prefixed = await keys.create(alice.userId, 'prefixed', { prefix: 'shared/', permission: 'readwrite' });
      const readerClient = server.client({ ...alice, accessKeyId: reader.accessKeyId, secretAccessKey: reader.secretAccessKey });
      const prefixedClient = server.client({ ...alice, accessKeyId: prefixed.accessKeyId, secretAccessKey: prefixed.secretAccessKey });
      try {
        // The reader reads versions and lists them, but deletes nothing.
        expect(await bodyOf(readerClient, bucket, 'private/a.txt', outside)).toBe('outside');
        expect((await readerClient.send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions).toHaveLength(2);
        expect(await outcome(readerClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'private/a.txt', VersionId: outside })))).toBe('AccessDenied');
        expect(await outcome(readerClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'private/a.txt' })))).toBe('AccessDenied');
        expect(await outcome(readerClient.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'private/a.txt', VersionId: outside }] } })))).toBe(
          'AccessDenied',
        );
        expect(await outcome(readerClient.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } })))).toBe('AccessDenied');

        // The prefix key: versions under its prefix only.
        expect(await outcome(prefixedClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'private/a.txt', VersionId: outside })))).toBe('AccessDenied');
        expect(await outcome(prefixedClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'private/a.txt', VersionId: outside })))).toBe('AccessDenied');
        expect(await outcome(prefixedClient.send(new ListObjectVersionsCommand({ Bucket: bucket })))).toBe('AccessDenied');
        expect(await outcome(prefixedClient.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'private/' })))).toBe('AccessDenied');
        const own = await prefixedClient.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'shared/' }));
        expect(own.Versions?.map((entry) => entry.Key)).toEqual(['shared/b.txt']);
        const batch = await prefixedClient.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: {
              Objects: [
                { Key: 'private/a.txt', VersionId: outside },
                { Key: 'shared/b.txt', VersionId: inside },
              ],
            },
          }),
        );
        expect(batch.Deleted?.map((entry) => [entry.Key, entry.VersionId])).toEqual([['shared/b.txt', inside]]);
        expect(batch.Errors?.map((entry) => [entry.Key, entry.VersionId, entry.Code])).toEqual([['private/a.txt', outside, 'AccessDenied']]);
        expect(await outcome(prefixedClient.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } })))).toBe('AccessDenied');
        // The version outside the prefix is still there.
        expect(await bodyOf(s3, bucket, 'private/a.txt', outside)).toBe('outside');
        expect((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
      } finally {
        readerClient.destroy();
        prefixedClient.destroy();
        await keys.revokeById(alice.userId, reader.id);
        await keys.revokeById(alice.userId, prefixed.id);
      }
    });
  });

  it('boto3: enable, overwrite 3 times, list versions, get an old version, delete → marker, restore by copy, delete a specific version, suspend → null version', {
    timeout: 120_000,
  }, async () => {
    await withBucket(
      async (bucket) => {
        const py = python(server.endpoint, alice);
        try {
          // The harness's env object is what its runs use: the script finds its bucket there.
          py.env.CS_BUCKET = bucket;
          const result = await py.run([BOTO3_SCRIPT, 'lifecycle'], { timeoutMs: 110_000 });
          expect(result.code, describeRun(result)).toBe(0);
          const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
          expect(summary.versions).toBe(4);
          expect(summary.final).toEqual({ versions: 4, markers: 1 });
        } finally {
          py.cleanup();
        }
      },
      { unversioned: true },
    );
  });

  it('aws s3api list-object-versions shows the versions and delete markers', { timeout: 60_000 }, async () => {
    await withBucket(async (bucket) => {
      const v1 = await put(bucket, 'cli.txt', 'one');
      const v2 = await put(bucket, 'cli.txt', 'two');
      const { VersionId: marker } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'cli.txt' }));
      const cli = awsCli(server.endpoint, alice);
      try {
        const result = ensureOk(await cli.run(['s3api', 'list-object-versions', '--bucket', bucket]));
        const listed = JSON.parse(result.stdout);
        expect(
          listed.Versions.map((entry: { Key: string; VersionId: string; IsLatest: boolean; Size: number }) => [entry.Key, entry.VersionId, entry.IsLatest, entry.Size]),
        ).toEqual([
          ['cli.txt', v2, false, 3],
          ['cli.txt', v1, false, 3],
        ]);
        expect(listed.DeleteMarkers.map((entry: { Key: string; VersionId: string; IsLatest: boolean }) => [entry.Key, entry.VersionId, entry.IsLatest])).toEqual([
          ['cli.txt', marker, true],
        ]);
        // The CLI pages through max-items with its own tokens built on the markers.
        const paged = ensureOk(await cli.run(['s3api', 'list-object-versions', '--bucket', bucket, '--page-size', '1']));
        expect(JSON.parse(paged.stdout).Versions).toHaveLength(2);
      } finally {
        cli.cleanup();
      }
    });
  });

  it('rclone ls --s3-versions shows the old versions beside the current object', { timeout: 60_000 }, async () => {
    await withBucket(async (bucket) => {
      await put(bucket, 'r.txt', 'first');
      await put(bucket, 'r.txt', 'second!!');
      await put(bucket, 'other.txt', 'x');
      const cli = rclone(server.endpoint, alice);
      try {
        const plain = ensureOk(await cli.run(['ls', `cs:${bucket}`]));
        expect(
          plain.stdout
            .trim()
            .split('\n')
            .map((line) => line.trim())
            .sort(),
        ).toEqual(['1 other.txt', '8 r.txt']);
        const result = ensureOk(await cli.run(['ls', '--s3-versions', `cs:${bucket}`]));
        const lines = result.stdout
          .trim()
          .split('\n')
          .map((line) => line.trim().split(/\s+/));
        // The old version appears as r-v<timestamp>.txt with its own size.
        expect(lines).toContainEqual(['8', 'r.txt']);
        expect(lines).toContainEqual(['1', 'other.txt']);
        const old = lines.find(([, name]) => /^r-v\d{4}-\d\d-\d\d-\d{6}-\d{3}\.txt$/.test(name!));
        expect(old, result.stdout).toEqual(['5', expect.any(String)]);
        expect(lines).toHaveLength(3);
      } finally {
        cli.cleanup();
      }
    });
  });

  it('events: object.deleted carries the marker or the version removed', async () => {
    await withBucket(async (bucket) => {
      const version = await put(bucket, 'evented.txt', 'e');
      const { VersionId: marker } = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'evented.txt' }));
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'evented.txt', VersionId: version }));
      const deleted = await eventsOf(bucket, 'object.deleted');
      expect(deleted.map((event) => [event.key, event.versionId, event.detail])).toEqual([
        ['evented.txt', marker, { deleteMarker: true }],
        ['evented.txt', version, { deleteMarker: false }],
      ]);
    });
  });
});

/** The account's events of one type in one bucket, once the relay moved what the backend journaled into the log. */
async function eventsOf(bucket: string, type: 'object.deleted') {
  await server.running.core.events.flush();
  return server.running.core.events.log.read({ limit: 1000, accountId: alice.userId, bucket, types: [type] });
}
