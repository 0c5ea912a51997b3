/**
 * The proxy baseline: a bare node:http server that forwards each request as it came (method, path,
 * headers, body; the client signed it for the target) to one S3 endpoint over an undici pool, as
 * the gateway's s3 backend does, and pipes the answer back. What one Node hop costs a large
 * transfer on this machine, with none of the gateway's work: bench/rgw.bench.ts puts the gateway
 * between it and direct RGW.
 *
 *   BARE_PROXY_TARGET=http://127.0.0.1:7480 PORT=8081 npx tsx bench/bare-proxy.ts
 */
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent } from 'undici';

const target = process.env.BARE_PROXY_TARGET;
if (!target) throw new Error('BARE_PROXY_TARGET is not set');
const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });

const server = createServer(async (req, res) => {
  try {
    const headers = { ...req.headers };
    delete headers.connection;
    const hasBody = req.method === 'PUT' || req.method === 'POST';
    const answer = await agent.request({ origin: target, path: req.url ?? '/', method: req.method as 'GET', headers, body: hasBody ? req : undefined });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers))
      if (value !== undefined && name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding') out[name] = value;
    res.writeHead(answer.statusCode, out);
    await pipeline(answer.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 8081), '127.0.0.1', () => console.log(`bare proxy on ${process.env.PORT ?? 8081} → ${target}`));
