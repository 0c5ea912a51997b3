import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { DatabaseHandle, SqliteDatabaseHandle } from '../database.ts';
import type { PostgresDatabaseHandle } from '../postgres.ts';

/**
 * Shared by the repository contracts (`*.repository.contract.ts`, run on both dialects by
 * test/contracts/repositories.contract.test.ts): unique names and work done by other processes.
 */

/** Opens another handle on the contract's database; the runner closes every handle it opened. */
export type OpenDatabase = () => Promise<DatabaseHandle>;

/** A fresh id: contracts share one database per dialect and repository, so rows never collide between tests. */
export const uniqueId = (prefix = 'id'): string => `${prefix}-${randomBytes(6).toString('hex')}`;

/** Where a handle's database is, for another process to open it. */
export type DatabaseLocation = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

export function locationOf(handle: DatabaseHandle): DatabaseLocation {
  if (handle.dialect === 'sqlite') return { dialect: 'sqlite', path: (handle as SqliteDatabaseHandle).sqlite.name };
  const url = (handle as PostgresDatabaseHandle).pool.options.connectionString;
  if (!url) throw new Error('postgres handle without a connection string');
  return { dialect: 'postgres', url };
}

/** The work contract-child.ts knows how to do against a database (see there). */
export type ChildTask = { task: 'keys.create'; userId: string; limit: number; attempts: number };

const CHILD = fileURLToPath(new URL('./contract-child.ts', import.meta.url));

/**
 * Runs each task in its own process on the handle's database, all released at once: every child
 * opens its handle, says it is ready, and starts only when the parent has heard from all of them.
 * This is what "another gateway" or the CLI is (on SQLite, two handles in one process cannot even
 * wait for each other: better-sqlite3 waits for a lock synchronously, blocking the event loop).
 * Resolves with each child's JSON answer, in task order.
 */
export async function inOtherProcesses<T = unknown>(handle: DatabaseHandle, tasks: ChildTask[]): Promise<T[]> {
  const location = locationOf(handle);
  const children = tasks.map((task) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ location, ...task })], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) onReady();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    const done = new Promise<T>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        onReady();
        const answer = out.split('\n').find((line) => line.startsWith('result '));
        if (code !== 0 || answer === undefined) reject(new Error(`contract child (${task.task}) exited ${code}:\n${err.slice(-3_000)}`));
        else resolve(JSON.parse(answer.slice('result '.length)) as T);
      });
    });
    return { child, ready, done };
  });
  await Promise.all(children.map((entry) => entry.ready));
  for (const { child } of children) child.stdin.end('go\n');
  return Promise.all(children.map((entry) => entry.done));
}
