/**
 * The storage backend settings a DATA_DIR is used with, recorded in `DATA_DIR/backend-settings.json`.
 *
 * The metadata database says which account owns which bucket, but not where the bucket lives:
 * that follows from STORAGE_BACKEND and its settings. The admin CLI is a separate process with
 * its own environment; run without the server's settings (STORAGE_BACKEND=s3 forgotten), it
 * would create an account's `default` bucket on the filesystem backend while the server looks
 * for it on the S3 store (NoSuchBucket on the account's first PUT). So the server records what
 * it runs with at every start, and the CLI refuses to run with anything else.
 *
 * Only settings that decide where buckets live are recorded, never credentials: the endpoint,
 * region and addressing style of an s3 backend, and the bucket-name prefix.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';

export const BACKEND_SETTINGS_FILE = 'backend-settings.json';

export type BackendSettings = Record<string, string | boolean>;

/** The recorded subset of `config` (s3-only settings only for the s3 backend). */
export function backendSettingsOf(config: Config): BackendSettings {
  const settings: BackendSettings = { STORAGE_BACKEND: config.STORAGE_BACKEND, BACKEND_BUCKET_PREFIX: config.BACKEND_BUCKET_PREFIX };
  if (config.STORAGE_BACKEND === 's3') {
    settings.BACKEND_S3_ENDPOINT = config.BACKEND_S3_ENDPOINT ?? '';
    settings.BACKEND_S3_REGION = config.BACKEND_S3_REGION;
    settings.BACKEND_S3_FORCE_PATH_STYLE = config.BACKEND_S3_FORCE_PATH_STYLE;
  }
  return settings;
}

export interface SettingDifference {
  setting: string;
  /** Undefined: not recorded (or not set here), i.e. the setting does not apply to that backend. */
  recorded: string | boolean | undefined;
  current: string | boolean | undefined;
}

/** Every setting whose value differs, STORAGE_BACKEND first. */
export function diffBackendSettings(recorded: BackendSettings, current: BackendSettings): SettingDifference[] {
  const names = [...new Set([...Object.keys(current), ...Object.keys(recorded)])];
  return names.filter((name) => recorded[name] !== current[name]).map((name) => ({ setting: name, recorded: recorded[name], current: current[name] }));
}

/** The record in `dataDir`; undefined when none was written yet (a fresh DATA_DIR). */
export function readBackendSettings(dataDir: string): BackendSettings | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, BACKEND_SETTINGS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as { settings?: BackendSettings };
  return parsed.settings ?? {};
}

/** Writes the record atomically (temp file + rename: a concurrent reader sees the old or the new one). */
export function writeBackendSettings(dataDir: string, settings: BackendSettings, writer: 'server' | 'cli'): void {
  const file = path.join(dataDir, BACKEND_SETTINGS_FILE);
  const staging = `${file}.${process.pid}.tmp`;
  const record = { settings, recordedBy: writer, recordedAt: new Date().toISOString() };
  fs.writeFileSync(staging, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(staging, file);
}

/**
 * The server, at start: records its settings. Returns what changed since the last record (the
 * caller logs it: accounts created before keep their buckets where the old settings put them).
 */
export function recordBackendSettings(dataDir: string, config: Config): SettingDifference[] {
  const current = backendSettingsOf(config);
  const recorded = readBackendSettings(dataDir);
  const changed = recorded ? diffBackendSettings(recorded, current) : [];
  if (!recorded || changed.length > 0) writeBackendSettings(dataDir, current, 'server');
  return changed;
}

export class BackendSettingsMismatchError extends Error {
  readonly code = 'config.backend_settings_mismatch';

  constructor(
    readonly differences: SettingDifference[],
    readonly file: string,
  ) {
    const show = (value: string | boolean | undefined) => (value === undefined ? '(not set)' : JSON.stringify(value));
    super(
      `${differences.map((d) => `${d.setting} is ${show(d.current)} here but ${show(d.recorded)} in ${file}`).join('; ')}. ` +
        'The server records the backend settings it runs with; run the CLI with the same environment (or the same .env file).',
    );
    this.name = 'BackendSettingsMismatchError';
  }
}

/**
 * The CLI, before anything else: refuses settings that differ from the record. With no record
 * (a fresh DATA_DIR, no server started yet) the CLI's settings are recorded, so that a later
 * run with other settings is refused too; the server overwrites the record with its own at start
 * and warns about what changed.
 */
export function checkBackendSettings(dataDir: string, config: Config): void {
  const current = backendSettingsOf(config);
  const recorded = readBackendSettings(dataDir);
  if (!recorded) {
    writeBackendSettings(dataDir, current, 'cli');
    return;
  }
  const differences = diffBackendSettings(recorded, current);
  if (differences.length > 0) throw new BackendSettingsMismatchError(differences, path.join(dataDir, BACKEND_SETTINGS_FILE));
}
