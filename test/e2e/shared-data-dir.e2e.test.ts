import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldExclusively } from '../../src/storage/fs/index-writers.ts';
import { spawnServer, tempDir } from '../support/cloudstorage.ts';
import { signupForS3 } from '../support/dashboard.ts';

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Two server processes over one DATA_DIR (gateways behind a load balancer). Each process
 * reference-counts the files its own GETs read, but another process's overwrite or delete
 * unlinks the replaced files right after its commit: a GET must hold every file it reads
 * (open descriptors) before it answers, and must not answer from a row cache another process's
 * commit made stale.
 */
describe('two server processes sharing one DATA_DIR', () => {
  const dir = tempDir();
  let first: Awaited<ReturnType<typeof spawnServer>>;
  let second: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let viaFirst: S3Client;
  let viaSecond: S3Client;
  let clientFor: (endpoint: string) => S3Client;

  beforeAll(async () => {
    // An unversioned `default`: an overwrite and a delete here must free the old data files.
    const env = { DATA_DIR: dir.path, FS_FSYNC: 'false', FS_ORPHAN_SWEEP_INTERVAL_MS: '0', TIME_MACHINE_DEFAULT: 'false' };
    first = await spawnServer(env);
    second = await spawnServer(env);
    const credentials = await signupForS3(first);
    const client = (endpoint: string) => new S3Client({ endpoint, region: 'eu-central-1', forcePathStyle: true, maxAttempts: 1, credentials });
    viaFirst = client(first.endpoint);
    viaSecond = client(second.endpoint);
    clientFor = client;
  });
  afterAll(async () => {
    viaFirst?.destroy();
    viaSecond?.destroy();
    await second?.stop();
    await first?.stop();
    dir.remove();
  });

  const dataFiles = () => {
    const root = join(dir.path, 'objects', 'data');
    return readdirSync(root).flatMap((shard) => readdirSync(join(root, shard)));
  };

  it('a multi-segment GET started on one completes with the old bytes after the other overwrites and deletes the key', async () => {
    const Bucket = 'default';
    const Key = 'three-parts.bin';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(2 * MiB)];
    const { UploadId } = await viaFirst.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const completed = [];
    for (const [index, body] of parts.entries()) {
      const { ETag } = await viaFirst.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body: body }));
      completed.push({ ETag, PartNumber: index + 1 });
    }
    await viaFirst.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: completed } }));
    expect(dataFiles()).toHaveLength(3);

    // Headers are in; the 12 MiB body is not read yet (at most socket buffers' worth was sent).
    const got = await viaFirst.send(new GetObjectCommand({ Bucket, Key }));
    expect(got.ContentLength).toBe(12 * MiB);

    await viaSecond.send(new PutObjectCommand({ Bucket, Key, Body: 'replaced' }));
    await viaSecond.send(new DeleteObjectCommand({ Bucket, Key }));
    await expect(viaSecond.send(new HeadObjectCommand({ Bucket, Key }))).rejects.toMatchObject({ name: 'NotFound' });
    // The other process unlinked all three segment files: only open descriptors keep their bytes.
    expect(dataFiles()).toHaveLength(0);

    const body = await got.Body!.transformToByteArray();
    expect(body.length).toBe(12 * MiB);
    expect(sha256(body)).toBe(sha256(Buffer.concat(parts)));
  });

  it("a GET answers with what another process's overwrite or delete left, not a cached row", async () => {
    const Bucket = 'default';
    const Key = 'small.txt';
    await viaFirst.send(new PutObjectCommand({ Bucket, Key, Body: 'version one' }));
    // Read twice on the first process: the second read is served from its row cache.
    for (let i = 0; i < 2; i++) expect(await (await viaFirst.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString()).toBe('version one');

    await viaSecond.send(new PutObjectCommand({ Bucket, Key, Body: 'version two' }));
    expect(await (await viaFirst.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString()).toBe('version two');

    await viaSecond.send(new DeleteObjectCommand({ Bucket, Key }));
    await expect(viaFirst.send(new GetObjectCommand({ Bucket, Key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
  it('a process that was alone (serving cached rows unchecked) sees at once the writes of a process that joins later', async () => {
    const env = { DATA_DIR: dir.path, FS_FSYNC: 'false', FS_ORPHAN_SWEEP_INTERVAL_MS: '0', TIME_MACHINE_DEFAULT: 'false' };
    await second?.stop();
    second = undefined;
    // The first process is alone again once it holds the writers' lock exclusively (src/storage/fs/index-writers.ts).
    for (let i = 0; !heldExclusively(join(dir.path, 'objects')); i++) {
      if (i > 500) throw new Error('the first process did not become the lone writer');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const Bucket = 'default';
    const Key = 'late-joiner.txt';
    await viaFirst.send(new PutObjectCommand({ Bucket, Key, Body: 'version one' }));
    for (let i = 0; i < 2; i++) expect(await (await viaFirst.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString()).toBe('version one');

    const third = await spawnServer(env);
    const viaThird = clientFor(third.endpoint);
    try {
      await viaThird.send(new PutObjectCommand({ Bucket, Key, Body: 'version two' }));
      expect(await (await viaFirst.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString()).toBe('version two');
      await viaThird.send(new DeleteObjectCommand({ Bucket, Key }));
      await expect(viaFirst.send(new GetObjectCommand({ Bucket, Key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    } finally {
      viaThird.destroy();
      await third.stop();
    }
  });
});
