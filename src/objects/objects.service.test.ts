import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { loadConfig } from '../config/config.ts';
import { createCore, type Core } from '../core.ts';
import { S3Error } from '../errors/s3-errors.ts';
import type { CommitFacts, DomainEvent, EventLog, JournalHook } from '../events/events.ts';
import { createLogger } from '../logger.ts';
import { createFsBackend } from '../storage/fs/fs-backend.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { BucketRefusedError, ScopeDeniedError } from './objects.errors.ts';
import { createObjectsService, type ObjectsService } from './objects.service.ts';
import type { Principal } from './principal.ts';

/**
 * A real fs backend whose writes record the events their journal hook returns. When the backend
 * calls the hook inside its commit, that is what is recorded; for a write the backend does not
 * journal (yet), the wrapper calls the hook itself after the write with the facts it observed,
 * so the service's hooks are checked either way.
 */
function recordingBackend(inner: StorageBackend): StorageBackend & { journaled: DomainEvent[] } {
  const journaled: DomainEvent[] = [];
  const exists = async (bucket: string, key: string) =>
    inner.headObject({ bucket, key }).then(
      () => true,
      () => false,
    );
  /** Runs `write` with a hook that records; calls the hook with `fallback` facts if the backend never did. */
  async function journaledCall<T>(journal: JournalHook | undefined, write: (hook: JournalHook | undefined) => Promise<T>, fallback: (result: T) => CommitFacts[]): Promise<T> {
    if (!journal) return write(undefined);
    let called = false;
    const hook: JournalHook = (facts) => {
      called = true;
      const events = journal(facts);
      journaled.push(...events);
      return events;
    };
    const result = await write(hook);
    if (!called) for (const facts of fallback(result)) hook(facts);
    return result;
  }
  const wrapper: StorageBackend & { journaled: DomainEvent[] } = Object.create(inner);
  wrapper.journaled = journaled;
  wrapper.putObject = async (input) => {
    const replaced = await exists(input.bucket, input.key);
    return journaledCall(
      input.journal,
      (journal) => inner.putObject({ ...input, journal }),
      (r) => [{ key: input.key, replaced, size: r.size, etag: r.etag, contentType: input.metadata.contentType }],
    );
  };
  wrapper.copyObject = async (input) => {
    const replaced = await exists(input.bucket, input.key);
    return journaledCall(
      input.journal,
      (journal) => inner.copyObject({ ...input, journal }),
      (r) => [{ key: input.key, replaced, size: r.size, etag: r.etag }],
    );
  };
  wrapper.completeMultipartUpload = async (input) => {
    const replaced = await exists(input.bucket, input.key);
    return journaledCall(
      input.journal,
      (journal) => inner.completeMultipartUpload({ ...input, journal }),
      (r) => [{ key: input.key, replaced, size: r.size, etag: r.etag }],
    );
  };
  wrapper.deleteObject = async (input) => {
    const replaced = await exists(input.bucket, input.key);
    return journaledCall(
      input.journal,
      (journal) => inner.deleteObject({ ...input, journal }),
      () => [{ key: input.key, replaced }],
    );
  };
  wrapper.deleteObjects = async (input) => {
    const present = new Set<string>();
    for (const { key } of input.objects) if (await exists(input.bucket, key)) present.add(key);
    return journaledCall(
      input.journal,
      (journal) => inner.deleteObjects({ ...input, journal }),
      (r) => r.deleted.filter(({ key }) => present.has(key)).map(({ key }) => ({ key, replaced: true })),
    );
  };
  wrapper.putObjectTagging = (input) =>
    journaledCall(
      input.journal,
      (journal) => inner.putObjectTagging({ ...input, journal }),
      () => [{ key: input.key, replaced: true }],
    );
  wrapper.deleteObjectTagging = (input) =>
    journaledCall(
      input.journal,
      (journal) => inner.deleteObjectTagging({ ...input, journal }),
      () => [{ key: input.key, replaced: true }],
    );
  return wrapper;
}

