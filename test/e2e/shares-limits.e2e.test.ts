import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.ts';
import { spawnServer, startTestServer, tempDir, type TestServer } from '../support/cloudstorage.ts';
import { callApi, signupViaApi, type SignedUp } from '../support/dashboard.ts';
import { unzipWithPython } from '../support/unzip.ts';

type Endpoint = { apiEndpoint: string };

async function putFile(server: Endpoint, account: SignedUp, key: string, body: Uint8Array | string) {
  const response = await fetch(`${server.apiEndpoint}/api/v1/files?key=${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: { 'x-api-key': `${account.firstKey.accessKey}:${account.firstKey.secretKey}`, 'content-type': 'application/octet-stream' },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  if (response.status !== 201) throw new Error(`upload of ${key} failed: ${response.status} ${await response.text()}`);
}

/** Share-link limits on the fs backend: public access per address, a zip of many files, and the download count across two processes. */
describe('share links: rate limits and scale', () => {
  const clock = fixedClock(new Date());
  let server: TestServer;
  let alice: SignedUp;

  beforeAll(async () => {
    server = await startTestServer({ RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_SHARE_ACCESS: '4/1m' }, { clock });
    alice = await signupViaApi(server);
  });
  afterAll(async () => server?.close());

  it('limits public share access per client address (429 + Retry-After, as a page or JSON), whatever the code', async () => {
    await putFile(server, alice, 'limited.txt', 'limited');
    const { json } = await callApi(server, '/api/shares', { cookie: alice.cookie, body: { bucket: 'default', objectKey: 'limited.txt', expiresIn: '1h' } });
    const statuses = [];
    for (const path of [`/s/${json.code}`, `/s/${json.code}/info`, `/s/${json.code}/download`, '/s/unknown-code/info'])
      statuses.push((await fetch(`${server.apiEndpoint}${path}`)).status);
    expect(statuses).toEqual([200, 200, 200, 404]);
    const page = await fetch(`${server.apiEndpoint}/s/${json.code}`);
    expect([page.status, page.headers.get('content-type'), Number(page.headers.get('retry-after'))]).toEqual([429, 'text/html; charset=utf-8', 15]);
    const api = await fetch(`${server.apiEndpoint}/api/shares/download?code=${json.code}`);
    expect([api.status, (await api.json()).error]).toEqual([429, 'shares.rate_limited']);
    clock.advance(15_000);
    expect(await (await fetch(`${server.apiEndpoint}/s/${json.code}/download`)).text()).toBe('limited');
    clock.advance(60_000);
  });

  it('zips a folder of 250 files (two listing pages)  in one streamed download, byte for byte', async () => {
    const files = new Map<string, Buffer>();
    for (let index = 0; index < 250; index++) files.set(`many/${String(index).padStart(3, '0')}.bin`, randomBytes(64 + (index % 50)));
    const keys = [...files.keys()];
    for (let start = 0; start < keys.length; start += 25) await Promise.all(keys.slice(start, start + 25).map((key) => putFile(server, alice, key, files.get(key)!)));
    const { json } = await callApi(server, '/api/shares', { cookie: alice.cookie, body: { bucket: 'default', objectKey: 'many/', expiresIn: '1h' } });
    const response = await fetch(`${server.apiEndpoint}/s/${json.code}/download`);
    expect([response.status, response.headers.get('content-disposition')]).toEqual([200, 'attachment; filename="many.zip"']);
    const entries = await unzipWithPython(Buffer.from(await response.arrayBuffer()));
    expect(Object.keys(entries)).toHaveLength(250);
    expect(entries).toEqual(Object.fromEntries(keys.map((key) => [key.slice('many/'.length), files.get(key)!.toString('hex')])));
    clock.advance(60_000);
  });
});

/**
 * The download limit holds across gateways: two server processes (`node dist/main.mjs`) over one
 * DATA_DIR count in the same SQLite row, so of 20 parallel downloads split between them exactly
 * `maxDownloads` get the bytes.
 */
describe('share links: two server processes sharing one DATA_DIR', () => {
  const dir = tempDir();
  let first: Awaited<ReturnType<typeof spawnServer>>;
  let second: Awaited<ReturnType<typeof spawnServer>>;

  beforeAll(async () => {
    const env = { DATA_DIR: dir.path, FS_FSYNC: 'false', RATE_LIMIT_DASHBOARD: 'off', RATE_LIMIT_SHARE_ACCESS: 'off' };
    first = await spawnServer(env);
    second = await spawnServer(env);
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    dir.remove();
  });

  it('lets exactly maxDownloads of 20 parallel downloads through, across both processes', async () => {
    const owner = await signupViaApi(first);
    const bytes = randomBytes(8192);
    await putFile(first, owner, 'shared.bin', bytes);
    const { json } = await callApi(first, '/api/shares', { cookie: owner.cookie, body: { bucket: 'default', objectKey: 'shared.bin', expiresIn: '1h', maxDownloads: 5 } });
    const responses = await Promise.all(Array.from({ length: 20 }, (_, index) => fetch(`${(index % 2 ? first : second).apiEndpoint}/s/${json.code}/download`)));
    const bodies = await Promise.all(responses.map((response) => response.arrayBuffer()));
    const served = responses.flatMap((response, index) => (response.status === 200 ? [Buffer.from(bodies[index]!)] : []));
    expect(served).toHaveLength(5);
    for (const body of served) expect(body.equals(bytes)).toBe(true);
    expect(responses.filter((response) => response.status === 410)).toHaveLength(15);
    const listed = await callApi(second, '/api/shares', { cookie: owner.cookie });
    expect(listed.json.shares[0]).toMatchObject({ id: json.id, downloads: 5, maxDownloads: 5 });
  });
});
