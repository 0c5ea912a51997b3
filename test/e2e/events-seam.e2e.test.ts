/**
 * Issue #10: every door goes through the one objects service, and every change is recorded once
 * as a domain event. Real clients (aws CLI, boto3, the AWS SDK, curl-style HTTP to the file API)
 * against the real servers; the activity log (the first subscriber) shows what was recorded.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCli, ensureOk, python } from '../support/clients.ts';
import { startTestServer, type TestServer } from '../support/cloudstorage.ts';
import { callApi, s3ClientFor, signupViaApi, type SignedUp } from '../support/dashboard.ts';

let server: TestServer;

beforeAll(async () => {
  // Unversioned `default` buckets: overwrites here replace (with Time Machine on they would add versions).
  server = await startTestServer({ TIME_MACHINE_DEFAULT: false });
});

afterAll(async () => {
  await server?.close();
});

interface ActivityItem {
  id: string;
  type: string;
  actor: { kind: string; id: string };
  clientAddress: string | null;
  bucket: string | null;
  key: string | null;
  size: number | null;
  etag: string | null;
  contentType: string | null;
  detail: Record<string, unknown> | null;
}

/** Every activity item of the signed-in account (all pages), oldest first. */
async function activity(user: SignedUp): Promise<ActivityItem[]> {
  await server.running.core.events.flush();
  const items: ActivityItem[] = [];
  let cursor: string | undefined;
  do {
    const result = await callApi(server, `/api/activity?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { cookie: user.cookie });
    expect(result.status).toBe(200);
    items.push(...result.json.items);
    cursor = result.json.nextCursor ?? undefined;
  } while (cursor);
  return items.reverse();
}

const objectEvents = (items: ActivityItem[]) => items.filter((item) => item.type.startsWith('object.'));

async function uploadThroughFileApi(user: SignedUp, key: string, body: string, contentType = 'text/plain') {
  const response = await fetch(`${server.apiEndpoint}/api/v1/files?bucket=default&key=${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: { 'X-API-Key': `${user.firstKey.accessKey}:${user.firstKey.secretKey}`, 'Content-Type': contentType },
    body,
  });
  expect(response.status).toBe(201);
  return response.json();
}

describe('one objects service and domain events under every door', () => {
  it('a PUT through the aws CLI, an upload through /api/v1/files and a delete through boto3 each appear once, with the right actor', async () => {
    const user = await signupViaApi(server);
    const account = { userId: user.userId, email: user.email, accessKeyId: user.firstKey.accessKey, secretAccessKey: user.firstKey.secretKey };

    const cli = awsCli(server.endpoint, account);
    const py = python(server.endpoint, account);
    try {
      const file = join(cli.home, 'report.txt');
      writeFileSync(file, 'quarterly report');
      ensureOk(await cli.run(['s3api', 'put-object', '--bucket', 'default', '--key', 'docs/report.txt', '--body', file, '--content-type', 'text/plain']));

      await uploadThroughFileApi(user, 'notes/todo.txt', 'buy milk');

      ensureOk(await py.run(['-c', "import boto3, os; boto3.client('s3', endpoint_url=os.environ['CS_ENDPOINT']).delete_object(Bucket='default', Key='docs/report.txt')"]));
    } finally {
      cli.cleanup();
      py.cleanup();
    }

    const events = objectEvents(await activity(user));
    expect(events.map((event) => [event.type, event.key])).toEqual([
      ['object.created', 'docs/report.txt'],
      ['object.created', 'notes/todo.txt'],
      ['object.deleted', 'docs/report.txt'],
    ]);
    for (const event of events) {
      expect(event.actor).toEqual({ kind: 'key', id: user.firstKey.accessKey });
      expect(event.bucket).toBe('default');
      expect(event.clientAddress).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    }
    expect(events[0]).toMatchObject({ size: 16, contentType: 'text/plain' });
    expect(events[0].etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(events[1]).toMatchObject({ size: 8, contentType: 'text/plain' });

    // Another account sees none of it.
    const other = await signupViaApi(server);
    expect(objectEvents(await activity(other))).toEqual([]);
  });

  it('one upload through the S3 gateway and one through the file API produce identical events and quota effects', async () => {
    const user = await signupViaApi(server);
    const usage = async () => (await server.running.core.quotasUsecases.usage(user.userId)).usedBytes;
    const body = 'x'.repeat(5000);

    const before = await usage();
    const s3 = s3ClientFor(server, user.firstKey);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'through-s3.bin', Body: body, ContentType: 'application/octet-stream' }));
    s3.destroy();
    const afterS3 = await usage();
    await uploadThroughFileApi(user, 'through-api.bin', body, 'application/octet-stream');
    const afterApi = await usage();
    expect(afterS3 - before).toBe(5000);
    expect(afterApi - afterS3).toBe(5000);

    // Overwrites through each door are object.updated (overwrite) and leave usage unchanged.
    const s3Again = s3ClientFor(server, user.firstKey);
    await s3Again.send(new PutObjectCommand({ Bucket: 'default', Key: 'through-s3.bin', Body: body, ContentType: 'application/octet-stream' }));
    s3Again.destroy();
    await uploadThroughFileApi(user, 'through-api.bin', body, 'application/octet-stream');
    expect(await usage()).toBe(afterApi);

    const events = objectEvents(await activity(user));
    const comparable = (event: ActivityItem) => ({ ...event, id: undefined, key: undefined, time: undefined });
    expect(events.map((event) => [event.type, event.key])).toEqual([
      ['object.created', 'through-s3.bin'],
      ['object.created', 'through-api.bin'],
      ['object.updated', 'through-s3.bin'],
      ['object.updated', 'through-api.bin'],
    ]);
    expect(comparable(events[0])).toEqual(comparable(events[1]));
    expect(comparable(events[2])).toEqual(comparable(events[3]));
    expect(events[2].detail).toEqual({ change: 'overwrite' });
  });
});
