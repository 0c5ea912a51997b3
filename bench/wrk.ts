/** Running wrk (C, Debian package `wrk`) against a signed request, shared by the wrk benchmarks. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, type Target } from './lib.ts';

/** A Lua script replaying one request (method, headers, body) for wrk. */
export function luaScript(dir: string, name: string, target: Target, body?: Buffer): string {
  const path = join(dir, `${name}.lua`);
  const lines = [`wrk.method = "${target.method}"`];
  for (const [header, value] of Object.entries(target.headers)) {
    // wrk sends its own Content-Length for a body (the same value the signature covers).
    if (body && header.toLowerCase() === 'content-length') continue;
    // wrk sends Host from the URL (the same host:port the signature covers); a second one is a 400.
    if (header.toLowerCase() === 'host') continue;
    lines.push(`wrk.headers["${header}"] = "${String(value)}"`);
  }
  if (body) lines.push(`wrk.body = string.rep(string.char(${body[0]}), ${body.length})`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

export interface WrkResult {
  requestsPerSecond: number;
  /** CPU (user+system) of `target.pid` and its children per request; 0 without a pid. */
  cpuMicrosPerRequest: number;
  /** CPU of each of `alsoMeasure`'s processes (and their children) per request: a database server beside the gateway. */
  otherCpuMicrosPerRequest: number[];
  /** wrk's non-2xx/3xx and socket error lines, empty when none. */
  errors: string;
}

/**
 * One wrk run of `seconds` over `connections` keep-alive connections, one thread: it leaves the
 * other core to the server (2-core machine).
 */
export async function runWrk(target: Target, script: string, connections: number, seconds: number, alsoMeasure: number[] = []): Promise<WrkResult> {
  const before = cpuSeconds(target.pid);
  const othersBefore = alsoMeasure.map(cpuSeconds);
  // Asynchronously: this process must keep reading the servers' stderr (access lines), or a full pipe stalls them.
  const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${target.port}${target.path}`]);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  await new Promise((resolve) => child.once('close', resolve));
  const after = cpuSeconds(target.pid);
  const othersAfter = alsoMeasure.map(cpuSeconds);
  const total = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
  const errors = [/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[0], /Socket errors:.*/.exec(stdout)?.[0]].filter(Boolean).join('; ');
  const perRequest = (seconds_: number) => (total > 0 ? (seconds_ * 1e6) / total : 0);
  return {
    requestsPerSecond: rate,
    cpuMicrosPerRequest: perRequest(after - before),
    otherCpuMicrosPerRequest: othersAfter.map((value, index) => perRequest(value - othersBefore[index])),
    errors,
  };
}
