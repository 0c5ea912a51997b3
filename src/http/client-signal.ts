import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * An AbortSignal for one request that aborts when its client goes away before the response was
 * sent in full: the request closed or aborted before its body was complete, or the connection
 * closed before the response finished. The objects service hands it to every backend call, so
 * a disconnect cancels the backend work (the proxy's upstream request, the fs backend's next step)
 * instead of finishing it for nobody. It never aborts once the response has finished.
 */
export function clientSignal(incoming: IncomingMessage, outgoing: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const abort = () => {
    if (controller.signal.aborted || outgoing.writableFinished) return;
    controller.abort(clientGoneError());
  };
  incoming.once('aborted', abort);
  incoming.once('close', () => {
    if (!incoming.complete) abort();
  });
  outgoing.once('close', abort);
  return controller.signal;
}

/** The reason a client's signal carries: an AbortError, as `AbortSignal.abort()` would give. */
export function clientGoneError(): Error {
  return new DOMException('The client closed the connection before the response was complete.', 'AbortError');
}

export function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}
