import { DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseEnvLines, rgwBackendConnection } from '../../../test/support/ceph-rgw.ts';
import { normaliseTarget, startNormalisingProxy, type NormalisingProxy } from '../../../test/support/normalising-proxy.ts';
import { isS3Error } from '../../errors/s3-errors.ts';
import type { ObjectMetadata, StorageBackend } from '../storage-backend.ts';
import { createS3Backend } from './s3-backend.ts';

const meta = (): ObjectMetadata => ({ userMetadata: {} });
const body = (text: string) => Readable.from([Buffer.from(text)]);
const readAll = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};
const errorCode = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: unknown) => (isS3Error(error) ? error.code : String(error)),
  );

/**
 * Issue #9 item 13: object keys with `.`/`..` segments on the s3 proxy backend, behind a
 * reverse proxy that resolves dot segments (WHATWG URL rules) and re-signs what it forwards.
 * Forwarded verbatim, `incoming/../../cs-other/secret.txt` in bucket A addressed bucket
 * `cs-other`'s object; the backend now sends such keys so that no path segment is `.` or `..`.
 */
describe('s3 proxy backend: keys with dot segments behind a normalising proxy (Ceph RGW)', () => {
  let proxy: NormalisingProxy;
  let backend: StorageBackend;
  let direct: S3Client;
  let stateDir: string;
  const suffix = randomBytes(4).toString('hex');
  const mine = `cs-dots-mine-${suffix}`;
  const other = `cs-dots-other-${suffix}`;

  beforeAll(async () => {
    const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
    const credentials = { accessKeyId: rgw.BACKEND_S3_ACCESS_KEY!, secretAccessKey: rgw.BACKEND_S3_SECRET_KEY!, region: rgw.BACKEND_S3_REGION! };
    proxy = await startNormalisingProxy({ target: rgw.BACKEND_S3_ENDPOINT!, resign: credentials });
    stateDir = await mkdtemp(join(tmpdir(), 'cs-s3-dots-'));
    backend = await createS3Backend({ endpoint: proxy.endpoint, ...credentials, forcePathStyle: true, timeoutMs: 10_000, stateDir });
    // The store as it is, without the proxy: what the names really are.
    direct = new S3Client({
      endpoint: rgw.BACKEND_S3_ENDPOINT,
      region: credentials.region,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
    await backend.createBucket(mine);
    await backend.createBucket(other);
    await direct.send(new PutObjectCommand({ Bucket: other, Key: 'secret.txt', Body: 'the other tenant' }));
  });

  afterAll(async () => {
    // RGW keeps objects in RAM: leave nothing behind.
    for (const bucket of [mine, other]) {
      const listed = await direct.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
      for (const object of listed?.Contents ?? []) await direct.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key! }));
      await direct.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    }
    direct?.destroy();
    await backend?.close();
    await proxy?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  const directKeys = async (bucket: string) => ((await direct.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((object) => object.Key).sort();
  const otherSecret = async () => await direct.send(new GetObjectCommand({ Bucket: other, Key: 'secret.txt' })).then((got) => got.Body!.transformToString());

  it('sends no request target a normaliser would change, and keeps a climbing key inside its own bucket (GET, PUT, copy, DELETE)', async () => {
    const climbing = `incoming/../../${other}/secret.txt`;
    const from = proxy.received.length;

    // Forwarded verbatim, the proxy turned this into GET /<other>/secret.txt and answered it.
    expect(await errorCode(backend.getObject({ bucket: mine, key: climbing }))).toBe('NoSuchKey');
    expect(await errorCode(backend.headObject({ bucket: mine, key: `../${other}/secret.txt` }))).toBe('NoSuchKey');

    await backend.putObject({ bucket: mine, key: climbing, body: body('written by mine'), size: 15, metadata: meta() });
    expect(await otherSecret()).toBe('the other tenant');
    expect(await directKeys(mine)).toEqual([climbing]);
    expect(await readAll((await backend.getObject({ bucket: mine, key: climbing })).body)).toBe('written by mine');

    // Copy with a climbing source and a climbing destination: both stay in `mine`.
    await backend.copyObject({ sourceBucket: mine, sourceKey: climbing, bucket: mine, key: `x/../../${other}/copied.txt`, metadataDirective: 'COPY' });
    expect(await directKeys(other)).toEqual(['secret.txt']);
    expect(await directKeys(mine)).toEqual([climbing, `x/../../${other}/copied.txt`].sort());

    await backend.deleteObject({ bucket: mine, key: climbing });
    await backend.deleteObject({ bucket: mine, key: `x/../../${other}/copied.txt` });
    expect(await otherSecret()).toBe('the other tenant');
    expect(await directKeys(mine)).toEqual([]);

    // Every target the backend sent is one the normaliser leaves as it is.
    const sent = proxy.received.slice(from);
    expect(sent.length).toBeGreaterThan(5);
    for (const target of sent) expect(normaliseTarget(target), target).toBe(target);
  });

  it('round-trips keys with . and .. segments under their own names: PUT, HEAD, GET, copy source, multipart, listing, delete', async () => {
    const keys = ['a/./b', 'a/../b', '../x', './', 'x/..', '../..', 'a//../b'];
    const from = proxy.received.length;
    for (const key of keys) {
      await backend.putObject({ bucket: mine, key, body: body(`body of ${key}`), size: Buffer.byteLength(`body of ${key}`), metadata: meta() });
      expect((await backend.headObject({ bucket: mine, key })).size, key).toBe(Buffer.byteLength(`body of ${key}`));
      expect(await readAll((await backend.getObject({ bucket: mine, key })).body), key).toBe(`body of ${key}`);
    }
    expect(await directKeys(mine)).toEqual([...keys].sort());
    expect((await backend.listObjects({ bucket: mine, maxKeys: 1000 })).contents.map((object) => object.key).sort()).toEqual([...keys].sort());

    // Copy sources with dot segments, to a plain key and to a dot-segment key.
    for (const [index, key] of keys.entries()) {
      await backend.copyObject({ sourceBucket: mine, sourceKey: key, bucket: mine, key: `copy/${index}`, metadataDirective: 'COPY' });
      expect(await readAll((await backend.getObject({ bucket: mine, key: `copy/${index}` })).body), key).toBe(`body of ${key}`);
    }
    await backend.copyObject({ sourceBucket: mine, sourceKey: '../x', bucket: mine, key: 'a/../b', metadataDirective: 'COPY' });
    expect(await readAll((await backend.getObject({ bucket: mine, key: 'a/../b' })).body)).toBe('body of ../x');

    // Multipart, small single-part uploads: one with an uploaded part, one with a part copied from a dot-segment source.
    const key = 'parts/../../done';
    const { uploadId } = await backend.createMultipartUpload({ bucket: mine, key, metadata: meta() });
    expect((await backend.listMultipartUploads({ bucket: mine, maxUploads: 10 })).uploads.map((upload) => upload.key)).toEqual([key]);
    const uploaded = await backend.uploadPart({ bucket: mine, key, uploadId, partNumber: 1, body: body('uploaded part'), size: 13 });
    expect((await backend.listParts({ bucket: mine, key, uploadId, maxParts: 10 })).parts.map((part) => part.partNumber)).toEqual([1]);
    await backend.completeMultipartUpload({ bucket: mine, key, uploadId, parts: [{ partNumber: 1, etag: uploaded.etag }] });
    expect(await readAll((await backend.getObject({ bucket: mine, key })).body)).toBe('uploaded part');
    const copyUpload = await backend.createMultipartUpload({ bucket: mine, key: './part-copy', metadata: meta() });
    const copied = await backend.uploadPartCopy({ bucket: mine, key: './part-copy', uploadId: copyUpload.uploadId, partNumber: 1, sourceBucket: mine, sourceKey: 'x/..' });
    await backend.completeMultipartUpload({ bucket: mine, key: './part-copy', uploadId: copyUpload.uploadId, parts: [{ partNumber: 1, etag: copied.etag }] });
    expect(await readAll((await backend.getObject({ bucket: mine, key: './part-copy' })).body)).toBe('body of x/..');
    expect(await directKeys(mine)).toEqual(expect.arrayContaining([key, './part-copy']));

    // An aborted upload to a dot-segment key.
    const aborted = await backend.createMultipartUpload({ bucket: mine, key: './aborted', metadata: meta() });
    await backend.abortMultipartUpload({ bucket: mine, key: './aborted', uploadId: aborted.uploadId });

    for (const object of (await backend.listObjects({ bucket: mine, maxKeys: 1000 })).contents) await backend.deleteObject({ bucket: mine, key: object.key });
    expect(await directKeys(mine)).toEqual([]);
    expect(await directKeys(other)).toEqual(['secret.txt']);
    for (const target of proxy.received.slice(from)) expect(normaliseTarget(target), target).toBe(target);
  });

  it('round-trips them behind a normalising proxy that forwards the signature as is (no re-signing)', async () => {
    const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
    const plain = await startNormalisingProxy({ target: rgw.BACKEND_S3_ENDPOINT! });
    const plainStateDir = await mkdtemp(join(tmpdir(), 'cs-s3-dots-plain-'));
    const viaPlain = await createS3Backend({ ...rgwBackendConnection(rgw, plain.endpoint), stateDir: plainStateDir });
    try {
      // Sent verbatim, the proxy changed the path under the signature: SignatureDoesNotMatch.
      await viaPlain.putObject({ bucket: mine, key: 'a/../b', body: body('through a plain proxy'), size: 21, metadata: meta() });
      expect(await readAll((await viaPlain.getObject({ bucket: mine, key: 'a/../b' })).body)).toBe('through a plain proxy');
      expect(await directKeys(mine)).toEqual(['a/../b']);
      await viaPlain.deleteObject({ bucket: mine, key: 'a/../b' });
      expect(await directKeys(mine)).toEqual([]);
      expect(plain.forwarded).toEqual(plain.received);
    } finally {
      await viaPlain.close();
      await plain.close();
      await rm(plainStateDir, { recursive: true, force: true });
    }
  });

  it('refuses the keys "." and ".." with InvalidArgument, before anything reaches the store', async () => {
    const from = proxy.received.length;
    for (const key of ['.', '..']) {
      expect(await errorCode(backend.putObject({ bucket: mine, key, body: body('x'), size: 1, metadata: meta() })), key).toBe('InvalidArgument');
      expect(await errorCode(backend.getObject({ bucket: mine, key })), key).toBe('InvalidArgument');
      expect(await errorCode(backend.headObject({ bucket: mine, key })), key).toBe('InvalidArgument');
      expect(await errorCode(backend.deleteObject({ bucket: mine, key })), key).toBe('InvalidArgument');
      expect(await errorCode(backend.createMultipartUpload({ bucket: mine, key, metadata: meta() })), key).toBe('InvalidArgument');
      expect(await errorCode(backend.copyObject({ sourceBucket: mine, sourceKey: key, bucket: mine, key: 'k', metadataDirective: 'COPY' })), key).toBe('InvalidArgument');
    }
    const error = await backend.getObject({ bucket: mine, key: '..' }).catch((caught: unknown) => caught);
    expect(isS3Error(error) && error.status).toBe(400);
    expect((error as Error).message).toMatch(/"\." and "\.\."/);
    expect(proxy.received.slice(from)).toEqual([]);
    expect(await directKeys(mine)).toEqual([]);
  });
});
