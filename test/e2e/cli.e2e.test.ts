import { GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServerInTempDir } from '../support/cloudstorage.ts';

function client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }) {
  return new S3Client({ endpoint, region: 'eu-central-1', forcePathStyle: true, credentials, maxAttempts: 1 });
}

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'success';
  } catch (error) {
    return (error as S3ServiceException).name;
  }
}

describe('admin CLI against a running server (npm start in another process)', () => {
  let running: Awaited<ReturnType<typeof spawnServerInTempDir>>;
  let env: Record<string, string>;
  let server: Awaited<ReturnType<typeof spawnServerInTempDir>>['server'];

  beforeAll(async () => {
    running = await spawnServerInTempDir();
    ({ env, server } = running);
  });
  afterAll(async () => running?.close());

  it('creates a user with a first key and a default bucket, printing JSON only', async () => {
    const result = await runCli(['user', 'create', '--email', 'Admin@Example.com', '--password', 'long enough password', '--admin'], env);
    expect(result.code).toBe(0);
    expect(Object.keys(result.json).sort()).toEqual(['accessKeyId', 'bucket', 'email', 'secretAccessKey', 'userId']);
    expect(result.json.email).toBe('admin@example.com');
    expect(result.json.bucket).toBe('default');
    expect(result.json.accessKeyId).toMatch(/^CS[A-Z0-9]{18}$/);
    expect(result.json.secretAccessKey).toHaveLength(40);

    const s3 = client(server.endpoint, result.json);
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
    await s3.send(new PutObjectCommand({ Bucket: 'default', Key: 'hello.txt', Body: 'hello' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'default', Key: 'hello.txt' }));
    expect(await got.Body!.transformToString()).toBe('hello');
    s3.destroy();
  });

  it('stores secrets encrypted under a master key with mode 0600', async () => {
    const mode = statSync(join(env.DATA_DIR, 'master.key')).mode & 0o777;
    expect(mode).toBe(0o600);
    const { execFileSync } = await import('node:child_process');
    const dump = execFileSync('python3', [
      '-c',
      `import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select group_concat(secret_encrypted, ' ') from access_keys").fetchone()[0])`,
      join(env.DATA_DIR, 'cloudstorage.sqlite'),
    ]).toString();
    expect(dump).toMatch(/^v1\./);
    const created = await runCli(['key', 'create', '--email', 'admin@example.com', '--name', 'probe'], env);
    expect(dump).not.toContain(created.json.secretAccessKey);
  });

  it('refuses a duplicate email and bad input with a JSON error on stderr', async () => {
    const duplicate = await runCli(['user', 'create', '--email', 'admin@example.com', '--password', 'long enough password'], env);
    expect(duplicate.code).not.toBe(0);
    expect(JSON.parse(duplicate.stderr).error).toBe('accounts.email_taken');
    const weak = await runCli(['user', 'create', '--email', 'weak@example.com', '--password', 'short'], env);
    expect(JSON.parse(weak.stderr).error).toBe('accounts.weak_password');
    const usage = await runCli(['key', 'create'], env);
    expect(usage.code).toBe(64);
    expect(JSON.parse(usage.stderr).error).toBe('usage');
  });

  it('makes a new key work at once and a revoked key stop working on the running gateway', async () => {
    const created = await runCli(['key', 'create', '--email', 'admin@example.com', '--name', 'laptop'], env);
    expect(created.code).toBe(0);
    expect(created.json.accessKeyId).toMatch(/^CS[A-Z0-9]{18}$/);
    const s3 = client(server.endpoint, created.json);
    const before = await s3.send(new ListBucketsCommand({}));
    expect(before.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);

    const revoked = await runCli(['key', 'revoke', '--access-key-id', created.json.accessKeyId], env);
    expect(revoked.code).toBe(0);
    // The server learns of the CLI's commit by polling SQLite's data_version: poll until the key is
    // refused. The timeout only stops a broken build from hanging the suite; it is not the assertion.
    await expect.poll(() => errorName(s3.send(new ListBucketsCommand({}))), { timeout: 30_000, interval: 50 }).toBe('InvalidAccessKeyId');
    s3.destroy();

    const again = await runCli(['key', 'revoke', '--access-key-id', created.json.accessKeyId], env);
    expect(JSON.parse(again.stderr).error).toBe('keys.not_found');
  });

  it('makes a dashboard administrator with --admin; an account without it gets 403 on the admin routes', async () => {
    const plain = await runCli(['user', 'create', '--email', 'plain@example.com', '--password', 'long enough password'], env);
    expect(plain.code).toBe(0);
    const signIn = async (email: string) => {
      const response = await fetch(`${server.apiEndpoint}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'long enough password' }),
      });
      expect(response.status).toBe(200);
      return response.headers
        .getSetCookie()
        .find((line) => line.startsWith('session='))!
        .split(';')[0]!;
    };
    const adminCookie = await signIn('admin@example.com');
    const plainCookie = await signIn('plain@example.com');

    // The CLI's quota shows through the admin API of the running server: one database, one quota use case.
    expect((await runCli(['user', 'set-quota', '--email', 'plain@example.com', '--bytes', '4096'], env)).code).toBe(0);
    const listed = await fetch(`${server.apiEndpoint}/api/admin/users`, { headers: { cookie: adminCookie } });
    expect(listed.status).toBe(200);
    const { users } = (await listed.json()) as { users: { email: string; isAdmin: boolean; quotaBytes: number; defaultQuota: boolean }[] };
    expect(users.map(({ email, isAdmin }) => ({ email, isAdmin }))).toEqual([
      { email: 'admin@example.com', isAdmin: true },
      { email: 'plain@example.com', isAdmin: false },
    ]);
    expect(users[1]).toMatchObject({ quotaBytes: 4096, defaultQuota: false });

    const refused = await fetch(`${server.apiEndpoint}/api/admin/users`, { headers: { cookie: plainCookie } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('admin.forbidden');
  });
});
