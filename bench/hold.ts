/** Dev aid: start one gateway (env from the command line), put a 4 KiB object, write wrk scripts, print pid/port, stay up. */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS_OFF, send, SMALL, startGateway } from './lib.ts';
import { luaScript } from './wrk.ts';

const out = process.env.HOLD_DIR ?? '/tmp/h';
const env = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=', 2) as [string, string]));
const gateway = await startGateway({
  DATA_DIR: mkdtempSync(join(tmpdir(), 'cs-hold-')),
  ...LIMITS_OFF,
  FS_FSYNC: 'false',
  ...env,
});
const agent = new Agent({ keepAlive: true });
const hash = createHash('sha256').update(SMALL).digest('hex');
const put = await gateway.signed('PUT', '/default/small.bin', { 'content-length': String(SMALL.length) }, hash);
console.log('put', (await send(agent, put, SMALL)).status);
luaScript(out, 'get', await gateway.signed('GET', '/default/small.bin'));
luaScript(out, 'put', put, SMALL);
console.log(JSON.stringify({ pid: gateway.child.pid, port: gateway.port }));
setInterval(() => {}, 1 << 30);
