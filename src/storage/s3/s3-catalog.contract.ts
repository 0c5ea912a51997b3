/**
 * The behavioural contract of the proxy backend's catalog (`S3Catalog`), run on both
 * implementations: the SQLite file (s3-catalog.sqlite.test.ts) and PostgreSQL
 * (s3-catalog.pg.test.ts). The s3 backend contract suites then run the whole backend on each.
 *
 * Usage (inside a *.test.ts file):
 *   runS3CatalogContract('sqlite', async () => ({ open, cleanup }));
 *
 * `open()` returns another catalog instance over the SAME store (a second gateway: another pool,
 * another SQLite connection); the suite opens two and closes them. `cleanup` removes the store.
 * Each test works in its own buckets, so the instances may be shared by the whole suite.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitFacts, DomainEvent, JournalHook } from '../../events/events.ts';
import { NULL_VERSION_ID } from '../storage-backend.ts';
import type { S3Catalog } from './s3-catalog.ts';

export interface CatalogStore {
  /** A new catalog instance over the store (a gateway). */
  open(): Promise<S3Catalog>;
  /** Removes the store (its database or file); the suite has closed its instances. */
  cleanup(): Promise<void>;
}

const CRC = { algorithm: 'CRC32' as const, value: 'AAAAAA==', type: 'FULL_OBJECT' as const };

/** A hook that journals one event per call, remembering the facts it got. */
function recordingHook(label: string) {
  const calls: CommitFacts[] = [];
  const returned: DomainEvent[] = [];
  const hook: JournalHook = (facts) => {
    calls.push(facts);
    const event: DomainEvent = {
      id: `${label}-${calls.length}-${randomBytes(6).toString('hex')}`,
      type: 'object.created',
      time: '2026-01-01T00:00:00.000Z',
      accountId: 'catalog-contract',
      actor: { kind: 'system', id: 'contract' },
      key: facts.key,
    };
    returned.push(event);
    return [event];
  };
  return { hook, calls, returned };
}

