/**
 * Helpers to drive real third-party S3 clients (aws CLI, boto3, rclone, s3cmd) against a test gateway.
 *
 * Every CLI runs isolated from the machine's own configuration: HOME points at a temp directory, every
 * AWS_* / RCLONE_* / S3CMD* variable of the parent environment is dropped (the machine sets AWS_CA_BUNDLE,
 * which breaks rclone), and each tool gets its own config file in that temp directory.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { TestAccount } from './cloudstorage.ts';
import { tempDir } from './cloudstorage.ts';

export const REGION = 'eu-central-1';

const resolved = new Map<string, string>();

/**
 * The real executable behind a pyenv shim (`aws`, `python3`): the shim costs ~0.7 s per call, which adds
 * up over dozens of CLI invocations. Falls back to the bare name (PATH lookup) when pyenv is absent.
 */
export function executable(name: string): string {
  let path = resolved.get(name);
  if (path === undefined) {
    path = name;
    try {
      const found = execFileSync('pyenv', ['which', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
      if (found.startsWith('/')) path = found;
    } catch {
      // no pyenv, or it does not know the command: use PATH
    }
    resolved.set(name, path);
  }
  return path;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  input?: string | Buffer;
}

/** Spawns a command (no shell), captures stdout/stderr, kills it (SIGKILL) after `timeoutMs`. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const command = [file, ...args].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part))).join(' ');
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.env ?? process.env)) if (value !== undefined) env[name] = value;
    const child = spawn(file, args, { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 110_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr, timedOut, durationMs: Date.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
  });
}

/** Formats a result for assertion messages, so a failing test shows what the CLI said. */
export function describeRun(result: RunResult): string {
  const clip = (text: string) => (text.length > 6000 ? `${text.slice(0, 3000)}\n…\n${text.slice(-3000)}` : text);
  return `$ ${result.command}\nexit=${result.code} signal=${result.signal} timedOut=${result.timedOut} (${result.durationMs} ms)\n--- stdout ---\n${clip(result.stdout)}\n--- stderr ---\n${clip(result.stderr)}`;
}

/** Throws with the full CLI output unless it exited 0. */
export function ensureOk(result: RunResult): RunResult {
  if (result.code !== 0 || result.timedOut) throw new Error(`command failed\n${describeRun(result)}`);
  return result;
}

/** The parent environment minus anything that could leak the machine's S3/AWS/rclone/s3cmd config, HOME replaced. */
export function isolatedEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(AWS_|BOTO_|RCLONE_|S3CMD|REQUESTS_CA_BUNDLE|SSL_CERT_|CURL_CA_BUNDLE|HTTPS?_PROXY|https?_proxy|ALL_PROXY|all_proxy)/.test(name)) continue;
    env[name] = value;
  }
  env.HOME = home;
  env.NO_PROXY = '127.0.0.1,localhost';
  env.no_proxy = '127.0.0.1,localhost';
  env.PYTHONUNBUFFERED = '1';
  env.PYTHONIOENCODING = 'utf-8';
  env.LC_ALL = 'C.UTF-8';
  env.LANG = 'C.UTF-8';
  return { ...env, ...extra };
}

export interface CliHarness {
  /** Temp directory holding the CLI's HOME and config; also a good place for work files. */
  home: string;
  env: Record<string, string>;
  run(args: string[], options?: Omit<RunOptions, 'env'>): Promise<RunResult>;
  cleanup(): void;
}

/** aws CLI (v1): credentials and region via temp config files, path-style addressing, --endpoint-url on every call. */
export function awsCli(endpoint: string, account: TestAccount): CliHarness {
  const dir = tempDir('cs-awscli-');
  const configFile = join(dir.path, 'aws-config');
  const credentialsFile = join(dir.path, 'aws-credentials');
  writeFileSync(configFile, `[default]\nregion = ${REGION}\noutput = json\ns3 =\n    addressing_style = path\n`);
  writeFileSync(credentialsFile, `[default]\naws_access_key_id = ${account.accessKeyId}\naws_secret_access_key = ${account.secretAccessKey}\n`);
  const env = isolatedEnv(dir.path, {
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_DEFAULT_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  });
  return {
    home: dir.path,
    env,
    run: (args, options = {}) => run(executable('aws'), ['--endpoint-url', endpoint, ...args], { ...options, env }),
    cleanup: () => dir.remove(),
  };
}

