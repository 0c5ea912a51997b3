import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.ts';
import { createAdminCore } from '../core.ts';
import { tempDir } from '../../test/support/cloudstorage.ts';
import { createTestDatabase, sharedPostgresUrl } from '../../test/support/postgres.ts';

const KEY_A = 'aa'.repeat(32);
const KEY_B = 'bb'.repeat(32);

/**
 * A server refuses to start with a master key that cannot open the access-key secrets already
 * stored, on either dialect: on PostgreSQL, a gateway started with another MASTER_KEY than the
 * others would accept requests and fail every signature.
 */
describe('the master key check at start', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function storeOneKey(settings: Record<string, string>) {
    const core = await createAdminCore({ config: loadConfig({ LOG_LEVEL: 'error', ...settings }), backend: true });
    try {
      await core.accountsUsecases.createAccount({ email: `owner-${Date.now()}@example.com`, password: 'correct horse battery' });
    } finally {
      await core.close();
    }
  }

  it('on PostgreSQL: the key that stored the secrets opens; another one is refused, saying MASTER_KEY', async () => {
    const database = await createTestDatabase(sharedPostgresUrl());
    cleanups.push(() => database.drop());
    const hostA = tempDir();
    const hostB = tempDir();
    cleanups.push(
      () => hostA.remove(),
      () => hostB.remove(),
    );
    await storeOneKey({ DATA_DIR: hostA.path, DATABASE_URL: database.url, MASTER_KEY: KEY_A });
    // Another host, same database, same key: starts and sees the account.
    const same = await createAdminCore({ config: loadConfig({ LOG_LEVEL: 'error', DATA_DIR: hostB.path, DATABASE_URL: database.url, MASTER_KEY: KEY_A }), backend: false });
    expect(await same.accountsRepository.listAll()).toHaveLength(1);
    await same.close();
    await expect(
      createAdminCore({ config: loadConfig({ LOG_LEVEL: 'error', DATA_DIR: hostB.path, DATABASE_URL: database.url, MASTER_KEY: KEY_B }), backend: false }),
    ).rejects.toThrow(/MASTER_KEY cannot decrypt the access-key secrets/);
  });

  it('on SQLite: a master.key replaced under DATA_DIR is refused too', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    await storeOneKey({ DATA_DIR: dir.path });
    writeFileSync(join(dir.path, 'master.key'), KEY_B);
    await expect(createAdminCore({ config: loadConfig({ LOG_LEVEL: 'error', DATA_DIR: dir.path }), backend: false })).rejects.toThrow(/MASTER_KEY cannot decrypt/);
  });
});
