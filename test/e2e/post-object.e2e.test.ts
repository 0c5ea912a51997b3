/**
 * Issue #14, POST Object: browser form uploads (`POST /bucket`, multipart/form-data) authenticated
 * by a signed policy document in the form. Forms are signed here as the AWS SDKs' presigned-post
 * helpers sign them (the SigV4 signing key over the base64 policy; @aws-sdk/s3-presigned-post is
 * not a dependency) and by boto3's generate_presigned_post, and sent over the network with
 * fetch + FormData, raw HTTP (virtual-host addressing) and a real Chromium submitting a plain HTML
 * form from another origin. Runs on both backends (BACKEND_INDEPENDENT_SUITES); every test deletes
 * what it stored (the RGW keeps objects in RAM).
 */
import {
  DeleteBucketCorsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutBucketCorsCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { ensureOk, python, REGION } from '../support/clients.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { startPageServer } from '../support/page-server.ts';
import { openRequest } from '../support/raw-s3.ts';

const S3_DOMAIN = 's3.post.test';
// biome-ignore lint/suspicious/noTemplateCurlyInString: S3's literal key placeholder, replaced by the file's name.
const FILENAME = '${filename}';

let server: TestServer;
let user: SignedUp;
let s3: S3Client;

beforeAll(async () => {
  server = await startTestServer({ S3_DOMAIN, RATE_LIMIT_DASHBOARD: 'off' });
  user = await signupViaApi(server);
  s3 = s3ClientFor(server, user.firstKey);
});

afterAll(async () => {
  s3?.destroy();
  await server?.close();
});

interface Key {
  accessKey: string;
  secretKey: string;
}

const amzDate = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** The SigV4 signing key, derived here independently of the server's code. */
function signingKey(secret: string, day: string, region: string): Buffer {
  let key = createHmac('sha256', `AWS4${secret}`).update(day).digest();
  for (const part of [region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return key;
}

/**
 * A signed form as the SDKs' presigned-post helpers build it: `fields` plus the SigV4 fields and
 * `policy`. `conditions` defaults to an exact match for the bucket, the key and every field; the
 * SigV4 fields' own conditions are always added, as the SDKs add them.
 */
function presignPost(
  key: Key,
  options: { bucket?: string; objectKey: string; fields?: Record<string, string>; conditions?: unknown[]; expiresInMs?: number; now?: Date },
): Record<string, string> {
  const now = options.now ?? new Date();
  const date = amzDate(now);
  const credential = `${key.accessKey}/${date.slice(0, 8)}/${REGION}/s3/aws4_request`;
  const fields = options.fields ?? {};
  const conditions = options.conditions ?? [
    { bucket: options.bucket ?? 'default' },
    ['eq', '$key', options.objectKey],
    ...Object.entries(fields).map(([name, value]) => ({ [name]: value })),
  ];
  const policy = Buffer.from(
    JSON.stringify({
      expiration: new Date(now.getTime() + (options.expiresInMs ?? 10 * 60_000)).toISOString(),
      conditions: [...conditions, { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': credential }, { 'x-amz-date': date }],
    }),
  ).toString('base64');
  const signature = createHmac('sha256', signingKey(key.secretKey, date.slice(0, 8), REGION))
    .update(policy)
    .digest('hex');
  return {
    key: options.objectKey,
    ...fields,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': credential,
    'x-amz-date': date,
    policy,
    'x-amz-signature': signature,
  };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  code?: string;
  message?: string;
}

/** POSTs a form (fields in order, then the file, then `after`) with fetch + FormData, as a browser's fetch would. */
async function post(
  fields: Record<string, string>,
  file: { body: Buffer | string; filename?: string; type?: string },
  options: { bucket?: string; after?: Record<string, string>; url?: string } = {},
): Promise<Answer> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append(
    'file',
    new Blob([typeof file.body === 'string' ? file.body : new Uint8Array(file.body)], { type: file.type ?? 'application/octet-stream' }),
    file.filename ?? 'upload.bin',
  );
  for (const [name, value] of Object.entries(options.after ?? {})) form.append(name, value);
  const response = await fetch(options.url ?? `${server.endpoint}/${options.bucket ?? 'default'}`, { method: 'POST', body: form, redirect: 'manual' });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1]?.replaceAll('&quot;', '"').replaceAll('&apos;', "'"),
  };
}

async function bytesOf(objectKey: string, client = s3, bucket = 'default'): Promise<Buffer | 'NoSuchKey'> {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
    return Buffer.from(await object.Body!.transformToByteArray());
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return 'NoSuchKey';
    throw error;
  }
}

const remove = async (...keys: string[]) => {
  for (const objectKey of keys) await s3.send(new DeleteObjectCommand({ Bucket: 'default', Key: objectKey }));
};

interface ActivityItem {
  type: string;
  actor: { kind: string; id: string };
  bucket: string | null;
  key: string | null;
  size: number | null;
  contentType: string | null;
}

async function objectEvents(who: SignedUp): Promise<ActivityItem[]> {
  await server.running.core.events.flush();
  const result = await callApi(server, '/api/activity?limit=500', { cookie: who.cookie });
  expect(result.status).toBe(200);
  return (result.json.items as ActivityItem[]).filter((item) => item.type.startsWith('object.')).reverse();
}

describe('POST Object (browser form uploads)', () => {
  it('stores the file of a signed form with its fields (eq, starts-with, object form, content-length-range): the file name in the key, metadata, tags; 204 by default; one object.created event', async () => {
    const body = randomBytes(3000);
    const fields = presignPost(user.firstKey, {
      objectKey: `forms/${FILENAME}`,
      fields: {
        'Content-Type': 'image/png',
        'Cache-Control': 'max-age=60',
        'Content-Disposition': 'inline',
        'x-amz-meta-album': 'summer',
        tagging: '<Tagging><TagSet><Tag><Key>kind</Key><Value>photo</Value></Tag></TagSet></Tagging>',
        'x-ignore-note': 'not in the policy, and not needed',
      },
      conditions: [
        { bucket: 'default' },
        ['starts-with', '$key', 'forms/'],
        ['starts-with', '$Content-Type', 'image/'],
        ['eq', '$Cache-Control', 'max-age=60'],
        ['starts-with', '$Content-Disposition', ''],
        { 'x-amz-meta-album': 'summer' },
        ['starts-with', '$tagging', ''],
        ['content-length-range', 1, 10_000],
      ],
    });
    const answer = await post(fields, { body, filename: 'beach.png' });
    expect(answer.status, answer.text).toBe(204);
    expect(answer.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(answer.headers.get('location')).toBe(`${server.endpoint}/default/forms/beach.png`);

    expect((await bytesOf('forms/beach.png')) as Buffer).toEqual(body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'forms/beach.png' }));
    expect(head).toMatchObject({ ContentType: 'image/png', CacheControl: 'max-age=60', ContentDisposition: 'inline', Metadata: { album: 'summer' }, ContentLength: 3000 });
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: 'default', Key: 'forms/beach.png' }))).TagSet).toEqual([{ Key: 'kind', Value: 'photo' }]);

    const events = (await objectEvents(user)).filter((event) => event.key === 'forms/beach.png');
    expect(events).toEqual([
      expect.objectContaining({ type: 'object.created', actor: { kind: 'key', id: user.firstKey.accessKey }, bucket: 'default', size: 3000, contentType: 'image/png' }),
    ]);
    await remove('forms/beach.png');
  });

  it('accepts forms presigned by boto3 generate_presigned_post (SigV4, and SigV2 as boto3 signs for us-east-1); success_action_status 201 answers the PostResponse XML', async () => {
    const account = { userId: user.userId, email: user.email, accessKeyId: user.firstKey.accessKey, secretAccessKey: user.firstKey.secretKey };
    const py = python(server.endpoint, account);
    try {
      // One interpreter for both (boto3's import is the slow part).
      const script = [
        'import boto3, json, os',
        'def presign(region, prefix):',
        "  c = boto3.client('s3', endpoint_url=os.environ['CS_ENDPOINT'], region_name=region)",
        `  return c.generate_presigned_post('default', prefix + '/${FILENAME}', Fields={'Content-Type': 'text/plain', 'success_action_status': '201', 'x-amz-meta-by': 'boto3'},`,
        "    Conditions=[{'Content-Type': 'text/plain'}, {'success_action_status': '201'}, {'x-amz-meta-by': 'boto3'}, ['content-length-range', 1, 1000]], ExpiresIn=600)",
        `print(json.dumps([presign('${REGION}', 'boto-v4'), presign('us-east-1', 'boto-v2')]))`,
      ].join('\n');
      type Presigned = { url: string; fields: Record<string, string> };
      const [v4, v2] = JSON.parse(ensureOk(await py.run(['-c', script])).stdout) as [Presigned, Presigned];
      expect(v4.fields['x-amz-algorithm']).toBe('AWS4-HMAC-SHA256');
      expect(v2.fields.AWSAccessKeyId).toBe(user.firstKey.accessKey);

      for (const [presigned, prefix] of [
        [v4, 'boto-v4'],
        [v2, 'boto-v2'],
      ] as const) {
        const answer = await post(presigned.fields, { body: `hello from ${prefix}`, filename: 'note.txt', type: 'text/plain' }, { url: presigned.url });
        expect(answer.status, answer.text).toBe(201);
        expect(answer.headers.get('content-type')).toBe('application/xml');
        const etag = answer.headers.get('etag')!;
        expect(answer.text).toContain(`<Location>${server.endpoint}/default/${prefix}/note.txt</Location>`);
        expect(answer.text).toContain('<Bucket>default</Bucket>');
        expect(answer.text).toContain(`<Key>${prefix}/note.txt</Key>`);
        expect(answer.text).toContain(`<ETag>${etag.replaceAll('"', '&quot;')}</ETag>`);
        expect(((await bytesOf(`${prefix}/note.txt`)) as Buffer).toString()).toBe(`hello from ${prefix}`);
        const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: `${prefix}/note.txt` }));
        expect(head).toMatchObject({ ContentType: 'text/plain', Metadata: { by: 'boto3' } });
      }
      await remove('boto-v4/note.txt', 'boto-v2/note.txt');
    } finally {
      py.cleanup();
    }
  });

  it("refuses failed conditions, extra fields, an expired policy, a wrong signature, an unknown key and an unsigned form with AWS's errors; nothing is stored", async () => {
    const objectKey = 'refused/file.txt';
    const base = { objectKey, fields: { 'Content-Type': 'text/plain' } };
    const refusals: [string, Record<string, string>, number, string, string | RegExp][] = [
      [
        'eq on a field',
        { ...presignPost(user.firstKey, { ...base, conditions: [{ bucket: 'default' }, ['eq', '$key', objectKey], ['eq', '$Content-Type', 'text/html']] }) },
        403,
        'AccessDenied',
        'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "text/html"]',
      ],
      [
        'starts-with on the key',
        presignPost(user.firstKey, { ...base, conditions: [{ bucket: 'default' }, ['starts-with', '$key', 'allowed/'], ['starts-with', '$Content-Type', '']] }),
        403,
        'AccessDenied',
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "allowed/"]',
      ],
      [
        'the bucket (object form)',
        presignPost(user.firstKey, { ...base, conditions: [{ bucket: 'elsewhere' }, ['eq', '$key', objectKey], ['starts-with', '$Content-Type', '']] }),
        403,
        'AccessDenied',
        'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "elsewhere"]',
      ],
      [
        'a field the policy does not name',
        { ...presignPost(user.firstKey, base), 'x-amz-meta-injected': 'yes' },
        403,
        'AccessDenied',
        'Invalid according to Policy: Extra input fields: x-amz-meta-injected',
      ],
      [
        'an expired policy',
        presignPost(user.firstKey, { ...base, now: new Date(Date.now() - 3_600_000), expiresInMs: 60_000 }),
        403,
        'AccessDenied',
        'Invalid according to Policy: Policy expired.',
      ],
      [
        'a policy changed after signing',
        (() => {
          const signed = presignPost(user.firstKey, base);
          const policy = JSON.parse(Buffer.from(signed.policy!, 'base64').toString()) as { conditions: unknown[] };
          policy.conditions[1] = ['starts-with', '$key', ''];
          return { ...signed, policy: Buffer.from(JSON.stringify(policy)).toString('base64') };
        })(),
        403,
        'SignatureDoesNotMatch',
        /signature we calculated does not match/,
      ],
      [
        'a signature by another secret',
        presignPost({ accessKey: user.firstKey.accessKey, secretKey: 'not-the-secret' }, base),
        403,
        'SignatureDoesNotMatch',
        /signature we calculated does not match/,
      ],
      ['an unknown access key', presignPost({ accessKey: 'AKIANOSUCHKEY0000000', secretKey: 'x' }, base), 403, 'InvalidAccessKeyId', /does not exist/],
      ['an unsigned form (no policy: anonymous)', { key: objectKey, 'Content-Type': 'text/plain' }, 403, 'AccessDenied', /must be signed/],
      [
        'a form without its key field',
        (() => {
          const { key: _key, ...rest } = presignPost(user.firstKey, { ...base, conditions: [{ bucket: 'default' }, ['starts-with', '$Content-Type', '']] });
          return rest;
        })(),
        400,
        'InvalidArgument',
        /must contain a field named 'key'/,
      ],
    ];
    for (const [what, fields, status, code, message] of refusals) {
      const answer = await post(fields, { body: 'should not be stored', type: 'text/plain' });
      expect({ what, status: answer.status, code: answer.code }, answer.text).toEqual({ what, status, code });
      if (typeof message === 'string') expect(answer.message, what).toBe(message);
      else expect(answer.message, what).toMatch(message);
      expect(answer.text).not.toMatch(/ at .*\.ts:\d+/);
    }
    expect(await bytesOf(objectKey)).toBe('NoSuchKey');

    // Not a form at all.
    const plain = await fetch(`${server.endpoint}/default`, { method: 'POST', body: 'key=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(plain.status).toBe(412);
    expect(await plain.text()).toContain('<Code>PreconditionFailed</Code>');
  });

  it('enforces content-length-range while the file streams: over is EntityTooLarge, under EntityTooSmall; nothing stored and the previous object kept', async () => {
    const objectKey = 'ranged/file.bin';
    const original = randomBytes(150);
    const ranged = () => presignPost(user.firstKey, { objectKey, conditions: [{ bucket: 'default' }, ['eq', '$key', objectKey], ['content-length-range', 100, 200]] });
    expect((await post(ranged(), { body: original })).status).toBe(204);

    const over = await post(ranged(), { body: randomBytes(201) });
    expect([over.status, over.code], over.text).toEqual([400, 'EntityTooLarge']);
    const under = await post(ranged(), { body: randomBytes(99) });
    expect([under.status, under.code], under.text).toEqual([400, 'EntityTooSmall']);
    // A much larger file is cut as it streams: the answer comes, nothing of it is kept.
    const huge = await post(ranged(), { body: randomBytes(512 * 1024) });
    expect([huge.status, huge.code], huge.text).toEqual([400, 'EntityTooLarge']);

    expect(await bytesOf(objectKey)).toEqual(original);
    // The exact bounds are inside the range.
    expect((await post(ranged(), { body: randomBytes(200) })).status).toBe(204);
    expect((await post(ranged(), { body: randomBytes(100) })).status).toBe(204);
    await remove(objectKey);
  });

  it('a client that goes away in the middle of the file stores nothing, and its quota hold is released', async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries(presignPost(user.firstKey, { objectKey: 'cut/file.bin' }))) form.append(name, value);
    form.append('file', new Blob([new Uint8Array(randomBytes(256 * 1024))]), 'file.bin');
    const encoded = new Request('http://placeholder/', { method: 'POST', body: form });
    const body = Buffer.from(await encoded.arrayBuffer());
    const request = openRequest(server.endpoint, {
      method: 'POST',
      path: '/default',
      headers: { 'content-type': encoded.headers.get('content-type')!, 'content-length': String(body.length) },
    });
    request.on('error', () => undefined);
    request.write(body.subarray(0, body.length / 2));
    const reserved = () => server.running.core.quotasUsecases.reservedBytes(user.userId);
    // The form was checked and the upload admitted: its quota is held while the file streams.
    while ((await reserved()) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    request.destroy();
    while ((await reserved()) !== 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await bytesOf('cut/file.bin')).toBe('NoSuchKey');
  });

  it('counts file parts not named `file` before the file toward the 20 KiB of fields (MaxPostPreDataLengthExceeded); nothing stored', async () => {
    const fields = presignPost(user.firstKey, { objectKey: 'predata/file.txt' });
    const form = new FormData();
    // Before the signature is checked: an unauthenticated sender must not stream unbounded bytes here.
    form.append('junk', new Blob([new Uint8Array(64 * 1024)]), 'junk.bin');
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob(['stored?']), 'file.txt');
    const response = await fetch(`${server.endpoint}/default`, { method: 'POST', body: form });
    const text = await response.text();
    expect([response.status, /<Code>([^<]+)<\/Code>/.exec(text)?.[1]]).toEqual([400, 'MaxPostPreDataLengthExceededError']);
    expect(await bytesOf('predata/file.txt')).toBe('NoSuchKey');

    // A sender that goes away in the middle of such a part: the server stays up and answers the next form.
    const boundary = 'cut-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="junk"; filename="junk.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    await new Promise<void>((resolve) => {
      const cut = openRequest(server.endpoint, {
        method: 'POST',
        path: '/default',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': '100000' },
      });
      cut.on('error', () => resolve());
      cut.on('close', () => resolve());
      cut.write(head + 'x'.repeat(1000), () => setTimeout(() => cut.destroy(), 50));
    });
    const after = await post(presignPost(user.firstKey, { objectKey: 'predata/after.txt' }), { body: 'still up' });
    expect(after.status, after.text).toBe(204);
    expect((await bytesOf('predata/after.txt')).toString()).toBe('still up');
    await remove('predata/after.txt');
  });

  it('ignores fields after the file (as S3 does) and answers 200 when asked', async () => {
    const fields = presignPost(user.firstKey, { objectKey: 'order/file.txt', fields: { success_action_status: '200', 'Content-Type': 'text/plain' } });
    const answer = await post(fields, { body: 'ordered', type: 'text/plain' }, { after: { 'Content-Type': 'text/html', 'x-amz-meta-late': 'ignored' } });
    expect(answer.status, answer.text).toBe(200);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'default', Key: 'order/file.txt' }));
    expect(head.ContentType).toBe('text/plain');
    expect(head.Metadata).toEqual({});
    await remove('order/file.txt');
  });

  it('the acl field sets a canned ACL as x-amz-acl does: public-read opens the object to anonymous GETs; unsupported ACLs are NotImplemented', async () => {
    const signed = (objectKey: string, acl: string) => presignPost(user.firstKey, { objectKey, fields: { acl } });
    const published = await post(signed('public/page.html', 'public-read'), { body: 'for everyone' });
    expect(published.status, published.text).toBe(204);
    const anonymous = await fetch(`${server.endpoint}/default/public/page.html`);
    expect([anonymous.status, await anonymous.text()]).toEqual([200, 'for everyone']);

    const privateOne = await post(signed('public/private.txt', 'private'), { body: 'mine' });
    expect(privateOne.status, privateOne.text).toBe(204);
    expect((await fetch(`${server.endpoint}/default/public/private.txt`)).status).toBe(403);

    const refused = await post(signed('public/writable.txt', 'public-read-write'), { body: 'no' });
    expect([refused.status, refused.code], refused.text).toEqual([501, 'NotImplemented']);
    expect(await bytesOf('public/writable.txt')).toBe('NoSuchKey');
    await remove('public/page.html', 'public/private.txt');
  });

  it('success_action_redirect answers 303 to the URL with bucket, key and etag appended', async () => {
    const redirect = 'https://app.example.com/uploaded?from=form';
    const fields = presignPost(user.firstKey, { objectKey: 'redirect/a b.txt', fields: { success_action_redirect: redirect } });
    const answer = await post(fields, { body: 'redirected' });
    expect(answer.status, answer.text).toBe(303);
    const location = new URL(answer.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://app.example.com/uploaded');
    expect(Object.fromEntries(location.searchParams)).toEqual({ from: 'form', bucket: 'default', key: 'redirect/a b.txt', etag: answer.headers.get('etag') });
    expect(((await bytesOf('redirect/a b.txt')) as Buffer).toString()).toBe('redirected');
    await remove('redirect/a b.txt');
  });

  it('works with virtual-hosted addressing (Host: <bucket>.S3_DOMAIN)', async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries(presignPost(user.firstKey, { objectKey: 'vhost/file.txt' }))) form.append(name, value);
    form.append('file', new Blob(['virtual host']), 'file.txt');
    const encoded = new Request('http://placeholder/', { method: 'POST', body: form });
    const body = Buffer.from(await encoded.arrayBuffer());
    const url = new URL(server.endpoint);
    const status = await new Promise<number>((resolve, reject) => {
      const request = openRequest(
        server.endpoint,
        {
          method: 'POST',
          path: '/',
          headers: { host: `default.${S3_DOMAIN}:${url.port}`, 'content-type': encoded.headers.get('content-type')!, 'content-length': String(body.length) },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    expect(status).toBe(204);
    expect(((await bytesOf('vhost/file.txt')) as Buffer).toString()).toBe('virtual host');
    await remove('vhost/file.txt');
  });

  it('a form over the quota is QuotaExceeded and stores nothing', async () => {
    const small = await signupViaApi(server);
    await server.running.core.quotasUsecases.setQuota(small.userId, 1000);
    const smallS3 = s3ClientFor(server, small.firstKey);
    try {
      const answer = await post(presignPost(small.firstKey, { objectKey: 'big.bin' }), { body: randomBytes(2000) });
      expect([answer.status, answer.code], answer.text).toEqual([403, 'QuotaExceeded']);
      // Even when the request is small enough, a policy range is no licence: the stored size counts at commit.
      expect(await bytesOf('big.bin', smallS3)).toBe('NoSuchKey');
      expect((await server.running.core.quotasUsecases.usage(small.userId)).usedBytes).toBe(0);
    } finally {
      smallS3.destroy();
    }
  });

  it("applies the signing key's scope (a prefix-scoped key cannot post outside its prefix) and resolves the bucket in the signer's account", async () => {
    const created = await callApi(server, '/api/keys', { cookie: user.cookie, body: { name: 'post-scoped', prefix: 'photos/' } });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const scoped = { accessKey: created.json.accessKey as string, secretKey: created.json.secretKey as string };
    try {
      const outside = await post(presignPost(scoped, { objectKey: 'documents/secret.txt' }), { body: 'outside' });
      expect([outside.status, outside.code], outside.text).toEqual([403, 'AccessDenied']);
      expect(await bytesOf('documents/secret.txt')).toBe('NoSuchKey');
      const inside = await post(presignPost(scoped, { objectKey: 'photos/cat.txt' }), { body: 'inside' });
      expect(inside.status, inside.text).toBe(204);
      expect(((await bytesOf('photos/cat.txt')) as Buffer).toString()).toBe('inside');
      await remove('photos/cat.txt');
    } finally {
      await callApi(server, `/api/keys?id=${created.json.id}`, { method: 'DELETE', cookie: user.cookie });
    }

    // Another account names `default`: its own bucket, never this account's.
    const other = await signupViaApi(server);
    const otherS3 = s3ClientFor(server, other.firstKey);
    try {
      const answer = await post(presignPost(other.firstKey, { objectKey: 'mine.txt' }), { body: 'other account' });
      expect(answer.status, answer.text).toBe(204);
      expect(await bytesOf('mine.txt')).toBe('NoSuchKey');
      expect(((await bytesOf('mine.txt', otherS3)) as Buffer).toString()).toBe('other account');
      await otherS3.send(new DeleteObjectCommand({ Bucket: 'default', Key: 'mine.txt' }));
    } finally {
      otherS3.destroy();
    }
  });

  // What the browser adds is its form encoding, not storage (every test above runs on both backends):
  // on the s3 backend it would only repeat their storage checks at a browser's start-up cost.
  it.skipIf(process.env.CS_TEST_BACKEND === 's3')(
    'a real Chromium submits a plain HTML form from another origin (success_action_redirect brings it back) and posts with fetch() + FormData under the bucket CORS rule; the bytes read back are the file',
    async () => {
      const pages = await startPageServer({ '/done': '<!doctype html><title>done</title><p>uploaded</p>' });
      const browser = await launchBrowser();
      try {
        const done = pages.url('/done');
        const fields = presignPost(user.firstKey, {
          objectKey: `browser/${FILENAME}`,
          fields: { 'Content-Type': 'application/octet-stream', success_action_redirect: done },
          conditions: [
            { bucket: 'default' },
            ['starts-with', '$key', 'browser/'],
            ['starts-with', '$Content-Type', ''],
            { success_action_redirect: done },
            ['content-length-range', 1, 1024 * 1024],
          ],
        });
        const hidden = Object.entries(fields)
          .map(([name, value]) => `<input type="hidden" name="${name}" value="${value.replaceAll('&', '&amp;').replaceAll('"', '&quot;')}">`)
          .join('\n');
        pages.setPage(
          '/upload.html',
          `<!doctype html><form id="form" method="post" enctype="multipart/form-data" action="${server.endpoint}/default">${hidden}<input type="file" name="file" id="file"><button id="go" type="submit">Upload</button></form>`,
        );
        const bytes = randomBytes(200 * 1024);
        const page = await browser.newPage();
        await page.goto(pages.url('/upload.html'));
        await page.setInputFiles('#file', { name: 'photo.bin', mimeType: 'application/octet-stream', buffer: bytes });
        await Promise.all([page.waitForURL(`${pages.origin}/done?**`), page.click('#go')]);
        const landed = new URL(page.url());
        expect(landed.searchParams.get('bucket')).toBe('default');
        expect(landed.searchParams.get('key')).toBe('browser/photo.bin');
        expect(landed.searchParams.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
        expect(await bytesOf('browser/photo.bin')).toEqual(bytes);
        await remove('browser/photo.bin');

        // The same upload with fetch() + FormData from the page: a CORS "simple" request (no
        // preflight); the bucket's CORS rule lets the page read the 201 PostResponse.
        await s3.send(
          new PutBucketCorsCommand({
            Bucket: 'default',
            CORSConfiguration: { CORSRules: [{ AllowedOrigins: [pages.origin], AllowedMethods: ['POST'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'] }] },
          }),
        );
        const fetchFields = presignPost(user.firstKey, { objectKey: 'browser/fetched.bin', fields: { success_action_status: '201' } });
        const answer = await page.evaluate(
          async ({ action, formFields }) => {
            const form = new FormData();
            for (const [name, value] of Object.entries(formFields)) form.append(name, value);
            const content = new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) % 256);
            form.append('file', new Blob([content]), 'fetched.bin');
            const response = await fetch(action, { method: 'POST', body: form });
            return { status: response.status, etag: response.headers.get('etag'), text: await response.text() };
          },
          { action: `${server.endpoint}/default`, formFields: fetchFields },
        );
        await s3.send(new DeleteBucketCorsCommand({ Bucket: 'default' }));
        expect(answer.status, answer.text).toBe(201);
        expect(answer.etag).toMatch(/^"[0-9a-f]{32}"$/);
        expect(answer.text).toContain('<Key>browser/fetched.bin</Key>');
        expect(await bytesOf('browser/fetched.bin')).toEqual(Buffer.from(new Uint8Array(64 * 1024).map((_, i) => (i * 31 + 7) % 256)));
        await remove('browser/fetched.bin');
      } finally {
        await browser.close();
        await pages.close();
      }
    },
  );
});