export function runS3CatalogContract(name: string, makeStore: () => Promise<CatalogStore>): void {
  describe(`s3 catalog contract: ${name}`, () => {
    let store: CatalogStore;
    let catalog: S3Catalog;
    // The second gateway over the same store.
    let other: S3Catalog;

    beforeAll(async () => {
      store = await makeStore();
      catalog = await store.open();
      other = await store.open();
    });
    afterAll(async () => {
      await catalog?.close();
      await other?.close();
      await store?.cleanup();
    });

    const newBucket = () => `cat-${randomBytes(5).toString('hex')}`;

    /** Acks everything journaled so far, so a test sees only its own entries. */
    async function drainJournal(): Promise<void> {
      for (;;) {
        const entries = await catalog.eventJournal.readJournal(1000);
        if (entries.length === 0) return;
        await catalog.eventJournal.ackJournal(entries.map((entry) => entry.seq));
      }
    }
    const journaled = async () => (await catalog.eventJournal.readJournal(1000)).map((entry) => entry.event);

    it('keeps usage counters: unknown bucket, set, ensure (which never resets), drop', async () => {
      const bucket = newBucket();
      expect(await catalog.usage(bucket)).toBeUndefined();
      await catalog.ensureBucket(bucket);
      expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });
      // Beyond 32 bits: sizes and counters are 64-bit.
      await catalog.setUsage(bucket, { bytes: 5_000_000_000_123, objects: 3, multipartBytes: 7 });
      await other.ensureBucket(bucket);
      expect(await other.usage(bucket)).toEqual({ bytes: 5_000_000_000_123, objects: 3, multipartBytes: 7 });
      await catalog.setVersioning(bucket, 'Enabled');
      await catalog.dropBucket(bucket);
      expect(await catalog.usage(bucket)).toBeUndefined();
      expect(await catalog.versioning(bucket)).toBeUndefined();
    });

    it('records objects of an Unversioned bucket as null versions: sizes, overwrite deltas, checksums by ETag', async () => {
      const bucket = newBucket();
      // A key with bytes outside ASCII, and one that differs only after them.
      const key = 'dir/é\u{1F600}';
      expect(await catalog.recordObject(bucket, key, undefined, 5_000_000_000, '"e1"', CRC)).toEqual({ bytes: 5_000_000_000, objects: 1 });
      expect(await catalog.recordObject(bucket, `${key}x`, undefined, 3, '"e2"', undefined)).toEqual({ bytes: 3, objects: 1 });
      expect(await other.recordObject(bucket, key, undefined, 10, '"e3"', undefined)).toEqual({ bytes: 10 - 5_000_000_000, objects: 0 });
      expect(await catalog.usage(bucket)).toEqual({ bytes: 13, objects: 2, multipartBytes: 0 });
      expect(await catalog.object(bucket, key)).toEqual({ versionId: NULL_VERSION_ID, deleteMarker: false, size: 10, etag: '"e3"' });
      expect(await catalog.latest(bucket, key)).toMatchObject({ versionId: NULL_VERSION_ID, size: 10 });
      expect(await catalog.version(bucket, key, NULL_VERSION_ID)).toMatchObject({ size: 10 });
      expect(await catalog.replaceable(bucket, key)).toEqual({ size: 10 });
      expect(await catalog.replaceable(bucket, 'missing')).toBeUndefined();
      // The checksum went with the overwrite; a new one is returned only while the ETag matches.
      expect(await catalog.checksumFor(bucket, key, '"e3"', undefined)).toBeUndefined();
      await catalog.recordObject(bucket, key, undefined, 10, '"e4"', CRC);
      expect(await catalog.checksumFor(bucket, key, '"e4"', undefined)).toEqual(CRC);
      expect(await catalog.checksumFor(bucket, key, '"e4"', NULL_VERSION_ID)).toEqual(CRC);
      expect(await catalog.checksumFor(bucket, key, '"changed-behind"', undefined)).toBeUndefined();
      expect(await catalog.object(bucket, key)).toEqual({ versionId: NULL_VERSION_ID, deleteMarker: false, size: 10, etag: '"e4"', checksum: CRC });
      expect(await catalog.readFacts(bucket, key, undefined, '"e4"')).toEqual({ checksum: CRC });
      expect(await catalog.readFacts(bucket, key, NULL_VERSION_ID, '"other"')).toEqual({});
      await catalog.setVersioning(bucket, 'Unversioned');
      expect(await catalog.readFacts(bucket, key, undefined, '"e4"')).toEqual({ versioning: 'Unversioned', checksum: CRC });
    });

    it('records versions: each counts, the latest is the last recorded, a rewritten null version becomes the latest', async () => {
      const bucket = newBucket();
      await catalog.recordObject(bucket, 'k', undefined, 4, '"n1"', undefined);
      await catalog.setVersioning(bucket, 'Enabled');
      expect(await catalog.versioning(bucket)).toBe('Enabled');
      expect(await catalog.replaceable(bucket, 'k')).toBeUndefined();
      expect(await catalog.recordObject(bucket, 'k', 'v1', 6, '"v1"', CRC)).toEqual({ bytes: 6, objects: 1 });
      expect(await other.recordObject(bucket, 'k', 'v2', 8, '"v2"', undefined)).toEqual({ bytes: 8, objects: 1 });
      expect(await catalog.usage(bucket)).toEqual({ bytes: 18, objects: 3, multipartBytes: 0 });
      expect(await catalog.latest(bucket, 'k')).toMatchObject({ versionId: 'v2', size: 8 });
      expect(await catalog.version(bucket, 'k', 'v1')).toEqual({ versionId: 'v1', deleteMarker: false, size: 6, etag: '"v1"', checksum: CRC });
      expect(await catalog.readFacts(bucket, 'k', 'v1', '"v1"')).toEqual({ versioning: 'Enabled', checksum: CRC });
      await catalog.setVersioning(bucket, 'Suspended');
      expect(await catalog.replaceable(bucket, 'k')).toEqual({ size: 4 });
      // Suspended: the write replaces the null version, which becomes the key's latest.
      expect(await catalog.recordObject(bucket, 'k', NULL_VERSION_ID, 1, '"n2"', undefined)).toEqual({ bytes: -3, objects: 0 });
      expect(await catalog.latest(bucket, 'k')).toMatchObject({ versionId: NULL_VERSION_ID, size: 1, etag: '"n2"' });
      expect(await catalog.usage(bucket)).toEqual({ bytes: 15, objects: 3, multipartBytes: 0 });
    });

    it('records delete markers and deletes by version id, and reports which removed version was a marker', async () => {
      const bucket = newBucket();
      await catalog.setVersioning(bucket, 'Enabled');
      await catalog.recordObject(bucket, 'k', 'v1', 5, '"v1"', undefined);
      expect(await catalog.recordDeletes(bucket, [{ key: 'k', markerVersionId: 'm1' }])).toEqual([false]);
      expect(await catalog.object(bucket, 'k')).toBeUndefined();
      expect(await catalog.latest(bucket, 'k')).toEqual({ versionId: 'm1', deleteMarker: true, size: 0, etag: '' });
      // A marker stores nothing and frees nothing.
      expect(await catalog.usage(bucket)).toEqual({ bytes: 5, objects: 1, multipartBytes: 0 });
      expect(await other.recordDeletes(bucket, [{ key: 'k', versionId: 'm1' }])).toEqual([true]);
      expect(await catalog.object(bucket, 'k')).toMatchObject({ versionId: 'v1' });
      expect(
        await catalog.recordDeletes(bucket, [
          { key: 'k', versionId: 'v1' },
          { key: 'gone', versionId: 'x', removedMarker: true },
        ]),
      ).toEqual([false, true]);
      expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });
      expect(await catalog.latest(bucket, 'k')).toBeUndefined();

      // Suspended: a `null` marker replaces the null version, freeing it.
      await catalog.recordObject(bucket, 'n', NULL_VERSION_ID, 3, '"n"', undefined);
      await catalog.recordDeletes(bucket, [{ key: 'n', markerVersionId: NULL_VERSION_ID }]);
      expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });
      expect(await catalog.latest(bucket, 'n')).toMatchObject({ versionId: NULL_VERSION_ID, deleteMarker: true });

      // Unversioned (neither id): the null version goes.
      const plain = newBucket();
      await catalog.recordObject(plain, 'p', undefined, 9, '"p"', undefined);
      await catalog.recordDeletes(plain, [{ key: 'p' }, { key: 'never-there' }]);
      expect(await catalog.usage(plain)).toEqual({ bytes: 0, objects: 0, multipartBytes: 0 });
      expect(await catalog.object(plain, 'p')).toBeUndefined();
    });

    it('keeps multipart uploads: parts count as multipart bytes until completion or abort; the completion is remembered', async () => {
      const bucket = newBucket();
      await catalog.recordUpload('up-1', bucket, 'CRC32', { colour: 'blue' });
      expect(await catalog.upload('up-1')).toEqual({ bucket, checksum_algorithm: 'CRC32', tags: JSON.stringify({ colour: 'blue' }) });
      expect(await catalog.uploadInitiated('up-1')).toBeGreaterThan(0);
      expect(await catalog.recordPart('up-1', bucket, 1, 6, '"p1"', 'c1')).toEqual({ bytes: 6, objects: 0 });
      expect(await other.recordPart('up-1', bucket, 2, 4, '"p2"', undefined)).toEqual({ bytes: 4, objects: 0 });
      // A part uploaded again replaces the earlier one.
      expect(await catalog.recordPart('up-1', bucket, 1, 5, '"p1b"', 'c1b')).toEqual({ bytes: -1, objects: 0 });
      expect(await catalog.partSize('up-1', 1)).toBe(5);
      expect(await catalog.partSize('up-1', 3)).toBeUndefined();
      expect(await catalog.partsTotal('up-1')).toBe(9);
      expect(await catalog.parts('up-1')).toEqual([
        { part_number: 1, size: 5, etag: '"p1b"', checksum_value: 'c1b' },
        { part_number: 2, size: 4, etag: '"p2"', checksum_value: null },
      ]);
      expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: 9 });
      // A part of an upload started elsewhere (not through the gateway) registers the upload.
      await catalog.recordPart('up-elsewhere', bucket, 1, 2, '"x"', undefined);
      expect(await catalog.upload('up-elsewhere')).toEqual({ bucket, checksum_algorithm: null, tags: null });
      expect(await catalog.countUploads(bucket)).toBe(2);

      const parts = [
        { partNumber: 1, size: 5, checksum: { ...CRC, value: 'c1b' } },
        { partNumber: 2, size: 4 },
      ];
      const change = await catalog.completeUpload('up-1', bucket, 'mp', undefined, 9, '"mp-2"', CRC, undefined, undefined, { parts, completion: '{"answer":1}' });
      // The object's bytes minus the parts it retired.
      expect(change).toEqual({ bytes: 0, objects: 1 });
      expect(await catalog.usage(bucket)).toEqual({ bytes: 9, objects: 1, multipartBytes: 2 });
      expect(await catalog.object(bucket, 'mp')).toEqual({ versionId: NULL_VERSION_ID, deleteMarker: false, size: 9, etag: '"mp-2"', checksum: CRC, parts });
      expect(await catalog.upload('up-1')).toBeUndefined();
      expect(await catalog.parts('up-1')).toEqual([]);
      expect(await other.completion('up-1', bucket, 'mp')).toBe('{"answer":1}');
      expect(await catalog.completion('up-1', bucket, 'other-key')).toBeUndefined();

      await catalog.abortUpload('up-elsewhere', bucket);
      expect(await catalog.usage(bucket)).toEqual({ bytes: 9, objects: 1, multipartBytes: 0 });
      expect(await catalog.countUploads(bucket)).toBe(0);
      // The next write replaces the object and its layout.
      await catalog.recordObject(bucket, 'mp', undefined, 1, '"plain"', undefined);
      expect((await catalog.object(bucket, 'mp'))?.parts).toBeUndefined();

      await catalog.dropBucket(bucket);
      expect(await catalog.completion('up-1', bucket, 'mp')).toBeUndefined();
    });

    describe('conditional-write claims', () => {
      it('a live claim excludes every other; a released or lapsed one does not', async () => {
        const bucket = newBucket();
        const claim = await catalog.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 1_000, 500);
        await expect(other.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 1_100, 500)).rejects.toMatchObject({ code: 'ConditionalRequestConflict' });
        // Another key is free.
        await other.claimKey(bucket, 'k2', { ifNoneMatch: '*' }, 1_100, 500);
        // Releasing with another id changes nothing.
        await other.releaseClaim(bucket, 'k', 'not-the-claim');
        await expect(other.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 1_200, 500)).rejects.toMatchObject({ code: 'ConditionalRequestConflict' });
        await catalog.releaseClaim(bucket, 'k', claim);
        const next = await other.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 1_300, 500);
        expect(next).not.toBe(claim);
        // A claim of a process that died lapses at its expiry.
        await catalog.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 1_800, 500);
      });

      it('evaluates the conditions against the current object (a delete marker holds none) or what a HEAD found', async () => {
        const bucket = newBucket();
        await catalog.setVersioning(bucket, 'Enabled');
        await catalog.recordObject(bucket, 'k', 'v1', 3, '"abc"', undefined);
        await expect(catalog.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 0, 1000)).rejects.toMatchObject({ code: 'PreconditionFailed' });
        await expect(catalog.claimKey(bucket, 'k', { ifMatch: '"other"' }, 0, 1000)).rejects.toMatchObject({ code: 'PreconditionFailed' });
        await expect(catalog.claimKey(bucket, 'missing', { ifMatch: '"abc"' }, 0, 1000)).rejects.toMatchObject({ code: 'NoSuchKey' });
        // A refused condition claimed nothing.
        await catalog.releaseClaim(bucket, 'k', await catalog.claimKey(bucket, 'k', { ifMatch: 'abc' }, 0, 1000));
        await catalog.recordDeletes(bucket, [{ key: 'k', markerVersionId: 'm' }]);
        await catalog.releaseClaim(bucket, 'k', await catalog.claimKey(bucket, 'k', { ifNoneMatch: '*' }, 0, 1000));
        // For a bucket the catalog does not track: the object a HEAD found, or none (null).
        await expect(catalog.claimKey(bucket, 'h', { ifNoneMatch: '*' }, 0, 1000, { etag: '"x"' })).rejects.toMatchObject({ code: 'PreconditionFailed' });
        await catalog.releaseClaim(bucket, 'h', await catalog.claimKey(bucket, 'h', { ifNoneMatch: '*' }, 0, 1000, null));
      });

      it('of racing claims from two gateways, exactly one wins', async () => {
        const bucket = newBucket();
        for (let round = 0; round < 5; round++) {
          const attempts = Array.from({ length: 6 }, (_, index) => (index % 2 === 0 ? catalog : other).claimKey(bucket, `race-${round}`, { ifNoneMatch: '*' }, 0, 60_000));
          const outcomes = await Promise.allSettled(attempts);
          expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
          for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ code: 'ConditionalRequestConflict' });
        }
      });
    });

    describe('journal', () => {
      it('journals what the hooks return with the facts of each commit, in order; acks tolerate entries already gone', async () => {
        await drainJournal();
        const bucket = newBucket();
        let heard = 0;
        const unsubscribe = catalog.eventJournal.onJournaled(() => heard++);
        const put = recordingHook('put');
        await catalog.recordObject(bucket, 'k', undefined, 5, '"e1"', undefined, put.hook, 'text/plain');
        await catalog.recordObject(bucket, 'k', undefined, 6, '"e2"', undefined, put.hook);
        const removal = recordingHook('delete');
        await catalog.recordDeletes(bucket, [{ key: 'k' }, { key: 'absent' }], removal.hook);
        await catalog.recordDeletes(bucket, [{ key: 'absent' }], removal.hook, true);
        const tagging = recordingHook('tagging');
        await catalog.recordObject(bucket, 't', undefined, 2, '"t"', undefined);
        await catalog.journalChange(tagging.hook, { bucket, key: 't', replaced: true });
        expect(put.calls).toEqual([
          { key: 'k', replaced: false, size: 5, etag: '"e1"', contentType: 'text/plain' },
          { key: 'k', replaced: true, size: 6, etag: '"e2"' },
        ]);
        expect(removal.calls).toEqual([
          { key: 'k', replaced: true, size: 6, etag: '"e2"' },
          { key: 'absent', replaced: false },
        ]);
        expect(tagging.calls).toEqual([{ key: 't', replaced: true, size: 2, etag: '"t"' }]);
        const entries = await catalog.eventJournal.readJournal(1000);
        expect(entries.map((entry) => entry.event)).toEqual([...put.returned, ...removal.returned, ...tagging.returned]);
        // The other gateway reads the same journal.
        expect(await other.eventJournal.readJournal(2)).toEqual(entries.slice(0, 2));
        await other.eventJournal.ackJournal(entries.slice(0, 2).map((entry) => entry.seq));
        await catalog.eventJournal.ackJournal(entries.map((entry) => entry.seq));
        expect(await journaled()).toEqual([]);
        for (let turn = 0; turn < 10 && heard === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
        expect(heard).toBeGreaterThan(0);
        unsubscribe();
      });

      it('a change that fails in its transaction records nothing and journals nothing', async () => {
        await drainJournal();
        const bucket = newBucket();
        await catalog.recordUpload('up-rollback', bucket, undefined, undefined);
        await catalog.recordPart('up-rollback', bucket, 1, 7, '"p"', undefined);
        const failing: JournalHook = () => {
          throw new Error('hook failed inside the commit');
        };
        await expect(catalog.recordObject(bucket, 'k', undefined, 5, '"e"', undefined, failing)).rejects.toThrow('hook failed inside the commit');
        await expect(
          catalog.completeUpload('up-rollback', bucket, 'mp', undefined, 7, '"mp-1"', undefined, failing, undefined, {
            parts: [{ partNumber: 1, size: 7 }],
            completion: '{}',
          }),
        ).rejects.toThrow('hook failed inside the commit');
        expect(await catalog.object(bucket, 'k')).toBeUndefined();
        expect(await catalog.object(bucket, 'mp')).toBeUndefined();
        expect(await catalog.completion('up-rollback', bucket, 'mp')).toBeUndefined();
        expect(await catalog.partsTotal('up-rollback')).toBe(7);
        expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: 7 });
        expect(await journaled()).toEqual([]);
      });
    });

    it('concurrent writes from two gateways add up exactly', async () => {
      const bucket = newBucket();
      const sizes = Array.from({ length: 40 }, (_, index) => 1 + ((index * 37) % 101));
      await Promise.all(sizes.map((size, index) => (index % 2 === 0 ? catalog : other).recordObject(bucket, `k${index}`, undefined, size, `"e${index}"`, undefined)));
      const total = sizes.reduce((sum, size) => sum + size, 0);
      expect(await catalog.usage(bucket)).toEqual({ bytes: total, objects: sizes.length, multipartBytes: 0 });
      // Overwrites racing on one key: usage ends as the size of whichever write is recorded last.
      await Promise.all(sizes.map((size, index) => (index % 2 === 0 ? other : catalog).recordObject(bucket, 'hot', undefined, size, `"h${index}"`, undefined)));
      const hot = await catalog.object(bucket, 'hot');
      expect(await catalog.usage(bucket)).toEqual({ bytes: total + hot!.size, objects: sizes.length + 1, multipartBytes: 0 });
      // Parts of one upload from both gateways, and their deletes, likewise.
      await Promise.all(sizes.map((size, index) => (index % 2 === 0 ? catalog : other).recordPart('up-race', bucket, 1 + (index % 10), size, `"p${index}"`, undefined)));
      expect((await catalog.usage(bucket))?.multipartBytes).toBe(await catalog.partsTotal('up-race'));
      await Promise.all(sizes.map((_, index) => (index % 2 === 0 ? other : catalog).recordDeletes(bucket, [{ key: `k${index}` }, { key: 'hot' }])));
      expect(await catalog.usage(bucket)).toEqual({ bytes: 0, objects: 0, multipartBytes: await catalog.partsTotal('up-race') });
    });
  });
}
