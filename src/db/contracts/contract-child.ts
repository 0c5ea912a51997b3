import { createKeysRepository } from '../../keys/keys.repository.ts';
import { type DatabaseHandle, openDatabase } from '../database.ts';
import { openPostgresDatabase } from '../postgres.ts';
import type { ChildTask, DatabaseLocation } from './contract-support.ts';

/**
 * Another process working on a contract's database (contract-support.ts, `inOtherProcesses`):
 * opens its own handle, prints `ready`, waits for `go` on stdin, does its task, prints
 * `result <json>`. Run with `node --import tsx`.
 */

const input = JSON.parse(process.argv[2]!) as ChildTask & { location: DatabaseLocation };
const database: DatabaseHandle = input.location.dialect === 'sqlite' ? openDatabase(input.location.path) : await openPostgresDatabase({ url: input.location.url, poolMax: 4 });

/** What the keys use cases do to create a key: lock the account's keys, count, insert only under the limit. */
async function createKeys(task: ChildTask): Promise<boolean[]> {
  const keys = createKeysRepository({ database });
  const attempt = (n: number) =>
    keys.transaction(async () => {
      await keys.lockAccountKeys(task.userId);
      if ((await keys.countLiveForUser(task.userId)) >= task.limit) return false;
      const id = `${process.pid}-${n}`;
      await keys.insert({ id, userId: task.userId, accessKeyId: `AK${id}`, secretEncrypted: 'sealed', name: id });
      return true;
    });
  return Promise.all(Array.from({ length: task.attempts }, (_, n) => attempt(n)));
}

process.stdout.write('ready\n');
await new Promise<void>((resolve) => {
  process.stdin.once('data', () => resolve());
});
try {
  const result = await createKeys(input);
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
} finally {
  await database.close();
}
