import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseEnvLines, rgwBackendConnection } from '../../../test/support/ceph-rgw.ts';
import { rgwProxyBackend } from '../../../test/support/rgw-backend.ts';
import { S3Error } from '../../errors/s3-errors.ts';
import { NULL_VERSION_ID } from '../storage-backend.ts';
import { runVersioningContract } from '../versioning.contract.ts';
import { createS3Backend } from './s3-backend.ts';

// The versioning contract on the s3 proxy backend, over the s3-backend project's Ceph RGW: the
// store keeps the versions, the backend normalises RGW's answers to S3's. RGW Pacific does not
// stack a delete marker on a delete marker (S3 does); nothing above the store can make it.
runVersioningContract('s3 proxy on Ceph RGW', () => rgwProxyBackend('cs-s3-versioning-'), { keepsOneDeleteMarker: true });
runVersioningContract('s3 proxy on Ceph RGW, catalog in PostgreSQL', () => rgwProxyBackend('cs-s3-versioning-pg-', { catalog: 'postgres' }), { keepsOneDeleteMarker: true });

/**
 * What only the proxy has to get right: the catalog beside the store agrees with the store's
 * versions when the store was changed behind it, and RGW's answers are normalised.
 */
describe('s3 backend versioning: the catalog and the store', () => {
  let gateway: Awaited<ReturnType<typeof createS3Backend>>;
  // Another client of the same store, with its own catalog: changes it makes are behind the gateway's back.
  let direct: Awaited<ReturnType<typeof createS3Backend>>;
  const stateDirs: string[] = [];
  const buckets: string[] = [];

  async function open() {
    const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
    const stateDir = await mkdtemp(join(tmpdir(), 'cs-s3-versioning-catalog-'));
    stateDirs.push(stateDir);
    return createS3Backend({ ...rgwBackendConnection(rgw), stateDir });
  }

  beforeAll(async () => {
    gateway = await open();
    direct = await open();
  });
  afterAll(async () => {
    // Every version and marker, then the bucket (the RGW keeps them in RAM).
    for (const bucket of buckets) {
      for (;;) {
        const page = await direct.listObjectVersions({ bucket, maxKeys: 1000 }).catch(() => undefined);
        if (!page || page.entries.length === 0) break;
        await direct.deleteObjects({ bucket, objects: page.entries.map((entry) => ({ key: entry.key, versionId: entry.versionId })) });
      }
      await direct.deleteBucket(bucket).catch(() => undefined);
    }
    await gateway?.close();
    await direct?.close();
    for (const dir of stateDirs) await rm(dir, { recursive: true, force: true });
  });

  async function newBucket(): Promise<string> {
    const bucket = `s3-versioning-${randomBytes(6).toString('hex')}`;
    await gateway.createBucket(bucket);
    buckets.push(bucket);
    return bucket;
  }

  const put = (backend: typeof gateway, bucket: string, key: string, data: string) =>
    backend.putObject({ bucket, key, body: Readable.from([Buffer.from(data)]), size: Buffer.byteLength(data), metadata: { userMetadata: {} } });

  it('counts every stored version of a bucket its catalog has never seen, and no delete marker', async () => {
    const bucket = await newBucket();
    await gateway.putBucketVersioning(bucket, 'Enabled');
    await put(gateway, bucket, 'k', 'abc');
    await put(gateway, bucket, 'k', 'abcde');
    await put(gateway, bucket, 'dir/x', 'xy');
    await gateway.deleteObject({ bucket, key: 'k' });
    expect(await gateway.local.usage(bucket)).toEqual({ bytes: 10, objects: 3, multipartBytes: 0 });
    const fresh = await open();
    try {
      expect(await fresh.local.storedSize(bucket, 'k')).toBeUndefined();
      expect(await fresh.local.usage(bucket)).toEqual({ bytes: 10, objects: 3, multipartBytes: 0 });
      // The marker headers without the catalog's help: its state is read from the store.
      const error = await fresh.headObject({ bucket, key: 'k' }).catch((caught: unknown) => caught as S3Error);
      expect(error).toMatchObject({ code: 'NoSuchKey', headers: { 'x-amz-delete-marker': 'true' } });
      expect(await fresh.getBucketVersioning(bucket)).toBe('Enabled');
    } finally {
      await fresh.close();
    }
  });

  it('a bucket versioned in the store directly: the next write reports its version and usage keeps both', async () => {
    const bucket = await newBucket();
    await put(gateway, bucket, 'k', 'first');
    expect(await gateway.local.storedSize(bucket, 'k')).toBe(5);
    await direct.putBucketVersioning(bucket, 'Enabled');
    const second = await put(gateway, bucket, 'k', 'second!');
    expect(second.versionId).toBeTruthy();
    expect(second.versionId).not.toBe(NULL_VERSION_ID);
    // The overwrite kept the null version: both count, and the next write replaces nothing.
    expect(await gateway.local.usage(bucket)).toMatchObject({ bytes: 12, objects: 2 });
    expect(await gateway.local.storedSize(bucket, 'k')).toBe(0);
    expect((await gateway.headObject({ bucket, key: 'k', versionId: NULL_VERSION_ID })).size).toBe(5);
  });

  it('reports no version id in an Unversioned bucket, where RGW answers ?versionId=null with `null`', async () => {
    const bucket = await newBucket();
    await put(gateway, bucket, 'k', 'data');
    const read = await gateway.getObject({ bucket, key: 'k', versionId: NULL_VERSION_ID });
    expect(Buffer.concat(await read.body.toArray()).toString()).toBe('data');
    expect(read.info.versionId).toBeUndefined();
    expect((await gateway.headObject({ bucket, key: 'k', versionId: NULL_VERSION_ID })).versionId).toBeUndefined();
    expect((await gateway.listObjectVersions({ bucket, maxKeys: 10 })).entries.map((entry) => [entry.key, entry.versionId, entry.isLatest])).toEqual([
      ['k', NULL_VERSION_ID, true],
    ]);
  });

  it('Suspended: reports the null version RGW does not name, and a refused admission removes only the version it wrote', async () => {
    const bucket = await newBucket();
    await gateway.putBucketVersioning(bucket, 'Enabled');
    const kept = await put(gateway, bucket, 'k', 'kept');
    await gateway.putBucketVersioning(bucket, 'Suspended');
    const refused = gateway.putObject({
      bucket,
      key: 'k',
      body: Readable.from([Buffer.from('refused')]),
      size: 7,
      metadata: { userMetadata: {} },
      admit: async (change) => {
        // A null version replaces nothing here yet: the whole write is new usage.
        expect(change).toEqual({ bytes: 7, objects: 1 });
        throw new S3Error('QuotaExceeded');
      },
    });
    await expect(refused).rejects.toMatchObject({ code: 'QuotaExceeded' });
    const written = await put(gateway, bucket, 'k', 'nul');
    expect(written.versionId).toBe(NULL_VERSION_ID);
    expect((await gateway.headObject({ bucket, key: 'k' })).versionId).toBe(NULL_VERSION_ID);
    expect((await gateway.listObjectVersions({ bucket, maxKeys: 10 })).entries.map((entry) => entry.versionId)).toEqual([NULL_VERSION_ID, kept.versionId]);
    expect(await gateway.local.usage(bucket)).toMatchObject({ bytes: 7, objects: 2 });
  });
});
