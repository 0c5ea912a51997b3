import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A running Ceph RADOS Gateway (S3 API) started by `scripts/ceph-rgw.sh`, or a shared one (CEPH_RGW_ENV_FILE). */
export interface CephRgw {
  /** e.g. http://127.0.0.1:40123 — use path-style requests (forcePathStyle: true). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The region to sign with ("default", the zonegroup's api_name; RGW also accepts us-east-1 signatures). */
  region: string;
  /** The cluster's directory (config, logs, data). */
  dir: string;
  /** Kills the cluster's processes and removes `dir`; a no-op for a shared RGW from CEPH_RGW_ENV_FILE. */
  stop(): Promise<void>;
}

export const CEPH_RGW_SCRIPT = fileURLToPath(new URL('../../scripts/ceph-rgw.sh', import.meta.url));

/** True when the Ceph packages are installed (`scripts/ceph-rgw.sh install`), or a shared RGW is configured. */
export function cephAvailable(): boolean {
  if (process.env.CEPH_RGW_ENV_FILE) return true;
  return spawnSync('sh', ['-c', 'command -v radosgw'], { stdio: 'ignore' }).status === 0;
}

/** Parses `KEY=VALUE` lines (as printed by `scripts/ceph-rgw.sh start` and written to DIR/env). */
export function parseEnvLines(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return env;
}

/**
 * createS3Backend's connection to the RGW that `rgw` (its env file, parsed) describes, for the
 * backend's own suites; `endpoint` puts a relay or proxy in between.
 */
export function rgwBackendConnection(rgw: Record<string, string>, endpoint = rgw.BACKEND_S3_ENDPOINT!) {
  return {
    endpoint,
    accessKeyId: rgw.BACKEND_S3_ACCESS_KEY!,
    secretAccessKey: rgw.BACKEND_S3_SECRET_KEY!,
    region: rgw.BACKEND_S3_REGION!,
    forcePathStyle: true,
    timeoutMs: 10_000,
  };
}

function handleFrom(env: Record<string, string>, source: string, stop: () => Promise<void>): CephRgw {
  const required = ['BACKEND_S3_ENDPOINT', 'BACKEND_S3_ACCESS_KEY', 'BACKEND_S3_SECRET_KEY', 'BACKEND_S3_REGION'];
  const missing = required.filter((key) => !env[key]);
  if (missing.length > 0) throw new Error(`${source} lacks ${missing.join(', ')}`);
  return {
    endpoint: env.BACKEND_S3_ENDPOINT,
    accessKey: env.BACKEND_S3_ACCESS_KEY,
    secretKey: env.BACKEND_S3_SECRET_KEY,
    region: env.BACKEND_S3_REGION,
    dir: env.CEPH_RGW_DIR ?? '',
    stop,
  };
}

/** Clusters started by this process, stopped synchronously if the process exits without stop(). */
const running = new Set<string>();
process.once('exit', () => {
  for (const dir of running) {
    try {
      execFileSync('bash', [CEPH_RGW_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // best effort
    }
  }
});

/**
 * Starts a throwaway single-node Ceph cluster with RGW on a free loopback port (~6-20 s) and resolves
 * once it answers signed S3 requests. With CEPH_RGW_ENV_FILE set, returns the RGW described by that
 * KEY=VALUE file instead (its stop() does nothing), so CI can share one RGW between test files.
 */
export async function startCephRgw(): Promise<CephRgw> {
  const shared = process.env.CEPH_RGW_ENV_FILE;
  if (shared) {
    return handleFrom(parseEnvLines(readFileSync(shared, 'utf8')), shared, async () => {});
  }
  if (!cephAvailable()) {
    throw new Error(`radosgw is not installed (run: ${CEPH_RGW_SCRIPT} install)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ceph-rgw-'));
  running.add(dir);
  let stdout: string;
  try {
    stdout = await new Promise<string>((resolve, reject) => {
      execFile('bash', [CEPH_RGW_SCRIPT, 'start', dir], { timeout: 150_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (error, out, err) => {
        if (error) reject(new Error(`${CEPH_RGW_SCRIPT} start ${dir} failed (${error.killed ? 'timed out' : `exit ${error.code}`}):\n${err.slice(-4_000)}`));
        else resolve(out);
      });
    });
  } catch (error) {
    await stopDir(dir).catch(() => {});
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return handleFrom(parseEnvLines(stdout), `${CEPH_RGW_SCRIPT} start output`, () => (stopped ??= stopDir(dir)));
}

function stopDir(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [CEPH_RGW_SCRIPT, 'stop', dir], { timeout: 30_000, encoding: 'utf8' }, (error, _out, err) => {
      running.delete(dir);
      if (error) {
        rmSync(dir, { recursive: true, force: true });
        reject(new Error(`${CEPH_RGW_SCRIPT} stop ${dir} failed: ${error.message}\n${err}`));
      } else {
        resolve();
      }
    });
  });
}
