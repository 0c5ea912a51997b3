import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How often, while draining, connections whose last response finished are closed. */
const IDLE_SWEEP_MS = 50;

export interface HttpDrain {
  /**
   * Stops accepting connections and closes idle keep-alive ones at once; requests in flight get
   * `graceMs` to finish (their responses carry `Connection: close`, and each connection closes
   * once its response is sent); then whatever is left is destroyed. Resolves when the server
   * has closed, with the number of connections cut at the deadline.
   */
  close(graceMs: number): Promise<{ cut: number }>;
}

/** A response Node has not sent the head of yet still decides `Connection`; `shouldKeepAlive = false` makes it `close` and ends the socket after it. */
function closeAfter(_request: IncomingMessage, response: ServerResponse): void {
  response.shouldKeepAlive = false;
}

/** Graceful close for `server`; connections are tracked from this call on, so make it before `listen`. */
export function createHttpDrain(server: Server): HttpDrain {
  // Per connection, not per request: a request in flight is found at drain time as the response
  // its socket is serving (`_httpMessage`), so the request path pays nothing for graceful shutdown.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let closing: Promise<{ cut: number }> | undefined;

  return {
    close(graceMs) {
      closing ??= new Promise((resolve) => {
        let cut = 0;
        const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
        const deadline = setTimeout(() => {
          cut = sockets.size;
          server.closeAllConnections();
        }, graceMs);
        // Listening stops now (the listening socket closes; in a cluster worker, the primary
        // stops handing this worker connections). Node >= 19 also closes idle connections here.
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve({ cut });
        });
        // A request that arrives on a connection still open (pipelined, or sent as the drain began).
        server.prependListener('request', closeAfter);
        if (server.listenerCount('checkContinue') > 0) server.prependListener('checkContinue', closeAfter);
        for (const socket of sockets) {
          const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
          if (response && !response.headersSent) response.shouldKeepAlive = false;
        }
        // Responses already under way keep their `keep-alive` head; the sweep closes their
        // connections as soon as they finish.
        server.closeIdleConnections();
        if (graceMs === 0) {
          cut = sockets.size;
          server.closeAllConnections();
        }
      });
      return closing;
    },
  };
}
