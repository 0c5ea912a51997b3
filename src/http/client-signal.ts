import { setMaxListeners } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const CONNECTION = Symbol('cloudstorage.clientConnection');

/**
 * Most requests may add this many abort listeners on their connection's signal at once (pipelined
 * requests share it). A request leaving one behind would, after that many requests on a
 * keep-alive connection, make Node warn about a leak; the tests watch for that warning.
 */
const MAX_LISTENERS_PER_CONNECTION = 64;

interface ClientConnection {
  readonly controller: AbortController;
  /** The newest request's response on this connection; responses finish in request order. */
  current: ServerResponse;
}

type TrackedSocket = Socket & { [CONNECTION]?: ClientConnection };

/**
 * An AbortSignal that aborts when the request's client goes away before the response was sent in
 * full. The objects service hands it to every backend call, so a disconnect cancels the backend
 * work (the proxy's upstream request, the fs backend's next step) instead of finishing it for
 * nobody. It never aborts once the response has finished.
 *
 * In HTTP/1.1 a client can only go away by closing its connection, so there is one signal per
 * connection, created with it and shared by its requests: a request costs a property write
 * instead of an AbortController and three listeners (that was a measurable part of a 4 KiB GET).
 * When the socket closes while the newest response is unfinished (the request body cut short,
 * or the answer not fully written), the signal aborts; responses finish in order, so a finished
 * newest response means every request on the connection was served. Whoever listens to the
 * signal must remove its listener when done (AbortSignal users in Node and undici do).
 */
export function clientSignal(incoming: IncomingMessage, outgoing: ServerResponse): AbortSignal {
  const socket = incoming.socket as TrackedSocket;
  let connection = socket[CONNECTION];
  if (connection === undefined) {
    const controller = new AbortController();
    setMaxListeners(MAX_LISTENERS_PER_CONNECTION, controller.signal);
    const created: ClientConnection = { controller, current: outgoing };
    connection = created;
    socket[CONNECTION] = created;
    const gone = () => {
      if (!created.current.writableFinished) controller.abort(clientGoneError());
    };
    if (socket.destroyed) gone();
    else socket.once('close', gone);
  } else {
    connection.current = outgoing;
  }
  return connection.controller.signal;
}

/** The reason a client's signal carries: an AbortError, as `AbortSignal.abort()` would give. */
export function clientGoneError(): Error {
  return new DOMException('The client closed the connection before the response was complete.', 'AbortError');
}

export function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}
