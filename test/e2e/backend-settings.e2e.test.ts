import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, PROJECT_ROOT, runCli, spawnServerInTempDir, tempDir } from '../support/cloudstorage.ts';

/** A bogus s3 backend: the CLI must refuse before it opens any backend, so nothing is ever sent there. */
const S3_SETTINGS = {
  STORAGE_BACKEND: 's3',
  BACKEND_S3_ENDPOINT: 'http://127.0.0.1:9',
  BACKEND_S3_ACCESS_KEY: 'backend-access-key',
  BACKEND_S3_SECRET_KEY: 'backend-secret-key-never-recorded',
};

/** process.env without the variables a test sets through `.env` (the environment would win over the file). */
function envWithout(names: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !names.includes(name)) env[name] = value;
  return env;
}

/** Runs `node <args>` in `cwd` with exactly `env`; resolves when it exits. */
function run(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The CLI as a separate process from another working directory (tsx loaded by path, not from the cwd). */
const cliArgs = (...args: string[]) => ['--import', pathToFileURL(join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, join(PROJECT_ROOT, 'src/cli/cli.ts'), ...args];

describe('backend settings recorded in DATA_DIR, and .env', () => {
  let running: Awaited<ReturnType<typeof spawnServerInTempDir>>;

  beforeAll(async () => {
    running = await spawnServerInTempDir({ FS_FSYNC: 'false' });
  });
  afterAll(async () => running?.close());

  it('the server records its backend settings, never a secret; a CLI with other settings refuses, names the setting and creates nothing', async () => {
    const record = JSON.parse(readFileSync(join(running.env.DATA_DIR, 'backend-settings.json'), 'utf8'));
    expect(record.settings).toEqual({ STORAGE_BACKEND: 'fs', BACKEND_BUCKET_PREFIX: 'cs-' });
    expect(record.recordedBy).toBe('server');

    const refused = await runCli(['user', 'create', '--email', 'wrong-backend@example.com', '--password', 'long enough password'], { ...running.env, ...S3_SETTINGS });
    expect(refused.code).toBe(78);
    expect(refused.json).toBeUndefined();
    const error = JSON.parse(refused.stderr);
    expect(error.error).toBe('config.backend_settings_mismatch');
    expect(error.detail).toContain('STORAGE_BACKEND is "s3" here but "fs"');
    expect(error.differences[0]).toEqual({ setting: 'STORAGE_BACKEND', recorded: 'fs', current: 's3' });
    expect(refused.stderr).not.toContain(S3_SETTINGS.BACKEND_S3_SECRET_KEY);

    // Nothing was created: with the server's settings the account does not exist.
    const lookup = await runCli(['usage', '--email', 'wrong-backend@example.com'], running.env);
    expect(JSON.parse(lookup.stderr).error).toBe('accounts.not_found');
    expect(JSON.parse(readFileSync(join(running.env.DATA_DIR, 'backend-settings.json'), 'utf8')).settings.STORAGE_BACKEND).toBe('fs');
  });

  it('the CLI reads .env in its working directory, and variables of the environment win over it', async () => {
    const cwd = tempDir('cs-dotenv-');
    try {
      const lines = Object.entries({ DATA_DIR: running.env.DATA_DIR, ...S3_SETTINGS }).map(([name, value]) => `${name}=${value}`);
      writeFileSync(join(cwd.path, '.env'), `${lines.join('\n')}\n`);
      const fromFile = envWithout(['DATA_DIR', ...Object.keys(S3_SETTINGS)]);

      // DATA_DIR and STORAGE_BACKEND=s3 come from the file: the server's record refuses the latter.
      const refused = await run(cliArgs('user', 'create', '--email', 'dotenv@example.com', '--password', 'long enough password'), cwd.path, fromFile);
      expect(refused.code, refused.stderr).toBe(78);
      expect(JSON.parse(refused.stderr).differences[0].setting).toBe('STORAGE_BACKEND');

      // STORAGE_BACKEND=fs in the environment wins over the file's s3.
      const created = await run(cliArgs('user', 'create', '--email', 'dotenv@example.com', '--password', 'long enough password'), cwd.path, { ...fromFile, STORAGE_BACKEND: 'fs' });
      expect(created.code, created.stderr).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({ email: 'dotenv@example.com', bucket: 'default' });
    } finally {
      cwd.remove();
    }
  });

  it('the server reads .env in its working directory', async () => {
    const cwd = tempDir('cs-dotenv-server-');
    const dataDir = tempDir();
    const apiPort = await freePort();
    const settings = { HOST: '127.0.0.1', S3_PORT: String(await freePort()), API_PORT: String(apiPort), DATA_DIR: dataDir.path, LOG_LEVEL: 'warn' };
    writeFileSync(
      join(cwd.path, '.env'),
      Object.entries(settings)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(''),
    );
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/main.mjs')], { cwd: cwd.path, env: envWithout(Object.keys(settings)), stdio: 'ignore' });
    try {
      let healthy = false;
      for (let attempt = 0; attempt < 300 && !healthy && child.exitCode === null; attempt++) {
        healthy = await fetch(`http://127.0.0.1:${apiPort}/health`).then(
          (response) => response.ok,
          () => false,
        );
        if (!healthy) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(healthy).toBe(true);
      // The DATA_DIR of the file is the one in use.
      expect(existsSync(join(dataDir.path, 'backend-settings.json'))).toBe(true);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      cwd.remove();
      dataDir.remove();
    }
  });
});
