import { getRequestListener } from '@hono/node-server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';

/**
 * The gateway's HTTP server. Two Node defaults are wrong for object storage:
 * - `checkContinue` is handled so `100 Continue` goes out only after authentication (the
 *   handler calls `writeContinue()`), never automatically before the body is accepted;
 * - `requestTimeout` (300 s) would cut multi-GiB uploads, so it is disabled; idle sockets are
 *   still bounded by `headersTimeout` and `keepAliveTimeout`.
 */
export function createS3Server(app: Hono<any>): Server {
  const listener = getRequestListener(app.fetch, { autoCleanupIncoming: false });
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, listener);
  server.on('checkContinue', listener);
  return server;
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
