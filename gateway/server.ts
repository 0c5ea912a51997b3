import { getRequestListener } from '@hono/node-server';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { batchRequests } from '../src/http/batch-requests.ts';
import { withBodyIdleTimeout } from '../src/http/body-idle-timeout.ts';
import { pathOf } from '../src/http/request-path.ts';
import { closeAfterErrorAnswer } from '../src/http/unread-body.ts';
import type { Logger } from '../src/logger.ts';
import { awaitsContinue } from './s3/upload-body.ts';
import { requestIdOf, startS3Response, writeReply, xmlResponse, type S3Reply } from './s3/responses.ts';
import { S3Error } from '../src/errors/s3-errors.ts';
import { newRequestId } from '../src/ids.ts';
import { errorDocument } from '../src/s3-protocol/xml.ts';

export interface S3ServerOptions {
  /** BODY_IDLE_TIMEOUT_MS: a request body that sends no byte for this long is cut (0: never). */
  bodyIdleTimeoutMs?: number;
  logger?: Logger;
}

/** The gateway app: Hono routes (health) plus the S3 request handler the server calls directly. */
export type S3App = Hono<any> & { handleS3(incoming: IncomingMessage, outgoing: ServerResponse): Promise<S3Reply> };

/** Paths the Hono app serves itself (`_` cannot start a bucket name, so none shadows a bucket). */
function isHonoPath(url: string | undefined): boolean {
  return url !== undefined && url.startsWith('/_health') && (url.length === 8 || url[8] === '/' || url[8] === '?');
}

/** A request the gateway failed to answer for a reason it did not render: logged without its query (no signature or credential). */
function logUnhandled(logger: Logger | undefined, incoming: IncomingMessage, error: unknown): void {
  logger?.error('unhandled gateway error', { method: incoming.method, path: pathOf(incoming.url), error: (error as Error)?.stack ?? String(error) });
}

/**
 * S3 requests go straight to `handleS3`: the fetch adapter would build a web Request, a Response
 * and their headers for every request only for the gateway to ignore them (it reads the raw
 * `incoming` and writes `outgoing` itself), which cost as much CPU as a signature check.
 */
function s3Listener(app: S3App, logger: Logger | undefined): RequestListener {
  const viaHono = getRequestListener(app.fetch, { autoCleanupIncoming: false });
  return (incoming, outgoing) => {
    if (isHonoPath(incoming.url)) return viaHono(incoming, outgoing);
    app.handleS3(incoming, outgoing).then(
      (reply) => writeReply(reply, outgoing),
      (error: unknown) => {
        // handleS3 renders every error itself; this is a last resort that must not leak anything.
        logUnhandled(logger, incoming, error);
        if (outgoing.headersSent) outgoing.destroy();
        else {
          const requestId = requestIdOf(outgoing) ?? newRequestId();
          startS3Response(outgoing, requestId);
          // A body left half read (detached by a failed upload stage) is given up with the connection.
          const headers: Record<string, string> = closeAfterErrorAnswer(incoming, awaitsContinue(incoming, outgoing)) ? { Connection: 'close' } : {};
          writeReply(xmlResponse(errorDocument(new S3Error('InternalError'), pathOf(incoming.url), requestId), 500, headers), outgoing);
        }
      },
    );
  };
}

/**
 * The gateway's HTTP server. Two Node defaults are wrong for object storage:
 * - `checkContinue` is handled so `100 Continue` goes out only after authentication (the
 *   handler calls `writeContinue()`), never automatically before the body is accepted;
 * - `requestTimeout` (300 s) would cut multi-GiB uploads, so it is disabled; idle sockets are
 *   still bounded by `headersTimeout` and `keepAliveTimeout`, and a body that stops arriving by
 *   the body idle timeout (src/http/body-idle-timeout.ts), which cuts stalls but not slow uploads.
 */
export function createS3Server(app: S3App, options: S3ServerOptions = {}): Server {
  // Each loop turn's requests are served as one batch (src/http/batch-requests.ts: half the CPU
  // per small request against a client on the same host); the body watch starts on arrival.
  const batched = batchRequests(s3Listener(app, options.logger), (error, incoming) => logUnhandled(options.logger, incoming, error));
  const listener = withBodyIdleTimeout(batched, {
    timeoutMs: options.bodyIdleTimeoutMs ?? 0,
    // Until the gateway sends `100 Continue` (after authentication and the quota check) the client
    // rightly waits. A handler that reads a body without inviting it (the small XML bodies) gets it
    // after the client's own short continue timeout, so from its first read the clock runs.
    serverHoldsBody: (incoming, outgoing) => awaitsContinue(incoming, outgoing) && incoming.readableFlowing === null,
    onTimeout: (incoming, outgoing) =>
      options.logger?.info('request body idle timeout: connection closed', {
        requestId: requestIdOf(outgoing),
        method: incoming.method,
        path: pathOf(incoming.url),
        timeoutMs: options.bodyIdleTimeoutMs,
      }),
  });
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, listener);
  server.on('checkContinue', listener);
  // Node answers 417 to any other Expect value; S3 ignores them and serves the request.
  server.on('checkExpectation', listener);
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
