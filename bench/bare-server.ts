/**
 * The baseline: a bare node:http server doing the least an object store must do.
 * GET /small and /mib answer 4 KiB and 1 MiB from memory; GET /large pipes a file; PUT pipes the body to a file.
 */
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const dir = process.env.BARE_DIR ?? '/tmp/bare-bench';
mkdirSync(dir, { recursive: true });
const small = Buffer.alloc(4096, 7);
const mebibyte = Buffer.alloc(1024 * 1024, 7);
let counter = 0;

const server = createServer(async (req, res) => {
  if (req.method === 'GET' && req.url === '/small') {
    res.writeHead(200, { 'Content-Length': small.length, 'Content-Type': 'application/octet-stream' });
    res.end(small);
    return;
  }
  if (req.method === 'GET' && req.url === '/mib') {
    res.writeHead(200, { 'Content-Length': mebibyte.length, 'Content-Type': 'application/octet-stream' });
    res.end(mebibyte);
    return;
  }
  if (req.method === 'GET' && req.url === '/large') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    await pipeline(createReadStream(join(dir, 'large.bin')), res).catch(() => undefined);
    return;
  }
  if (req.method === 'PUT') {
    const target = req.url === '/large' ? join(dir, 'large.bin') : join(dir, `small-${counter++ % 64}`);
    // wrk closes its connections when a run ends, cutting uploads in flight: not a server fault.
    const stored = await pipeline(req, createWriteStream(target)).then(
      () => true,
      () => false,
    );
    if (!stored) return;
    res.writeHead(200);
    res.end();
    return;
  }
  res.writeHead(404);
  res.end();
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
