import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runS3CatalogContract } from './s3-catalog.contract.ts';
import { openS3Catalog } from './s3-catalog.ts';

// Two instances over one file are two connections, as with several processes sharing a DATA_DIR.
runS3CatalogContract('SQLite file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cs-s3-catalog-'));
  return {
    open: async () => openS3Catalog(join(dir, 'catalog.sqlite')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
