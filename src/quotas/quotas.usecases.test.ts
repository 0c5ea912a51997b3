import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisTestServer } from '../../test/support/redis-server.ts';
import { createBucketsRepository } from '../buckets/buckets.repository.ts';
import { fixedClock } from '../clock.ts';
import { loadConfig } from '../config/config.ts';
import { createCore } from '../core.ts';
import { S3Error } from '../errors/s3-errors.ts';
import { closeRedisClient, createRedisClient, waitForRedis } from '../limits/redis-client.ts';
import { createMemoryQuotaStore } from '../limits/memory-quota-store.ts';
import { createRedisQuotaStore } from '../limits/redis-quota-store.ts';
import type { QuotaStore } from '../limits/quota-store.ts';
import { LimitsUnavailableError } from '../limits/errors.ts';
import { createLogger } from '../logger.ts';
import { createObjectsService } from '../objects/objects.service.ts';
import type { Principal } from '../objects/principal.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import { createQuotasUsecases } from './quotas.usecases.ts';

const MiB = 1024 * 1024;

/**
 * Two gateways (two quotas use cases, each with its own caches) settle their writes into one
 * quota store, in the order that once let an account pass its quota: gateway A reads the
 * account's figure after its own write committed, but pushes it only after gateway B's write
 * committed and settled. A's figure lacks B's bytes; pushed as it came, it replaced B's newer one
 * while A's reservation ended, and one more upload fitted than the quota allows.
 *
 * Gateway A's backend is the real fs backend with a latch on its usage read (the one thing made
 * to wait): the figure is read when asked, and handed back when the test says so.
 */
