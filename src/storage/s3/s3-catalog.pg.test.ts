import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogTestDatabase } from '../../../test/support/s3-catalog-pg.ts';
import { startTcpRelay } from '../../../test/support/tcp-relay.ts';
import { runS3CatalogContract } from './s3-catalog.contract.ts';
import { PG_CATALOG_SCHEMA_VERSION, openPgS3Catalog } from './s3-catalog.pg.ts';

// Each instance gets its own pool: two gateways over one database.
runS3CatalogContract('PostgreSQL', async () => {
  const database = await catalogTestDatabase();
  return { open: () => openPgS3Catalog(database.pool()), cleanup: () => database.drop() };
});

describe('s3 catalog on PostgreSQL: schema', () => {
  let database: Awaited<ReturnType<typeof catalogTestDatabase>>;
  beforeAll(async () => {
    database = await catalogTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('gateways starting together migrate once, into tables of their own beside the metadata', async () => {
    const pools = [database.pool(), database.pool(), database.pool()];
    const catalogs = await Promise.all(pools.map((pool) => openPgS3Catalog(pool)));
    const admin = pools[0]!;
    expect((await admin.query('SELECT version FROM s3_catalog_schema')).rows).toEqual([{ version: PG_CATALOG_SCHEMA_VERSION }]);
    const tables = await admin.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
    expect(tables.rows.every((row) => row.table_name.startsWith('s3_catalog_'))).toBe(true);
    // Opening again applies nothing and keeps what is recorded.
    await catalogs[0]!.setUsage('b', { bytes: 1, objects: 1, multipartBytes: 0 });
    const again = await openPgS3Catalog(admin);
    expect(await again.usage('b')).toEqual({ bytes: 1, objects: 1, multipartBytes: 0 });
    for (const catalog of [...catalogs, again]) await catalog.close();
  });

  it('refuses a catalog written by a newer server instead of guessing at its schema', async () => {
    const pool = database.pool();
    await openPgS3Catalog(pool);
    await pool.query('UPDATE s3_catalog_schema SET version = $1', [PG_CATALOG_SCHEMA_VERSION + 1]);
    await expect(openPgS3Catalog(pool)).rejects.toThrow(/newer than this server knows/);
    await pool.query('UPDATE s3_catalog_schema SET version = $1', [PG_CATALOG_SCHEMA_VERSION]);
  });

  it('an unreachable database answers database.unavailable (503), changes nothing, and the same catalog recovers by itself', async () => {
    const target = new URL(database.url);
    const relay = await startTcpRelay({ host: target.hostname, port: Number(target.port) });
    try {
      const catalog = await openPgS3Catalog(database.pool({ host: '127.0.0.1', port: Number(new URL(relay.endpoint).port) }));
      await catalog.recordObject('outage', 'k', undefined, 5, '"e"', undefined);
      relay.setMode('refuse');
      const unavailable = { code: 'database.unavailable', status: 503, retryAfter: 1 };
      await expect(catalog.usage('outage')).rejects.toMatchObject(unavailable);
      await expect(catalog.recordObject('outage', 'k2', undefined, 7, '"e2"', undefined)).rejects.toMatchObject(unavailable);
      await expect(catalog.eventJournal.readJournal(10)).rejects.toMatchObject(unavailable);
      relay.setMode('forward');
      expect(await catalog.usage('outage')).toEqual({ bytes: 5, objects: 1, multipartBytes: 0 });
      expect(await catalog.object('outage', 'k2')).toBeUndefined();
      await catalog.recordObject('outage', 'k2', undefined, 7, '"e2"', undefined);
      expect(await catalog.usage('outage')).toEqual({ bytes: 12, objects: 2, multipartBytes: 0 });
      await catalog.close();
    } finally {
      await relay.close();
    }
  });
});
