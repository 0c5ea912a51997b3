import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../../../test/support/dashboard.ts';

const isoDate = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

describe('storage explorer /api/explorer', () => {
  let server: TestServer;
  let alice: SignedUp;
  let s3: S3Client;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_LOGIN: 'off' });
    alice = await signupViaApi(server);
    s3 = s3ClientFor(server, alice.firstKey);
    await s3.send(new CreateBucketCommand({ Bucket: 'my-bucket' }));
    for (const [key, body, type] of [
      ['logo.png', 'png-bytes', 'image/png'],
      ['documents/readme.txt', 'readme', 'text/plain'],
      ['documents/spec.pdf', 'pdf', 'application/pdf'],
      ['documents/reports/q1.csv', 'a,b', 'text/csv'],
    ]) {
      await s3.send(new PutObjectCommand({ Bucket: 'my-bucket', Key: key, Body: body, ContentType: type }));
    }
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('lists the root of a bucket as directories and files, as the spec shows', async () => {
    const result = await callApi(server, '/api/explorer?bucket=my-bucket', { cookie: alice.cookie });
    expect(result.status).toBe(200);
    expect(result.json).toEqual({
      files: [
        { key: 'documents/', type: 'directory' },
        { key: 'logo.png', type: 'file', id: expect.any(String), size: 9, contentType: 'image/png', lastModified: isoDate },
      ],
      prefix: '',
      bucket: 'my-bucket',
      hasMore: false,
      cursor: null,
    });
    // The id is the file API's: the same account's API key downloads the file with it.
    const download = await fetch(`${server.apiEndpoint}/api/v1/files/${result.json.files[1].id}`, {
      headers: { 'x-api-key': `${alice.firstKey.accessKey}:${alice.firstKey.secretKey}` },
    });
    expect(await download.text()).toBe('png-bytes');
  });

  it('navigates into a subdirectory with prefix', async () => {
    const result = await callApi(server, '/api/explorer?bucket=my-bucket&prefix=documents/', { cookie: alice.cookie });
    expect(result.json.prefix).toBe('documents/');
    expect(result.json.files.map((entry: { key: string; type: string }) => [entry.key, entry.type])).toEqual([
      ['documents/reports/', 'directory'],
      ['documents/readme.txt', 'file'],
      ['documents/spec.pdf', 'file'],
    ]);
    expect(result.json.files[2]).toMatchObject({ size: 3, contentType: 'application/pdf' });
    // The bucket defaults to `default`, empty for a new account.
    expect((await callApi(server, '/api/explorer', { cookie: alice.cookie })).json).toEqual({ files: [], prefix: '', bucket: 'default', hasMore: false, cursor: null });
  });

  it('pages a large folder with a cursor, directories and files alike, without duplicates or omissions', async () => {
    const expected: string[] = [];
    for (let i = 0; i < 12; i++) {
      const name = String(i).padStart(2, '0');
      await s3.send(new PutObjectCommand({ Bucket: 'default', Key: `big/${name}.txt`, Body: name }));
      await s3.send(new PutObjectCommand({ Bucket: 'default', Key: `big/${name}-dir/inner.txt`, Body: name }));
      expected.push(`big/${name}-dir/`, `big/${name}.txt`);
    }
    expected.sort();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { json: { files: { key: string }[]; hasMore: boolean; cursor: string | null } } = await callApi(
        server,
        `/api/explorer?prefix=big/&limit=5${cursor ? `&cursor=${cursor}` : ''}`,
        { cookie: alice.cookie },
      );
      expect(page.json.files.length).toBeLessThanOrEqual(5);
      seen.push(...page.json.files.map((entry) => entry.key));
      expect(page.json.hasMore).toBe(page.json.cursor !== null);
      cursor = page.json.cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(5);
    expect([...seen].sort()).toEqual(expected);
    expect(new Set(seen).size).toBe(24);
  });

  it("requires a session, and never shows another account's bucket", async () => {
    const anonymous = await callApi(server, '/api/explorer?bucket=my-bucket');
    expect([anonymous.status, anonymous.json.error]).toEqual([401, 'auth.unauthenticated']);
    const bob = await signupViaApi(server);
    const foreign = await callApi(server, '/api/explorer?bucket=my-bucket', { cookie: bob.cookie });
    expect([foreign.status, foreign.json.error]).toEqual([404, 'buckets.not_found']);
    const missing = await callApi(server, '/api/explorer?bucket=nothing-here', { cookie: alice.cookie });
    expect([missing.status, missing.json.error]).toEqual([404, 'buckets.not_found']);
    for (const query of ['limit=0', 'limit=1001', 'cursor=!!']) {
      const refused = await callApi(server, `/api/explorer?${query}`, { cookie: alice.cookie });
      expect(refused.status, query).toBe(400);
    }
  });
});
