/** Per-piece CPU cost of the S3 GET hot path, in-process (no HTTP): `tsx bench/hot-path.ts`. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { startTestServer } from '../test/support/cloudstorage.ts';
import { signRaw } from '../test/support/raw-s3.ts';
import { createSigV4Verifier } from '../src/s3-protocol/sigv4/verify.ts';
import { createSigningKeyCache } from '../src/s3-protocol/sigv4/signing-key-cache.ts';
import { systemClock } from '../src/clock.ts';
import { parseRequestTarget } from '../gateway/s3/request-target.ts';
import { splitRawUrl } from '../src/s3-protocol/sigv4/canonical.ts';
import { parseOperation } from '../gateway/s3/operations.ts';
import { objectHeaders } from '../gateway/s3/headers.ts';
import type { SqliteDatabaseHandle } from '../src/db/database.ts';

const server = await startTestServer();
const a = await server.createAccount();
const core = server.running.core;
const bucket = await core.bucketsUsecases.resolve(a.userId, 'default');
if (bucket.kind !== 'owned') throw new Error();
const body = Buffer.alloc(4096, 1);
await core.backend.putObject({ bucket: bucket.bucket.backendName, key: 'small.bin', body: Readable.from([body]), size: 4096, metadata: { userMetadata: {} } });
const req = await signRaw(server.endpoint, a, { method: 'GET', path: '/default/small.bin' });
const headers = Object.fromEntries(Object.entries(req.headers!).map(([k, v]) => [k.toLowerCase(), v]));
const rawHeaders = Object.entries(headers).flat();
const resolvedKey = await core.keyStore.lookup(a.accessKeyId);
const verifier = createSigV4Verifier({
  clock: systemClock,
  lookupSecret: (id) => (id === resolvedKey?.accessKeyId ? resolvedKey.secretAccessKey : undefined),
  region: 'eu-central-1',
  regionStrict: false,
  signingKeyCache: createSigningKeyCache({}),
});
const time = async (name: string, fn: () => unknown, n = 20000) => {
  for (let i = 0; i < 2000; i++) await fn();
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const u = process.cpuUsage(t);
  console.log(name.padEnd(30), ((u.user + u.system) / n).toFixed(2), 'µs');
};
await time('parseRequestTarget', () => parseRequestTarget('/default/small.bin', '127.0.0.1:9000', undefined));
await time('parseOperation', () => parseOperation('GET', parseRequestTarget('/default/small.bin', '127.0.0.1:9000', undefined), headers as any));
await time('verify', () => verifier.verify({ method: 'GET', target: splitRawUrl('/default/small.bin'), headers: headers as any, rawHeaders }));
await time('verify (no rawHeaders)', () => verifier.verify({ method: 'GET', target: splitRawUrl('/default/small.bin'), headers: headers as any }));
await time('keyStore.lookup', () => core.keyStore.lookup(a.accessKeyId));
await time('buckets.resolve', () => core.bucketsUsecases.resolve(a.userId, 'default'));
await time('backend.getObject', () => core.backend.getObject({ bucket: bucket.bucket.backendName, key: 'small.bin' }));
await time('backend.headObject', () => core.backend.headObject({ bucket: bucket.bucket.backendName, key: 'small.bin' }));
const info = await core.backend.headObject({ bucket: bucket.bucket.backendName, key: 'small.bin' });
await time('objectHeaders', () => objectHeaders(info, { checksumMode: false, ranged: false }));
await time('createHash sha256 empty', () => createHash('sha256').update('').digest('hex'));

// deeper: raw index + async overhead
const idx = (core.backend as any).index;
const keyBuf = Buffer.from('small.bin');
await time('index.getObject', () => idx.getObject(bucket.bucket.backendName, keyBuf));
await time('async noop', async () => undefined);
const raw = (core.database as SqliteDatabaseHandle).sqlite.prepare('SELECT * FROM buckets WHERE user_id = ? AND name = ?');
await time('raw sqlite bucket lookup', () => raw.get(a.userId, 'default'));
await server.close();
