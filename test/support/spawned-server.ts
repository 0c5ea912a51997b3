import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { RECOMMENDED_GLIBC_TUNABLES } from '../../src/lifecycle/allocator.ts';

const PROJECT_ROOT = new URL('../..', import.meta.url).pathname;

/** A parsed JSON log line of the server (pino: `level`, `time`, `pid`, `message`, fields). */
export type LogLine = Record<string, unknown> & { message?: string; level?: string; pid?: number };

export interface SpawnedServer {
  child: ChildProcess;
  /** The ports the server reported binding (it was started with S3_PORT=0 and API_PORT=0). */
  s3Port: number;
  apiPort: number;
  endpoint: string;
  apiEndpoint: string;
  /** Every JSON log line so far, in order (non-JSON output is kept in `output()` only). */
  lines: LogLine[];
  /** The tail of stdout and stderr, for failure messages. */
  output(): string;
  /** Resolves with the exit status (also when the process already exited). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (a process already gone resolves at once). */
  stop(): Promise<void>;
}

const OUTPUT_TAIL = 256 * 1024;
const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

/**
 * `node dist/main.mjs` (built by the global setup) as `npm start` runs it, on ports it picks
 * itself: S3_PORT=0 and API_PORT=0, and the ports are read from its `CloudStorage started` log
 * line. A port probed free and closed before the server binds it can be taken by anyone in
 * between (other suites run in parallel); a port the server reports is its own.
 *
 * With WORKERS > 1 the line that counts is the primary's (it has no `worker` field), logged once
 * every worker listens. The line is at info, so LOG_LEVEL is lowered to info when set higher.
 */
export interface SpawnOptions {
  startTimeoutMs?: number;
  /** The bundle to run, relative to the project root (default `dist/main.mjs`; the bench compares others). */
  entry?: string;
  /** Node options before the script (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /**
   * 'startup': once the server has started, its stderr is drained without being parsed or kept
   * (`lines` stops growing; `output()` still has the tail). For benchmarks: parsing ten thousand
   * access lines a second takes most of a core from the load generator. Default 'all'.
   */
  logLines?: 'all' | 'startup';
}

export async function spawnServer(env: Record<string, string>, options: SpawnOptions = {}): Promise<SpawnedServer> {
  const level = env.LOG_LEVEL && LEVELS.indexOf(env.LOG_LEVEL) > LEVELS.indexOf('info') ? 'info' : (env.LOG_LEVEL ?? 'info');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), resolve(PROJECT_ROOT, options.entry ?? 'dist/main.mjs')], {
    cwd: PROJECT_ROOT,
    // The allocator settings the Dockerfile and `npm start` ship (src/lifecycle/allocator.ts): tests and benchmarks run what production runs.
    env: { GLIBC_TUNABLES: RECOMMENDED_GLIBC_TUNABLES, ...process.env, HOST: '127.0.0.1', ...env, S3_PORT: '0', API_PORT: '0', LOG_LEVEL: level },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let tail = '';
  // Cut back to OUTPUT_TAIL only once twice that has piled up: a copy per chunk would cost a chatty server's reader more than its parsing.
  const keep = (text: string) => {
    tail += text;
    if (tail.length > 2 * OUTPUT_TAIL) tail = tail.slice(-OUTPUT_TAIL);
  };
  const output = () => tail.slice(-OUTPUT_TAIL);
  const lines: LogLine[] = [];
  let partial = '';
  let onLine: ((line: LogLine) => void) | undefined;
  child.stdout!.setEncoding('utf8').on('data', keep);
  let parsing = true;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    keep(chunk);
    if (!parsing) return;
    partial += chunk;
    for (let newline = partial.indexOf('\n'); newline !== -1; newline = partial.indexOf('\n')) {
      const text = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      if (!text.startsWith('{')) continue;
      try {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        onLine?.(line);
      } catch {
        // not a log line
      }
    }
  });

  const started = await new Promise<LogLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${output()}`)), options.startTimeoutMs ?? 30_000);
    onLine = (line) => {
      if (line.message === 'CloudStorage started' && line.worker === undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}):\n${output()}`));
    });
  });
  onLine = undefined;
  if (options.logLines === 'startup') {
    parsing = false;
    partial = '';
  }
  const s3Port = Number(started.s3Port);
  const apiPort = Number(started.apiPort);
  return {
    child,
    s3Port,
    apiPort,
    endpoint: `http://127.0.0.1:${s3Port}`,
    apiEndpoint: `http://127.0.0.1:${apiPort}`,
    lines,
    output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
