import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createS3Backend } from '../../src/storage/s3/s3-backend.ts';
import type { StorageBackend } from '../../src/storage/storage-backend.ts';
import { parseEnvLines, rgwBackendConnection } from './ceph-rgw.ts';
import { catalogTestDatabase } from './s3-catalog-pg.ts';

/**
 * An s3 proxy backend on the s3-backend project's Ceph RGW, with its own state directory (named
 * from `tmpPrefix`) that `cleanup` removes after closing the backend (and its catalog's database,
 * with `catalog: 'postgres'`): what the contract suites
 * (storage-backend and versioning) take as `makeBackend`. Kept apart from ceph-rgw.ts so the
 * global setup does not load the backend.
 */
export async function rgwProxyBackend(tmpPrefix: string, options: { catalog?: 'postgres' } = {}): Promise<{ backend: StorageBackend; cleanup(): Promise<void> }> {
  const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
  const stateDir = await mkdtemp(join(tmpdir(), tmpPrefix));
  // With `catalog: 'postgres'` the catalog lives in a fresh database of the test cluster, as with DATABASE_URL.
  const database = options.catalog === 'postgres' ? await catalogTestDatabase() : undefined;
  const backend = await createS3Backend({ ...rgwBackendConnection(rgw), stateDir, ...(database ? { catalog: { kind: 'postgres' as const, pool: database.pool() } } : {}) });
  return {
    backend,
    async cleanup() {
      await backend.close();
      await database?.drop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
