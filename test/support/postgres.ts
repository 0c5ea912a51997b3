import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import { parseEnvLines } from './ceph-rgw.ts';

export const POSTGRES_SCRIPT = fileURLToPath(new URL('../../scripts/postgres.sh', import.meta.url));

/** A throwaway PostgreSQL cluster started by `scripts/postgres.sh` (trust auth, superuser `postgres`). */
export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres — the admin database; tests create their own (createTestDatabase). */
  url: string;
  dir: string;
  /** Stops the server (fast shutdown: open connections are terminated) and keeps its data and port. */
  pause(): Promise<void>;
  /** Starts a paused server again, same data, same port. */
  resume(): Promise<void>;
  /** Stops the server and removes `dir`. */
  stop(): Promise<void>;
}

/** True when PostgreSQL's server binaries are installed (`scripts/postgres.sh install`). */
export function postgresAvailable(): boolean {
  return spawnSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb || command -v pg_config'], { stdio: 'ignore' }).status === 0;
}

function runScript(args: string[], timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [POSTGRES_SCRIPT, ...args], { timeout, encoding: 'utf8' }, (error, out, err) => {
      if (error) reject(new Error(`${POSTGRES_SCRIPT} ${args.join(' ')} failed (${error.killed ? 'timed out' : `exit ${error.code}`}):\n${err.slice(-4_000)}`));
      else resolve(out);
    });
  });
}

/** Clusters started by this process, removed synchronously if the process exits without stop(). */
const running = new Set<string>();
process.once('exit', () => {
  for (const dir of running) {
    try {
      execFileSync('bash', [POSTGRES_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // best effort
    }
  }
});

/** Starts a new throwaway cluster on a free loopback port (~2 s) under a temp dir. */
export async function startPostgres(): Promise<PostgresCluster> {
  if (!postgresAvailable()) throw new Error(`PostgreSQL is not installed (run: ${POSTGRES_SCRIPT} install)`);
  const dir = mkdtempSync(join(tmpdir(), 'pg-'));
  running.add(dir);
  let env: Record<string, string>;
  try {
    env = parseEnvLines(await runScript(['start', dir], 90_000));
  } catch (error) {
    await runScript(['stop', dir], 30_000).catch(() => rmSync(dir, { recursive: true, force: true }));
    running.delete(dir);
    throw error;
  }
  if (!env.DATABASE_URL) throw new Error(`${POSTGRES_SCRIPT} start printed no DATABASE_URL`);
  let stopped: Promise<void> | undefined;
  return {
    url: env.DATABASE_URL,
    dir,
    pause: async () => {
      await runScript(['pause', dir], 60_000);
    },
    resume: async () => {
      await runScript(['start', dir], 90_000);
    },
    stop: () =>
      (stopped ??= runScript(['stop', dir], 30_000).then(
        () => {
          running.delete(dir);
        },
        (error) => {
          running.delete(dir);
          rmSync(dir, { recursive: true, force: true });
          throw error;
        },
      )),
  };
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A fresh, uniquely named database in the cluster of `adminUrl`; `drop()` removes it (closing any connection left to it). */
export async function createTestDatabase(adminUrl: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `cs_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${name}"`);
  let dropped: Promise<void> | undefined;
  return {
    url: withDatabase(adminUrl, name),
    name,
    drop: () => (dropped ??= adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The cluster the current test project shares (test/support/postgres-global-setup.ts provides it;
 * POSTGRES_URL overrides). Throws rather than skipping: a PostgreSQL test that silently does not
 * run is a gap in CI.
 */
export function sharedPostgresUrl(): string {
  const url = process.env.POSTGRES_URL || inject('postgresUrl');
  if (!url) throw new Error('No PostgreSQL for this test: attach test/support/postgres-global-setup.ts to its vitest project, or set POSTGRES_URL.');
  return url;
}
