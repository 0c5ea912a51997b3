/**
 * boto3 against the real gateway. The scenarios live in boto3_client.py (they assert in Python and
 * print a JSON summary); this file runs them, then checks the summary and the gateway's state.
 */
import { ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestAccount, type TestServer } from '../support/cloudstorage.ts';
import { describeRun, python, type CliHarness } from '../support/clients.ts';

const SCRIPT = fileURLToPath(new URL('./boto3_client.py', import.meta.url));
const MiB = 1024 * 1024;
const TIMEOUT = 120_000;

describe('boto3 against the gateway', () => {
  let server: TestServer;
  let account: TestAccount;
  let py: CliHarness;
  let s3: S3Client;

  beforeAll(async () => {
    server = await startTestServer();
    account = await server.createAccount();
    s3 = server.client(account);
    py = python(server.endpoint, account);
  });
  afterAll(async () => {
    s3?.destroy();
    py?.cleanup();
    await server?.close();
  });

  /** Runs one scenario; fails with the script's output unless it exits 0 and prints a JSON summary. */
  async function scenario(name: string): Promise<any> {
    const result = await py.run([SCRIPT, name], { timeoutMs: TIMEOUT - 5_000 });
    expect(result.code, describeRun(result)).toBe(0);
    const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(lastLine);
    } catch {
      throw new Error(`no JSON summary\n${describeRun(result)}`);
    }
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'default', Prefix: prefix }));
    return (page.Contents ?? []).map((object) => object.Key!);
  }

  it('upload_file / download_file a 50 MiB file with TransferConfig defaults (multipart), and a managed copy', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('transfer');
    expect(summary.size).toBe(50 * MiB);
    expect(summary.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.downloadedSha256).toBe(summary.sha256);
    expect(summary.copySha256).toBe(summary.sha256);
    expect(summary.copyLength).toBe(50 * MiB);
    // 50 MiB in 8 MiB parts: 7 parts.
    expect(summary.etag).toMatch(/^"[0-9a-f]{32}-7"$/);
    expect(summary.etag).toBe(summary.expectedEtag);
    expect(summary.checksumCRC32).toMatch(/^[A-Za-z0-9+/]{6}==-7$/);
    expect(await keysUnder('transfer/')).toEqual([]);
  });

  it('put_object / get_object carry the default CRC32 checksum, verified and echoed', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('checksums');
    expect(summary.putChecksumCRC32).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(summary.putChecksumCRC32).toBe(summary.expectedCRC32);
    expect(summary.getChecksumCRC32).toBe(summary.expectedCRC32);
    expect(summary.headChecksumCRC32).toBe(summary.expectedCRC32);
    expect(summary.badDigest).toEqual(['BadDigest', 400]);
    expect(await keysUnder('sums/')).toEqual([]);
  });

  it('presigned PUT and GET work from a plain HTTP client; tampered and expired URLs get 403', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('presigned');
    expect(summary.downloadedSha256).toBe(summary.sha256);
    expect(summary.size).toBe(256 * 1024 + 7);
    expect(summary.rejected).toEqual({
      signature: [403, 'SignatureDoesNotMatch'],
      key: [403, 'SignatureDoesNotMatch'],
      expires: [403, 'SignatureDoesNotMatch'],
      getUrlUsedForPut: [403, 'SignatureDoesNotMatch'],
      expired: [403, 'AccessDenied'],
    });
    expect(await keysUnder('presigned/')).toEqual([]);
  });

  it('lists 1100 keys with paginators (v2 and v1) and deletes them with delete_objects in batches of 1000', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('listing');
    expect(summary).toMatchObject({ uploaded: 1100, listed: 1100, pageSizes: [1000, 100], v1Listed: 1100, deleted: 1100, batches: 2 });
    expect(await keysUnder('many/')).toEqual([]);
  });

  it('copy_object within and across buckets, keeping or replacing metadata', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('copy');
    expect(summary.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(summary.metadata).toEqual({ origin: 'boto3' });
    expect(summary.replacedMetadata).toEqual({ fresh: 'yes' });
    expect(await keysUnder('copy/')).toEqual([]);
  });

  it('maps errors to the S3 codes boto3 expects', { timeout: TIMEOUT }, async () => {
    const summary = await scenario('errors');
    expect(summary).toMatchObject({
      getMissingKey: ['NoSuchKey', 404],
      headMissingKey: ['404', 404],
      getMissingBucket: ['NoSuchBucket', 404],
      listMissingBucket: ['NoSuchBucket', 404],
      putMissingBucket: ['NoSuchBucket', 404],
      deleteMissingBucket: ['NoSuchBucket', 404],
      createDefaultAgain: ['BucketAlreadyOwnedByYou', 409],
      createAgain: ['BucketAlreadyOwnedByYou', 409],
      deleteNonEmpty: ['BucketNotEmpty', 409],
      headDeletedBucket: ['404', 404],
      wrongSecret: ['SignatureDoesNotMatch', 403],
      unknownKey: ['InvalidAccessKeyId', 403],
    });
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['default']);
  });
});
