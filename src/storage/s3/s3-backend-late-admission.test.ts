import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { parseEnvLines, rgwBackendConnection } from '../../../test/support/ceph-rgw.ts';
import { startTcpRelay } from '../../../test/support/tcp-relay.ts';
import type { UsageChange } from '../storage-backend.ts';
import { createS3Backend } from './s3-backend.ts';

/**
 * The proxy backend holds a write's last chunk until the quota hold admits it. When the store
 * request is cut (the store resets the connection) the caller settles its hold at once, but the
 * client may still be sending: the source then ends AFTER the store request failed. The late
 * admission must not run (the hold throws "admit after settle" by contract, see
 * src/quotas/quotas.usecases.ts) and nothing may surface as an unhandled rejection or an
 * `error` event without a listener, either of which ends a production process.
 */
describe('s3 backend: a write whose store request was cut while its client kept sending', () => {
  let relay: Awaited<ReturnType<typeof startTcpRelay>>;
  let stateDir: string;
  let backend: Awaited<ReturnType<typeof createS3Backend>>;
  const bucket = `late-admit-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
    const endpoint = new URL(rgw.BACKEND_S3_ENDPOINT!);
    relay = await startTcpRelay({ host: endpoint.hostname, port: Number(endpoint.port) });
    stateDir = await mkdtemp(join(tmpdir(), 'cs-s3-late-admit-'));
    backend = await createS3Backend({ ...rgwBackendConnection(rgw, relay.endpoint), stateDir });
    await backend.createBucket(bucket);
  });
  afterAll(async () => {
    relay.setMode('forward');
    await backend?.deleteBucket(bucket).catch(() => undefined);
    await backend?.close();
    await relay?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  /** Errors that would have crashed a process without vitest's handlers, seen while `run` lasts. */
  async function crashesDuring(run: () => Promise<void>): Promise<unknown[]> {
    const seen: unknown[] = [];
    const record = (error: unknown) => seen.push(error);
    process.on('unhandledRejection', record);
    process.on('uncaughtException', record);
    try {
      await run();
      // Let whatever the cut stream still does (late reads, destroy callbacks) happen.
      for (let turn = 0; turn < 20; turn++) await nextTurn();
    } finally {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    }
    return seen;
  }

  const cases = [
    ['putObject', 'the store resets the connection'],
    ['uploadPart', 'the store resets the connection'],
    ['putObject', 'the client goes away (signal)'],
  ] as const;
  for (const [kind, cut] of cases) {
    it(`${kind}, ${cut}: never admits after the store request failed, and raises no unhandled error`, async () => {
      const size = 64 * 1024;
      const bytes = randomBytes(size);
      const admissions: { change: UsageChange; afterSettle: boolean }[] = [];
      let settled = false;
      // The quota hold's contract (QuotaHold): admit after settle throws.
      const admit = async (change: UsageChange) => {
        admissions.push({ change, afterSettle: settled });
        if (settled) throw new Error('quota hold: admit after settle');
      };
      const key = `cut-${kind}-${cut.length}.bin`;
      const uploadId = kind === 'uploadPart' ? (await backend.createMultipartUpload({ bucket, key, metadata: { userMetadata: {} } })).uploadId : undefined;
      const source = new PassThrough();
      const client = new AbortController();
      const crashes = await crashesDuring(async () => {
        const write =
          kind === 'putObject'
            ? backend.putObject({ bucket, key, body: source, size, metadata: { userMetadata: {} }, admit, signal: client.signal })
            : backend.uploadPart({ bucket, key, uploadId: uploadId!, partNumber: 1, body: source, size, admit });
        const outcome = write.then(
          () => 'stored',
          () => 'failed',
        );
        // Every byte arrives (small chunks: no backpressure, so the generator holding the last
        // chunk back is waiting for the source's end, not for its reader) but not yet the end.
        for (let offset = 0; offset < size; offset += 4096) {
          source.write(bytes.subarray(offset, offset + 4096));
          await nextTurn();
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (cut === 'the store resets the connection') relay.setMode('refuse');
        else client.abort(new Error('client went away'));
        expect(await outcome).toBe('failed');
        // What the objects service does then: settle the hold. Then the client's body ends.
        settled = true;
        source.end();
      });
      relay.setMode('forward');
      if (uploadId) await backend.abortMultipartUpload({ bucket, key, uploadId }).catch(() => undefined);
      expect(crashes).toEqual([]);
      expect(admissions.filter((admission) => admission.afterSettle)).toEqual([]);
    });
  }
});