describe('quota figures settled out of order by two gateways', () => {
  let redis: RedisTestServer;
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const stores: Record<string, (loadUsage: (id: string) => Promise<number>) => Promise<QuotaStore>> = {
    memory: async (loadUsage) => createMemoryQuotaStore({ loadUsage }),
    redis: async (loadUsage) => {
      const client = createRedisClient(redis.url, { commandTimeoutMs: 5_000 });
      if (!(await waitForRedis(client, 5_000))) throw new Error('no Redis');
      cleanups.push(() => closeRedisClient(client));
      return createRedisQuotaStore({ redis: client, loadUsage, timeoutMs: 5_000 });
    },
  };

  /**
   * Two gateways over one account (quota 2.5 MiB). `storeOfA` changes what gateway A sees of the
   * shared store (a ticket that fails: a Redis call timing out just then, which cannot be made to
   * happen on cue with a real server).
   */
  async function twoGateways(makeStore: (loadUsage: (id: string) => Promise<number>) => Promise<QuotaStore>, storeOfA: (store: QuotaStore) => QuotaStore = (store) => store) {
    const dir = mkdtempSync(join(tmpdir(), 'cs-quota-order-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const clock = fixedClock('2026-03-01T10:00:00Z');
    const logger = createLogger('error');
    const core = await createCore({ config: loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'error', FS_FSYNC: false }), clock, logger });
    cleanups.push(() => core.close());
    const { user } = await core.accountsUsecases.createAccount({ email: 'alice@example.com', password: 'correct horse battery staple' });
    await core.quotasUsecases.setQuota(user.id, 2 * MiB + MiB / 2);
    const store = await makeStore((id) => core.quotasUsecases.usedBytes(id));

    // The latch on gateway A's next usage read.
    let latch: { reached: () => void; release: Promise<void> } | undefined;
    const local = core.backend.local;
    const latched: StorageBackend = {
      ...core.backend,
      local: {
        ...local,
        async usage(bucket) {
          const figure = await local.usage(bucket);
          const held = latch;
          latch = undefined;
          if (held) {
            held.reached();
            await held.release;
          }
          return figure;
        },
      },
    };
    /** Holds gateway A's next usage read once it has read; resolves when it is held, with the function that lets it go. */
    const holdNextRead = () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      return {
        held: new Promise<() => void>((resolve) => (latch = { reached: () => resolve(release), release: released })),
      };
    };
    const gateway = (backend: StorageBackend, quotaStore: QuotaStore) => {
      const quotas = createQuotasUsecases({
        accountsRepository: core.accountsRepository,
        bucketsRepository: createBucketsRepository({ database: core.database }),
        backend,
        quotaStore,
        changes: core.changes,
        defaultQuotaBytes: Infinity,
        clock,
        logger,
      });
      return createObjectsService({ backend: core.backend, buckets: core.bucketsUsecases, quotas, clock, logger });
    };
    const [a, b] = [gateway(latched, storeOfA(store)), gateway(core.backend, store)];
    const principal: Principal = { accountId: user.id, actor: { kind: 'key', id: 'CSALICEKEY' }, scope: { permission: 'readwrite' }, clientAddress: '192.0.2.7' };
    const put = (objects: typeof a, key: string, size = MiB) =>
      objects.putObject(principal, {
        bucket: 'default',
        key,
        metadata: { userMetadata: {}, contentType: 'application/octet-stream' },
        reserveBytes: size,
        open: () => ({ body: Readable.from([Buffer.alloc(size, key)]), size }),
      });
    const refused = async (objects: typeof a, key: string) => {
      const error = await put(objects, key).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(S3Error);
      expect((error as S3Error).code).toBe('QuotaExceeded');
    };
    return { core, store, user, a, b, principal, put, refused, holdNextRead };
  }

  /**
   * The store as a gateway sees it whose every call that would hand out a ticket fails (the store
   * unavailable just then): `ticket`, and a settle whose mark was passed by (which answers with one).
   */
  const ticketsFail = (store: QuotaStore): QuotaStore => ({
    ...store,
    async ticket() {
      throw new LimitsUnavailableError('unavailable', 'quota: Redis quotaTicket failed: Command timed out');
    },
    async settle(...args) {
      const settled = await store.settle(...args);
      if (settled !== true) throw new LimitsUnavailableError('unavailable', 'quota: Redis quotaSettle failed: Command timed out');
      return settled;
    },
  });

  for (const [kind, makeStore] of Object.entries(stores)) {
    it(`${kind} store, two uploads: the stale figure does not replace the newer one, and the quota holds to the byte`, async () => {
      const { core, store, user, a, b, put, refused, holdNextRead } = await twoGateways(makeStore);
      // A commits and reads its figure (1 MiB: its own object), then waits.
      const { held } = holdNextRead();
      const first = put(a, 'a.bin');
      const release = await held;
      // B writes and settles in the meantime: the store has 2 MiB, with B's reservation ended.
      await put(b, 'b.bin');
      expect(await store.usage(user.id)).toEqual({ usedBytes: 2 * MiB, reservedBytes: MiB });
      // A's 1 MiB figure arrives last.
      release();
      await first;
      expect(await core.quotasUsecases.usedBytes(user.id)).toBe(2 * MiB);
      expect(await store.usage(user.id)).toEqual({ usedBytes: 2 * MiB, reservedBytes: 0 });
      // Half a MiB is left: a third MiB is refused, through either gateway.
      await refused(a, 'c.bin');
      await refused(b, 'c.bin');
      expect(await core.quotasUsecases.usedBytes(user.id)).toBe(2 * MiB);
    });

    it(`${kind} store, a delete and an upload: the delete's stale figure does not replace the upload's`, async () => {
      const { core, store, user, a, b, principal, put, refused, holdNextRead } = await twoGateways(makeStore);
      await put(b, 'old.bin');
      // A deletes and reads its figure (0), then waits.
      const { held } = holdNextRead();
      const deleted = a.deleteObject(principal, { bucket: 'default', key: 'old.bin' });
      const release = await held;
      // B uploads a MiB and settles: 1 MiB stored.
      await put(b, 'b.bin');
      release();
      await deleted;
      expect(await store.usage(user.id)).toEqual({ usedBytes: MiB, reservedBytes: 0 });
      // Room for one more MiB of the 2.5, not two.
      await put(a, 'c.bin');
      await refused(b, 'd.bin');
      expect(await core.quotasUsecases.usedBytes(user.id)).toBe(2 * MiB);
    });

    it(`${kind} store, no ticket to be had: the late figure is not pushed and its reservation stays (an over-count, never an under-count)`, async () => {
      const { core, store, user, a, b, put, refused, holdNextRead } = await twoGateways(makeStore, ticketsFail);
      const { held } = holdNextRead();
      const first = put(a, 'a.bin');
      const release = await held;
      await put(b, 'b.bin');
      release();
      // A's mark was passed by (B settled), and A gets no ticket: its 1 MiB figure is not pushed.
      await first;
      expect(await core.quotasUsecases.usedBytes(user.id)).toBe(2 * MiB);
      expect(await store.usage(user.id)).toEqual({ usedBytes: 2 * MiB, reservedBytes: MiB });
      await refused(b, 'c.bin');
    });

    it(`${kind} store, no ticket to be had after a delete: the figure is not pushed; the next settled write brings the exact one`, async () => {
      const { core, store, user, a, b, principal, put, refused } = await twoGateways(makeStore, ticketsFail);
      await put(b, 'old.bin');
      await put(b, 'kept.bin');
      await a.deleteObject(principal, { bucket: 'default', key: 'old.bin' });
      // Not pushed: the store still counts the deleted MiB.
      expect(await store.usage(user.id)).toEqual({ usedBytes: 2 * MiB, reservedBytes: 0 });
      await refused(b, 'big.bin');
      expect(await core.quotasUsecases.usedBytes(user.id)).toBe(MiB);
      // The next write settled through a gateway that gets its ticket (an empty object: it fits
      // any quota) pushes the exact figure, and the freed MiB is usable again.
      await put(b, 'empty.bin', 0);
      expect(await store.usage(user.id)).toEqual({ usedBytes: MiB, reservedBytes: 0 });
      await put(b, 'big.bin');
      await refused(a, 'more.bin');
    });
  }
});
