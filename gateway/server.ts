import { getRequestListener } from '@hono/node-server';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { withBodyIdleTimeout } from '../src/http/body-idle-timeout.ts';
import type { Logger } from '../src/logger.ts';
import { continueWasSent } from './s3/upload-body.ts';

export interface S3ServerOptions {
  /** BODY_IDLE_TIMEOUT_MS: a request body that sends no byte for this long is cut (0: never). */
  bodyIdleTimeoutMs?: number;
  logger?: Logger;
}

const expectsContinue = (incoming: IncomingMessage) => incoming.headers.expect?.toLowerCase() === '100-continue';

/** The request target without its query: a presigned URL's query carries its signature and credential. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/**
 * The gateway's HTTP server. Two Node defaults are wrong for object storage:
 * - `checkContinue` is handled so `100 Continue` goes out only after authentication (the
 *   handler calls `writeContinue()`), never automatically before the body is accepted;
 * - `requestTimeout` (300 s) would cut multi-GiB uploads, so it is disabled; idle sockets are
 *   still bounded by `headersTimeout` and `keepAliveTimeout`, and a body that stops arriving by
 *   the body idle timeout (src/http/body-idle-timeout.ts), which cuts stalls but not slow uploads.
 */
export function createS3Server(app: Hono<any>, options: S3ServerOptions = {}): Server {
  const listener = withBodyIdleTimeout(getRequestListener(app.fetch, { autoCleanupIncoming: false }), {
    timeoutMs: options.bodyIdleTimeoutMs ?? 0,
    // Until the gateway sends `100 Continue` (after authentication and the quota check) the client
    // rightly waits. A handler that reads a body without inviting it (the small XML bodies) gets it
    // after the client's own short continue timeout, so from its first read the clock runs.
    serverHoldsBody: (incoming, outgoing) => expectsContinue(incoming) && !continueWasSent(outgoing) && incoming.readableFlowing === null,
    onTimeout: (incoming, outgoing) =>
      options.logger?.info('request body idle timeout: connection closed', {
        requestId: outgoing.getHeader('x-amz-request-id'),
        method: incoming.method,
        path: pathOf(incoming.url),
        timeoutMs: options.bodyIdleTimeoutMs,
      }),
  });
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
