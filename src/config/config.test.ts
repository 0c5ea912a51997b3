import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configVariableNames, loadConfig } from './config.ts';

describe('config', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      S3_PORT: 9000,
      API_PORT: 3000,
      DATA_DIR: './data',
      S3_REGION: 'eu-central-1',
      S3_REGION_STRICT: false,
      MAX_BUCKETS_PER_ACCOUNT: 10,
      STORAGE_BACKEND: 'fs',
      FS_FSYNC: true,
    });
  });

  it('parses strings from the environment and rejects bad values with a clear message', () => {
    expect(loadConfig({ S3_PORT: '9100', S3_REGION_STRICT: 'true', FS_FSYNC: '0' })).toMatchObject({ S3_PORT: 9100, S3_REGION_STRICT: true, FS_FSYNC: false });
    expect(() => loadConfig({ S3_PORT: 'ninety' })).toThrow(ConfigError);
    expect(() => loadConfig({ S3_PORT: 'ninety' })).toThrow(/S3_PORT/);
    expect(() => loadConfig({ STORAGE_BACKEND: 'tape' })).toThrow(/STORAGE_BACKEND/);
  });

  it('reads RATE_LIMIT_* as LIMIT/WINDOW rules, off, or the spec defaults', () => {
    const config = loadConfig({ RATE_LIMIT_WRITE: '200/1s', RATE_LIMIT_LIST: 'off' });
    expect(config.RATE_LIMIT_WRITE).toEqual({ limit: 200, windowMs: 1000 });
    expect(config.RATE_LIMIT_READ).toEqual({ limit: 300, windowMs: 1000 });
    expect(config.RATE_LIMIT_DASHBOARD).toEqual({ limit: 30, windowMs: 60_000 });
    expect(config.RATE_LIMIT_LOGIN).toEqual({ limit: 5, windowMs: 60_000 });
    expect(config.RATE_LIMIT_LIST).toBeUndefined();
    expect(() => loadConfig({ RATE_LIMIT_READ: 'fast' })).toThrow(/RATE_LIMIT_READ/);
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of configVariableNames()) expect(readme, name).toContain(`\`${name}\``);
  });

  it('refuses STORAGE_BACKEND=s3 without an endpoint and credentials, naming each missing variable', () => {
    expect(() => loadConfig({ STORAGE_BACKEND: 's3' })).toThrow(/BACKEND_S3_ENDPOINT: required when STORAGE_BACKEND=s3.*BACKEND_S3_ACCESS_KEY.*BACKEND_S3_SECRET_KEY/);
    const config = loadConfig({ STORAGE_BACKEND: 's3', BACKEND_S3_ENDPOINT: 'http://127.0.0.1:7480', BACKEND_S3_ACCESS_KEY: 'a', BACKEND_S3_SECRET_KEY: 'b' });
    expect(config).toMatchObject({ BACKEND_S3_REGION: 'us-east-1', BACKEND_S3_FORCE_PATH_STYLE: true, BACKEND_TIMEOUT_MS: 30_000, BACKEND_BUCKET_PREFIX: 'cs-' });
    expect(() => loadConfig({ STORAGE_BACKEND: 's3', BACKEND_S3_ENDPOINT: 'not a url', BACKEND_S3_ACCESS_KEY: 'a', BACKEND_S3_SECRET_KEY: 'b' })).toThrow(/BACKEND_S3_ENDPOINT/);
  });

  it('refuses DATABASE_URL without MASTER_KEY (every gateway sharing the database needs the same key), and non-PostgreSQL URLs', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://cs@db:5432/cs' })).toThrow(/MASTER_KEY: required with DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://cs@db/cs', MASTER_KEY: 'a'.repeat(64) })).toThrow(/DATABASE_URL/);
    expect(loadConfig({ DATABASE_URL: 'postgresql://cs@db:5432/cs', MASTER_KEY: 'a'.repeat(64) })).toMatchObject({
      DATABASE_URL: 'postgresql://cs@db:5432/cs',
      DATABASE_POOL_MAX: 10,
      DATABASE_CONNECT_TIMEOUT_MS: 5000,
    });
  });

  it('compose.yaml configures CloudStorage with schema variables only, valid for the s3 backend, images pinned', () => {
    const compose = readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8');
    const lines = compose.split('\n');
    // The `cloudstorage:` service block: up to the next service at the same indentation.
    const start = lines.findIndex((line) => /^ {2}cloudstorage:\s*$/.test(line));
    expect(start).toBeGreaterThan(0);
    const end = lines.findIndex((line, index) => index > start && /^ {2}\S/.test(line));
    const block = lines.slice(start, end < 0 ? undefined : end);
    const envStart = block.findIndex((line) => /^ {4}environment:\s*$/.test(line));
    expect(envStart).toBeGreaterThan(0);
    const environment: Record<string, string> = {};
    for (const line of block.slice(envStart + 1)) {
      if (line.trim() === '' || line.trim().startsWith('#')) continue;
      if (!/^ {6}/.test(line)) break;
      const match = /^\s*([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$/.exec(line);
      if (!match) throw new Error(`unreadable environment line: ${line}`);
      // `${VAR:-default}` / `${VAR:?message}` are filled in by compose from the shell or .env.
      environment[match[1]] = match[2]
        .replace(/^"(.*)"$/, '$1')
        .replace(/\$\{[A-Z_]+:-([^}]*)\}/, '$1')
        .replace(/\$\{[A-Z_]+:\?[^}]*\}/, 'from-the-environment');
    }
    const known = new Set(configVariableNames());
    for (const name of Object.keys(environment)) expect(known.has(name), `${name} is not in the config schema`).toBe(true);
    const config = loadConfig(environment);
    expect(config.STORAGE_BACKEND).toBe('s3');
    expect(config.BACKEND_S3_ENDPOINT).toBe('http://minio:9000');
    expect(config.REDIS_URL).toBe('redis://redis:6379/0');
    // Reproducible deployments: every image has an explicit version tag.
    const images = [...compose.matchAll(/^\s*image:\s*(\S+)\s*$/gm)].map((match) => match[1]);
    // minio and redis, and the scaled profile's postgres and haproxy (compose.test.ts).
    expect(images.length).toBe(4);
    for (const image of images) expect(image, image).toMatch(/:[^:]*\d[^:]*$/);
    expect(images.some((image) => image.startsWith('minio/minio:RELEASE.'))).toBe(true);
  });
});
