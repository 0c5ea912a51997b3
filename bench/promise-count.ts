/**
 * Dev aid: promises and async resources the gateway creates per 4 KiB GET (and PUT), counted with
 * an async hook while wrk drives an in-process server: `npx tsx bench/promise-count.ts`.
 */
import { createHook } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { startTestServer } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';
import { send, SMALL } from './lib.ts';
import { luaScript } from './wrk.ts';

const server = await startTestServer({ RATE_LIMIT_READ: 'off', RATE_LIMIT_WRITE: 'off', RATE_LIMIT_LIST: 'off', FS_FSYNC: false } as never);
const account = await server.createAccount();
const hash = createHash('sha256').update(SMALL).digest('hex');
const port = Number(new URL(server.endpoint).port);
const put = await signRaw(server.endpoint, account, { method: 'PUT', path: '/default/small.bin', headers: { 'content-length': '4096' }, payloadHash: hash });
const target = (method: 'GET' | 'PUT', headers: Record<string, string>) => ({ port, method, path: '/default/small.bin', headers });
await send(new Agent(), target('PUT', put.headers as Record<string, string>), SMALL);
const dir = mkdtempSync(`${tmpdir()}/cs-count-`);
for (const method of ['GET', 'PUT'] as const) {
  const signed = method === 'PUT' ? put : await signRaw(server.endpoint, account, { method: 'GET', path: '/default/small.bin' });
  const script = luaScript(dir, method, target(method, signed.headers as Record<string, string>), method === 'PUT' ? SMALL : undefined);
  const counts = new Map<string, number>();
  const hook = createHook({ init: (_id, type) => counts.set(type, (counts.get(type) ?? 0) + 1) }).enable();
  // wrk as a child: its requests are the only work this process does meanwhile.
  const child = await new Promise<string>((resolve) => {
    const wrk = spawn('wrk', ['-t1', '-c4', '-d2s', '-s', script, `http://127.0.0.1:${port}/default/small.bin`]);
    let out = '';
    wrk.stdout.on('data', (chunk: Buffer) => (out += chunk));
    wrk.on('close', () => resolve(out));
  });
  hook.disable();
  const requests = Number(/(\d+) requests in/.exec(child)?.[1] ?? 1);
  const rows = [...counts].sort((a, b) => b[1] - a[1]).map(([type, n]) => `${type} ${(n / requests).toFixed(1)}`);
  console.log(`${method}: ${requests} requests; per request: ${rows.join(', ')}`);
}
await server.close();