/** python3 with boto3: credentials, region and endpoint via env (config files point into the temp dir). */
export function python(endpoint: string, account: TestAccount): CliHarness {
  const dir = tempDir('cs-boto3-');
  const configFile = join(dir.path, 'aws-config');
  writeFileSync(configFile, `[default]\nregion = ${REGION}\n`);
  const env = isolatedEnv(dir.path, {
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'aws-credentials-none'),
    AWS_ACCESS_KEY_ID: account.accessKeyId,
    AWS_SECRET_ACCESS_KEY: account.secretAccessKey,
    AWS_DEFAULT_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    CS_ENDPOINT: endpoint,
    CS_WORKDIR: dir.path,
  });
  return {
    home: dir.path,
    env,
    run: (args, options = {}) => run(executable('python3'), args, { ...options, env }),
    cleanup: () => dir.remove(),
  };
}

/** rclone with a remote named `cs` (provider Other, path style) in a temp config file; AWS_CA_BUNDLE is not passed. */
export function rclone(endpoint: string, account: TestAccount): CliHarness {
  const dir = tempDir('cs-rclone-');
  const configFile = join(dir.path, 'rclone.conf');
  writeFileSync(
    configFile,
    [
      '[cs]',
      'type = s3',
      'provider = Other',
      'env_auth = false',
      `access_key_id = ${account.accessKeyId}`,
      `secret_access_key = ${account.secretAccessKey}`,
      `endpoint = ${endpoint}`,
      `region = ${REGION}`,
      'force_path_style = true',
      '',
    ].join('\n'),
  );
  const env = isolatedEnv(dir.path, { RCLONE_CONFIG: configFile });
  return {
    home: dir.path,
    env,
    run: (args, options = {}) => run('rclone', ['--config', configFile, '--low-level-retries', '1', '--retries', '1', ...args], { ...options, env }),
    cleanup: () => dir.remove(),
  };
}

/** s3cmd with `-c <temp config>`: plain HTTP, SigV4, path style (host_bucket without %(bucket)s). */
export function s3cmd(endpoint: string, account: TestAccount): CliHarness {
  const dir = tempDir('cs-s3cmd-');
  const configFile = join(dir.path, 's3cfg');
  const host = new URL(endpoint).host;
  writeFileSync(
    configFile,
    [
      '[default]',
      `access_key = ${account.accessKeyId}`,
      `secret_key = ${account.secretAccessKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      `bucket_location = ${REGION}`,
      'use_https = False',
      'signature_v2 = False',
      'check_ssl_certificate = False',
      'guess_mime_type = True',
      'progress_meter = False',
      'multipart_chunk_size_mb = 15',
      '',
    ].join('\n'),
  );
  const env = isolatedEnv(dir.path);
  return {
    home: dir.path,
    env,
    run: (args, options = {}) => run('s3cmd', ['-c', configFile, ...args], { ...options, env }),
    cleanup: () => dir.remove(),
  };
}

// ---------------------------------------------------------------------------------------------
// Local files

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function md5(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex');
}

export function hashFile(path: string, algorithm: 'sha256' | 'md5' = 'sha256'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Writes `size` random bytes to `path` (in 1 MiB writes) and returns their sha256 and md5. */
export function writeRandomFile(path: string, size: number): { sha256: string; md5: string; size: number } {
  mkdirSync(dirname(path), { recursive: true });
  const sha = createHash('sha256');
  const md = createHash('md5');
  const fd = openSync(path, 'w');
  try {
    let left = size;
    while (left > 0) {
      const chunk = randomBytes(Math.min(left, 1024 * 1024));
      writeSync(fd, chunk);
      sha.update(chunk);
      md.update(chunk);
      left -= chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: sha.digest('hex'), md5: md.digest('hex'), size };
}

/** Writes a set of files (relative path → contents) under `root`. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, contents] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, contents);
  }
}

/** Every regular file under `root`, as relative POSIX path → { size, sha256 }, keys sorted. */
export async function hashTree(root: string): Promise<Record<string, { size: number; sha256: string }>> {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) found.push(full);
    }
  };
  walk(root);
  found.sort();
  const result: Record<string, { size: number; sha256: string }> = {};
  for (const full of found) {
    result[relative(root, full).split(sep).join('/')] = { size: statSync(full).size, sha256: await hashFile(full) };
  }
  return result;
}

/** The same description for an in-memory tree, to compare with `hashTree`. */
export function describeTree(files: Record<string, string | Buffer>): Record<string, { size: number; sha256: string }> {
  const result: Record<string, { size: number; sha256: string }> = {};
  for (const path of Object.keys(files).sort()) {
    const contents = typeof files[path] === 'string' ? Buffer.from(files[path] as string) : (files[path] as Buffer);
    result[path] = { size: contents.length, sha256: sha256(contents) };
  }
  return result;
}

export { tempDir };
