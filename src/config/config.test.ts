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

  it('compose.yaml sets only variables the config schema knows', () => {
    const compose = readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8');
    // Keys of every `environment:` mapping (indented NAME: value lines below it).
    const names: string[] = [];
    let inEnvironment = false;
    let indent = 0;
    for (const line of compose.split('\n')) {
      const match = /^(\s*)environment:\s*$/.exec(line);
      if (match) {
        inEnvironment = true;
        indent = match[1].length;
        continue;
      }
      if (!inEnvironment || line.trim() === '' || line.trim().startsWith('#')) continue;
      const leading = line.length - line.trimStart().length;
      if (leading <= indent) {
        inEnvironment = false;
        continue;
      }
      const key = /^\s*-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*[:=]/.exec(line)?.[1];
      if (key) names.push(key);
    }
    expect(names.length).toBeGreaterThan(0);
    const known = new Set(configVariableNames());
    for (const name of names) expect(known.has(name), `${name} is not in the config schema`).toBe(true);
  });
});
