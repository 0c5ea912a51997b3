import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnServer, tempDir } from '../support/cloudstorage.ts';
import { signRaw } from '../support/raw-s3.ts';

const SIZE = 2 * 1024 ** 3;
const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/** 2 GiB of a repeating pattern, produced on demand: the test process stays small too. */
function patternBody(): Readable {
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= SIZE) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

describe('memory stays flat for multi-GiB objects', () => {
  const dir = tempDir();
  let server: Awaited<ReturnType<typeof spawnServer>>;
  let credentials: { accessKeyId: string; secretAccessKey: string };

  beforeAll(async () => {
    server = await spawnServer({ DATA_DIR: dir.path, FS_FSYNC: 'false' });
    credentials = (await runCli(['user', 'create', '--email', 'mem@example.com', '--password', 'memory-test-password'], { DATA_DIR: dir.path })).json;
  });
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it('uploads and downloads 2 GiB through the gateway with server RSS growth under 100 MiB', async () => {
    const pid = server.child.pid!;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 100);
    try {
      const url = new URL(server.endpoint);
      const put = await signRaw(server.endpoint, credentials, {
        method: 'PUT',
        path: '/default/huge.bin',
        payloadHash: 'UNSIGNED-PAYLOAD',
        headers: { 'content-length': String(SIZE) },
      });
      const expectedMd5 = createHash('md5');
      const source = patternBody();
      source.on('data', (chunk: Buffer) => expectedMd5.update(chunk));
      const putStatus = await new Promise<{ status: number; etag?: string }>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, method: 'PUT', path: put.path, headers: put.headers }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag as string | undefined }));
        });
        req.on('error', reject);
        source.pipe(req);
      });
      expect(putStatus.status).toBe(200);
      const md5 = expectedMd5.digest('hex');
      expect(putStatus.etag).toBe(`"${md5}"`);

      const get = await signRaw(server.endpoint, credentials, { method: 'GET', path: '/default/huge.bin' });
      const downloaded = createHash('md5');
      let bytes = 0;
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, method: 'GET', path: get.path, headers: get.headers }, (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-length']).toBe(String(SIZE));
          pipeline(res, async (chunks: AsyncIterable<Buffer>) => {
            for await (const chunk of chunks) {
              bytes += chunk.length;
              downloaded.update(chunk);
            }
          }).then(resolve, reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(bytes).toBe(SIZE);
      expect(downloaded.digest('hex')).toBe(md5);
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (peak - baseline) / MiB;
    console.log(`server RSS baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB`);
    expect(growthMiB).toBeLessThan(100);
  }, 300_000);
});
