import type Database from 'better-sqlite3';
import type { DatabaseHandle, SqlTrace, SqliteDatabaseHandle } from '../../src/db/database.ts';
import { createTestDatabase, sharedPostgresUrl } from './postgres.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type Config, type ConfigInput } from '../../src/config/config.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { startCloudStorage, type RunningCloudStorage } from '../../server.ts';
import type { Clock } from '../../src/clock.ts';
import { inject } from 'vitest';
import { parseEnvLines } from './ceph-rgw.ts';
import { freePort } from './ports.ts';
import { spawnServer } from './spawned-server.ts';

export { freePort };

export const PROJECT_ROOT = new URL('../..', import.meta.url).pathname;
export const TEST_PASSWORD = 'correct horse battery staple';

export function tempDir(prefix = 'cs-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestAccount {
  userId: string;
  email: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TestServer {
  running: RunningCloudStorage;
  endpoint: string;
  apiEndpoint: string;
  dataDir: string;
  createAccount(email?: string): Promise<TestAccount>;
  client(account: TestAccount, options?: { forcePathStyle?: boolean; region?: string }): S3Client;
  close(): Promise<void>;
}

let accountCounter = 0;

/**
 * Config for the storage backend under test: the embedded fs backend, or in the `s3-backend`
 * vitest project (CS_TEST_BACKEND=s3) the proxy backend on the project's shared Ceph RGW.
 */
export function backendUnderTest(): Partial<ConfigInput> {
  if (process.env.CS_TEST_BACKEND !== 's3') return {};
  const rgw = parseEnvLines(readFileSync(inject('cephRgwEnvFile'), 'utf8'));
  return {
    STORAGE_BACKEND: 's3',
    BACKEND_S3_ENDPOINT: rgw.BACKEND_S3_ENDPOINT,
    BACKEND_S3_ACCESS_KEY: rgw.BACKEND_S3_ACCESS_KEY,
    BACKEND_S3_SECRET_KEY: rgw.BACKEND_S3_SECRET_KEY,
    BACKEND_S3_REGION: rgw.BACKEND_S3_REGION,
    BACKEND_TIMEOUT_MS: 20_000,
  };
}

/** The configuration of a test server over `dataDir` (free ports, the backend under test), with `overrides`. */
export function testConfig(dataDir: string, overrides: Partial<ConfigInput> = {}): Config {
  return loadConfig({
    HOST: '127.0.0.1',
    S3_PORT: 0,
    API_PORT: 0,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    FS_FSYNC: false,
    // Client suites run without retries to make failures visible; the limits have their own suite.
    RATE_LIMIT_READ: 'off',
    RATE_LIMIT_WRITE: 'off',
    RATE_LIMIT_LIST: 'off',
    ...backendUnderTest(),
    ...overrides,
  });
}

/** The master key of test servers on PostgreSQL metadata (required with DATABASE_URL). */
export const TEST_MASTER_KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

/**
 * The metadata database under test: SQLite under DATA_DIR, or in the `postgres` vitest project
 * (CS_TEST_DATABASE=postgres) a fresh database of the project's PostgreSQL cluster per server.
 */
export async function databaseUnderTest(): Promise<{ config: Partial<ConfigInput>; drop(): Promise<void> }> {
  if (process.env.CS_TEST_DATABASE !== 'postgres') return { config: {}, drop: async () => {} };
  const database = await createTestDatabase(sharedPostgresUrl());
  return { config: { DATABASE_URL: database.url, MASTER_KEY: TEST_MASTER_KEY }, drop: database.drop };
}

/** The raw SQLite connection of a server on SQLite metadata, for tests that inspect rows directly. */
export function sqliteOf(core: { database: DatabaseHandle }): Database.Database {
  if (core.database.dialect !== 'sqlite') throw new Error('this test reads the SQLite file directly: run it on SQLite metadata');
  return (core.database as SqliteDatabaseHandle).sqlite;
}

/** The real servers (gateway + dashboard API) in this process, on free ports, over a temp DATA_DIR. */
export async function startTestServer(
  overrides: Partial<ConfigInput> = {},
  options: { clock?: Clock; logger?: Logger; traceSql?: { metadata?: SqlTrace; backend?: SqlTrace } } = {},
): Promise<TestServer> {
  const dir = tempDir();
  const database = await databaseUnderTest();
  const config = testConfig(dir.path, { ...database.config, ...overrides });
  const running = await startCloudStorage({ config, clock: options.clock, logger: options.logger ?? createLogger(config.LOG_LEVEL), traceSql: options.traceSql }).catch(
    async (error: unknown) => {
      await database.drop();
      dir.remove();
      throw error;
    },
  );
  const endpoint = `http://127.0.0.1:${running.s3Port}`;
  return {
    running,
    endpoint,
    apiEndpoint: `http://127.0.0.1:${running.apiPort}`,
    dataDir: dir.path,
    async createAccount(email) {
      accountCounter += 1;
      const address = email ?? `user${accountCounter}-${Date.now()}@example.com`;
      const { user, key } = await running.core.accountsUsecases.createAccount({ email: address, password: TEST_PASSWORD });
      return { userId: user.id, email: user.email, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    },
    client(account, clientOptions = {}) {
      return new S3Client({
        endpoint,
        region: clientOptions.region ?? 'eu-central-1',
        forcePathStyle: clientOptions.forcePathStyle ?? true,
        credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey },
      });
    },
    async close() {
      await running.close();
      await database.drop();
      dir.remove();
    },
  };
}

/**
 * The server as `npm start` runs it (`node dist/main.mjs`, built by the global setup): a separate
 * process, so its RSS and the CLI's cross-process effects are real. It binds ports of its own
 * choosing and reports them (see spawned-server.ts).
 */
export { spawnServer, type SpawnedServer } from './spawned-server.ts';

/** `spawnServer` over a fresh temp DATA_DIR; `env` is what the CLI needs to reach the same data. */
export async function spawnServerInTempDir(extraEnv: Record<string, string> = {}) {
  const dir = tempDir();
  const env = { DATA_DIR: dir.path, LOG_LEVEL: 'warn', ...extraEnv };
  const server = await spawnServer(env);
  return {
    env,
    server,
    async close() {
      await server.stop();
      dir.remove();
    },
  };
}

/**
 * Runs the CLI as `npm run --silent cli -- …` does (the `dist/cli.mjs` bundle the global setup
 * built, on plain node) against a DATA_DIR; returns parsed stdout JSON.
 */
/** `cli`: another CLI bundle (the benchmarks' A/B of a build whose index schema differs). */
export async function runCli(args: string[], env: Record<string, string>, cli = 'dist/cli.mjs'): Promise<{ code: number; json: any; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, cli), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, json, stderr });
    });
  });
}