/** The event log's `append`, in memory (the real one is another module's; the service only appends). */
function memoryEventLog(): Pick<EventLog, 'append'> & { appended: DomainEvent[] } {
  const appended: DomainEvent[] = [];
  return {
    appended,
    async append(events) {
      appended.push(...events);
    },
  };
}

const body = (text: string) => ({ body: Readable.from([Buffer.from(text)]), size: Buffer.byteLength(text) });

describe('objects service', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: { quotaBytes?: number } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'cs-objects-service-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const clock = fixedClock('2026-03-01T10:00:00Z');
    const logger = createLogger('error');
    const backend = recordingBackend(await createFsBackend({ dataDir: join(dir, 'objects'), fsync: false, clock, logger }));
    const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'error', FS_FSYNC: false });
    const core: Core = await createCore({ config, clock, logger, backend });
    cleanups.push(() => core.close());
    const events = memoryEventLog();
    const objects: ObjectsService = createObjectsService({ backend, buckets: core.bucketsUsecases, quotas: core.quotasUsecases, clock, events, logger });
    const account = async (email: string) => {
      const { user } = await core.accountsUsecases.createAccount({ email, password: 'correct horse battery staple' });
      if (options.quotaBytes !== undefined) await core.quotasUsecases.setQuota(user.id, options.quotaBytes);
      return user.id;
    };
    const alice = await account('alice@example.com');
    const principal: Principal = { accountId: alice, actor: { kind: 'key', id: 'CSALICEKEY' }, scope: { permission: 'readwrite' }, clientAddress: '192.0.2.7' };
    const put = (key: string, text: string, p: Principal = principal, bucket = 'default') =>
      objects.putObject(p, { bucket, key, metadata: { userMetadata: {}, contentType: 'text/plain' }, reserveBytes: Buffer.byteLength(text), open: () => body(text) });
    return { core, backend, events, objects, account, alice, principal, put, clock };
  }

  it('versioned methods: bucket state, reads, tagging and copies by versionId; deletes report and journal the marker or version; the key keeps its ACL while a version remains', async () => {
    const { core, backend, objects, principal, put, alice, clock } = await setup();
    // The same service with the ACL store, as the servers compose it.
    const withAcls = createObjectsService({ backend, buckets: core.bucketsUsecases, quotas: core.quotasUsecases, clock, acls: core.acls });
    expect(await objects.getBucketVersioning(principal, 'default')).toBe('Unversioned');
    const reader: Principal = { ...principal, scope: { permission: 'read' } };
    await expect(objects.putBucketVersioning(reader, 'default', 'Enabled')).rejects.toBeInstanceOf(ScopeDeniedError);
    const prefixed: Principal = { ...principal, scope: { permission: 'readwrite', prefix: 'docs/' } };
    await expect(objects.putBucketVersioning(prefixed, 'default', 'Enabled')).rejects.toBeInstanceOf(ScopeDeniedError);
    await objects.putBucketVersioning(principal, 'default', 'Enabled');
    expect(await objects.getBucketVersioning(reader, 'default')).toBe('Enabled');

    const v1 = (await put('docs/a.txt', 'one')).versionId!;
    const v2 = (await put('docs/a.txt', 'two!')).versionId!;
    expect(v1).not.toBe(v2);
    expect((await objects.headObject(principal, { bucket: 'default', key: 'docs/a.txt', versionId: v1 })).size).toBe(3);
    const old = await objects.getObject(reader, { bucket: 'default', key: 'docs/a.txt', versionId: v1 });
    old.body.resume();
    expect(old.info.versionId).toBe(v1);
    await objects.putObjectTagging(principal, { bucket: 'default', key: 'docs/a.txt', versionId: v1, tags: { era: 'old' } });
    expect(await objects.getObjectTagging(principal, { bucket: 'default', key: 'docs/a.txt', versionId: v1 })).toEqual({ era: 'old' });
    expect(await objects.getObjectTagging(principal, { bucket: 'default', key: 'docs/a.txt' })).toEqual({});
    // Restoring by copying a version onto its own key is allowed (the current object onto itself is not).
    const restored = await objects.copyObject(principal, {
      bucket: 'default',
      key: 'docs/a.txt',
      source: { bucket: 'default', key: 'docs/a.txt', versionId: v1 },
      metadataDirective: 'COPY',
      taggingDirective: 'COPY',
    });
    expect(restored.versionId).toBeDefined();
    const listed = await objects.listObjectVersions(reader, { bucket: 'default', prefix: 'docs/', maxKeys: 10 });
    expect(listed.entries.map((entry) => [entry.versionId, entry.isLatest])).toEqual([
      [restored.versionId, true],
      [v2, false],
      [v1, false],
    ]);
    await expect(objects.listObjectVersions(prefixed, { bucket: 'default', maxKeys: 10 })).rejects.toBeInstanceOf(ScopeDeniedError);

    // A public ACL on the key; a delete makes a marker and keeps it.
    await withAcls.putObjectAcl(principal, { bucket: 'default', key: 'docs/a.txt', acl: 'public-read' });
    const bucketId = (await core.bucketsUsecases.list(alice)).find((bucket) => bucket.name === 'default')!.id;
    backend.journaled.length = 0;
    const marker = await withAcls.deleteObject(principal, { bucket: 'default', key: 'docs/a.txt' });
    expect(marker.deleteMarker).toBe(true);
    expect(await core.acls.get(bucketId, 'docs/a.txt')).toBe('public-read');
    await expect(withAcls.deleteObject(reader, { bucket: 'default', key: 'docs/a.txt', versionId: v1 })).rejects.toBeInstanceOf(ScopeDeniedError);
    const removed = await withAcls.deleteObject(principal, { bucket: 'default', key: 'docs/a.txt', versionId: v1 });
    expect(removed).toEqual({ versionId: v1 });
    expect(await core.acls.get(bucketId, 'docs/a.txt')).toBe('public-read');
    const batch = await withAcls.deleteObjects(principal, {
      bucket: 'default',
      objects: async () => [
        { key: 'docs/a.txt', versionId: v2 },
        { key: 'docs/a.txt', versionId: restored.versionId },
        { key: 'docs/a.txt', versionId: marker.versionId },
      ],
    });
    expect(batch.errors).toEqual([]);
    // The last version went: the key's ACL row with it.
    expect(await core.acls.get(bucketId, 'docs/a.txt')).toBeUndefined();
    expect(backend.journaled.map((event) => [event.type, event.versionId, event.detail])).toEqual([
      ['object.deleted', marker.versionId, { deleteMarker: true }],
      ['object.deleted', v1, { deleteMarker: false }],
      ['object.deleted', v2, { deleteMarker: false }],
      ['object.deleted', restored.versionId, { deleteMarker: false }],
      ['object.deleted', marker.versionId, { deleteMarker: true }],
    ]);
    expect((await objects.listObjectVersions(principal, { bucket: 'default', maxKeys: 10 })).entries).toEqual([]);
  });

  it('journals object.created, object.updated (overwrite, tagging) and object.deleted with the account, actor, client address and object facts', async () => {
    const { backend, objects, principal, put, alice } = await setup();
    const created = await put('docs/a.txt', 'hello');
    await put('docs/a.txt', 'hello, world');
    await objects.copyObject(principal, {
      bucket: 'default',
      key: 'docs/b.txt',
      source: { bucket: 'default', key: 'docs/a.txt' },
      metadataDirective: 'COPY',
      taggingDirective: 'COPY',
    });
    await objects.putObjectTagging(principal, { bucket: 'default', key: 'docs/b.txt', tags: async () => ({ team: 'blue' }) });
    await objects.deleteObject(principal, { bucket: 'default', key: 'docs/a.txt' });
    await objects.deleteObject(principal, { bucket: 'default', key: 'docs/never-there' });
    const batch = await objects.deleteObjects(principal, { bucket: 'default', objects: [{ key: 'docs/b.txt' }, { key: 'docs/missing' }] });
    expect(batch.errors).toEqual([]);

    const summary = backend.journaled.map((event) => [event.type, event.key, event.detail?.change ?? null]);
    expect(summary).toEqual([
      ['object.created', 'docs/a.txt', null],
      ['object.updated', 'docs/a.txt', 'overwrite'],
      ['object.created', 'docs/b.txt', null],
      ['object.updated', 'docs/b.txt', 'tagging'],
      ['object.deleted', 'docs/a.txt', null],
      ['object.deleted', 'docs/b.txt', null],
    ]);
    const first = backend.journaled[0]!;
    expect(first).toMatchObject({
      accountId: alice,
      actor: { kind: 'key', id: 'CSALICEKEY' },
      clientAddress: '192.0.2.7',
      bucket: 'default', // the account's name, never the backend's
      size: 5,
      etag: created.etag,
      contentType: 'text/plain',
      time: '2026-03-01T10:00:00.000Z',
    });
    expect(backend.journaled[1]).toMatchObject({ size: 12 });
    expect(new Set(backend.journaled.map((event) => event.id)).size).toBe(backend.journaled.length);
  });

  it('journals a completed multipart upload as object.created', async () => {
    const { backend, objects, principal } = await setup();
    const { uploadId } = await objects.createMultipartUpload(principal, { bucket: 'default', key: 'big.bin', metadata: { userMetadata: {} } });
    const part = await objects.uploadPart(principal, { bucket: 'default', key: 'big.bin', uploadId, partNumber: 1, reserveBytes: 3, open: () => body('abc') });
    const done = await objects.completeMultipartUpload(principal, { bucket: 'default', key: 'big.bin', uploadId, parts: async () => [{ partNumber: 1, etag: part.etag }] });
    expect(backend.journaled.map((event) => [event.type, event.key, event.size, event.etag])).toEqual([['object.created', 'big.bin', 3, done.etag]]);
  });

  it("refuses what the key's scope does not allow, before resolving the bucket, and stores nothing", async () => {
    const { backend, objects, principal, put } = await setup();
    await put('public/a.txt', 'a');
    await put('private/b.txt', 'b');
    const reader: Principal = { ...principal, scope: { permission: 'read' } };
    await expect(put('public/c.txt', 'c', reader)).rejects.toBeInstanceOf(ScopeDeniedError);
    // A bucket outside the scope is AccessDenied whether or not it exists.
    const bucketScoped: Principal = { ...principal, scope: { permission: 'readwrite', buckets: ['default'] } };
    await expect(objects.getObject(bucketScoped, { bucket: 'nowhere', key: 'x' })).rejects.toMatchObject({ code: 'AccessDenied' });
    // A prefix key may not copy an object from outside its prefix into it.
    const prefixed: Principal = { ...principal, scope: { permission: 'readwrite', prefix: 'public/' } };
    const copy = objects.copyObject(prefixed, {
      bucket: 'default',
      key: 'public/stolen.txt',
      source: { bucket: 'default', key: 'private/b.txt' },
      metadataDirective: 'COPY',
      taggingDirective: 'COPY',
    });
    await expect(copy).rejects.toBeInstanceOf(ScopeDeniedError);
    // DeleteObjects: the allowed keys are deleted, each denied one is an AccessDenied entry.
    let bodyRead = false;
    const batch = await objects.deleteObjects(prefixed, {
      bucket: 'default',
      objects: async () => {
        bodyRead = true;
        return [{ key: 'public/a.txt' }, { key: 'private/b.txt' }];
      },
    });
    expect(bodyRead).toBe(true);
    expect(batch.deleted).toEqual([{ key: 'public/a.txt' }]);
    expect(batch.errors).toEqual([{ key: 'private/b.txt', code: 'AccessDenied', message: 'Access Denied' }]);
    // A batch the scope refuses outright is refused before its body is read.
    let refusedBodyRead = false;
    const refused = objects.deleteObjects(reader, {
      bucket: 'default',
      objects: async () => {
        refusedBodyRead = true;
        return [{ key: 'public/a.txt' }];
      },
    });
    await expect(refused).rejects.toBeInstanceOf(ScopeDeniedError);
    expect(refusedBodyRead).toBe(false);
    await expect(objects.headObject(principal, { bucket: 'default', key: 'public/c.txt' })).rejects.toMatchObject({ code: 'NoSuchKey' });
    await expect(objects.headObject(principal, { bucket: 'default', key: 'public/stolen.txt' })).rejects.toMatchObject({ code: 'NoSuchKey' });
    expect(backend.journaled.map((event) => event.key)).toEqual(['public/a.txt', 'private/b.txt', 'public/a.txt']);
  });

  it("answers another account's bucket (also as a copy source) exactly like nobody's: NoSuchBucket", async () => {
    const { core, objects, account, principal } = await setup();
    const bob = await account('bob@example.com');
    const bobPrincipal: Principal = { accountId: bob, actor: { kind: 'session', id: bob } };
    // `bobs-bucket` exists only in Bob's namespace.
    const bobsBucket = 'bobs-bucket';
    await core.bucketsUsecases.create(bob, bobsBucket);
    await objects.putObject(bobPrincipal, { bucket: bobsBucket, key: 'secret.txt', metadata: { userMetadata: {} }, reserveBytes: 6, open: () => body('secret') });
    const getForeign = objects.getObject(principal, { bucket: bobsBucket, key: 'secret.txt' });
    await expect(getForeign).rejects.toBeInstanceOf(BucketRefusedError);
    await expect(getForeign).rejects.toMatchObject({ code: 'NoSuchBucket', status: 404, reason: 'foreign', details: { BucketName: bobsBucket } });
    const copyForeign = objects.copyObject(principal, {
      bucket: 'default',
      key: 'copy.txt',
      source: { bucket: bobsBucket, key: 'secret.txt' },
      metadataDirective: 'COPY',
      taggingDirective: 'COPY',
    });
    await expect(copyForeign).rejects.toMatchObject({ code: 'NoSuchBucket', status: 404, reason: 'foreign' });
    const missing = objects.listObjects(principal, { bucket: 'nobodys-bucket', maxKeys: 10 });
    await expect(missing).rejects.toMatchObject({ code: 'NoSuchBucket', status: 404, details: { BucketName: 'nobodys-bucket' } });
    await expect(objects.headObject(principal, { bucket: 'default', key: 'copy.txt' })).rejects.toMatchObject({ code: 'NoSuchKey' });
  });

  it('appends quota.warning once when a write takes usage across 80 % of the quota, and quota.exceeded when one is refused', async () => {
    const { events, put, alice, backend } = await setup({ quotaBytes: 1000 });
    await put('a', 'x'.repeat(700));
    expect(events.appended).toEqual([]);
    await put('b', 'x'.repeat(150)); // 850 of 1000: crosses 800
    expect(events.appended.map((event) => [event.type, event.detail])).toEqual([['quota.warning', { usedBytes: 850, quotaBytes: 1000 }]]);
    expect(events.appended[0]).toMatchObject({ accountId: alice, actor: { kind: 'key', id: 'CSALICEKEY' }, bucket: 'default', key: 'b' });
    await put('c', 'x'.repeat(50)); // already above: no second warning
    expect(events.appended).toHaveLength(1);

    const refused = put('d', 'x'.repeat(200));
    await expect(refused).rejects.toBeInstanceOf(S3Error);
    await expect(refused).rejects.toMatchObject({ code: 'QuotaExceeded' });
    expect(events.appended.map((event) => event.type)).toEqual(['quota.warning', 'quota.exceeded']);
    expect(events.appended[1]).toMatchObject({ key: 'd', detail: { usedBytes: 900, quotaBytes: 1000, requestedBytes: 200 } });
    expect(backend.journaled.map((event) => event.key)).toEqual(['a', 'b', 'c']);
  });
});
