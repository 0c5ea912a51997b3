import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { activityRepositoryContract } from '../../dashboard-api/modules/activity/activity.repository.contract.ts';
import { adminRepositoryContract } from '../../dashboard-api/modules/admin/admin.repository.contract.ts';
import { sessionsRepositoryContract } from '../../dashboard-api/modules/auth/sessions.repository.contract.ts';
import { sharesRepositoryContract } from '../../dashboard-api/modules/shares/shares.repository.contract.ts';
import { createTestDatabase, sharedPostgresUrl } from '../support/postgres.ts';
import { accountsRepositoryContract } from '../../src/accounts/accounts.repository.contract.ts';
import { bucketsRepositoryContract } from '../../src/buckets/buckets.repository.contract.ts';
import { eventLogRepositoryContract } from '../../src/events/event-log.repository.contract.ts';
import { keysRepositoryContract } from '../../src/keys/keys.repository.contract.ts';
import { objectAclStoreContract } from '../../src/objects/object-acls.contract.ts';
import { trashRepositoryContract } from '../../src/trash/trash.repository.contract.ts';
import { versionsRepositoryContract } from '../../src/versions/versions.repository.contract.ts';
import type { OpenDatabase } from '../../src/db/contracts/contract-support.ts';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.ts';
import { openPostgresDatabase } from '../../src/db/postgres.ts';

/**
 * Every repository's contract (beside it, `*.contract.ts`) against both dialects: SQLite, the
 * embedded default, and PostgreSQL (DATABASE_URL). One database per dialect, migrated once;
 * contracts keep to rows of their own (fresh ids) and assert on whole-table reads only what
 * other contracts' rows cannot change. Each `open` is another handle on that database (another
 * gateway: on PostgreSQL another pool).
 */

const contracts: Record<string, (open: OpenDatabase) => void> = {
  accounts: accountsRepositoryContract,
  keys: keysRepositoryContract,
  buckets: bucketsRepositoryContract,
  'event log': eventLogRepositoryContract,
  trash: trashRepositoryContract,
  versions: versionsRepositoryContract,
  'object ACLs': objectAclStoreContract,
  sessions: sessionsRepositoryContract,
  shares: sharesRepositoryContract,
  activity: activityRepositoryContract,
  admin: adminRepositoryContract,
};

/** The dialect's database, created on the first `open`; every handle closed and the database dropped after the dialect's contracts. */
function runContracts(create: () => Promise<{ open(): Promise<DatabaseHandle>; drop(): Promise<void> }>): void {
  let target: ReturnType<typeof create> | undefined;
  const handles: DatabaseHandle[] = [];
  afterAll(async () => {
    await Promise.all(handles.map((handle) => handle.close()));
    if (target) await (await target).drop();
  });
  const open: OpenDatabase = async () => {
    target ??= create();
    const handle = await (await target).open();
    handles.push(handle);
    return handle;
  };
  for (const [name, contract] of Object.entries(contracts)) describe(name, () => contract(open));
}

describe('sqlite', () => {
  runContracts(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-contracts-'));
    const path = join(dir, 'metadata.db');
    return { open: async () => openDatabase(path), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  });
});

describe('postgres', () => {
  runContracts(async () => {
    const database = await createTestDatabase(sharedPostgresUrl());
    return { open: () => openPostgresDatabase({ url: database.url, poolMax: 4 }), drop: () => database.drop() };
  });
});
