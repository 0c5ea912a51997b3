import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/** The error a stalled request body is destroyed with (what the body's readers see). */
export class BodyIdleTimeoutError extends Error {
  readonly code = 'ERR_BODY_IDLE_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`no request body byte arrived for ${timeoutMs} ms`);
    this.name = 'BodyIdleTimeoutError';
  }
}

/** Whether the request was ended by its body idle timeout (rather than by the client or a handler). */
export function endedByBodyIdleTimeout(incoming: IncomingMessage): boolean {
  return incoming.errored instanceof BodyIdleTimeoutError;
}

export interface BodyIdleTimeoutOptions {
  /** Longest wait for the next body byte while the server is ready to read it; 0 disables the watch. */
  timeoutMs: number;
  /**
   * True while the server, not the client, holds the body back: e.g. `Expect: 100-continue`
   * before the server sent `100 Continue` (the client rightly waits; that is no stall).
   */
  serverHoldsBody?: (incoming: IncomingMessage, outgoing: ServerResponse) => boolean;
  /** Told once when a stalled request is cut (for logging). */
  onTimeout?: (incoming: IncomingMessage, outgoing: ServerResponse) => void;
}

/** RFC 9112 §6.3: a request has a body exactly when it carries Transfer-Encoding or a non-zero Content-Length. */
function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * Cuts a request whose body stops arriving: once `timeoutMs` passed without one byte read from
 * the socket while the server was ready for more, the request is destroyed with a
 * `BodyIdleTimeoutError`. Its readers (the storage backend, busboy, an XML reader) then fail,
 * which drops the partial object and settles the upload's quota reservation; the connection
 * closes. Without this a client that sends 10 of 1,000,000 bytes and stops holds two file
 * descriptors, a temp file and its quota forever (Node's `requestTimeout` is off for
 * multi-GiB uploads).
 *
 * Progress is the socket's `bytesRead`, so a slow upload that keeps moving is never cut however
 * long it takes, and nothing here reads or re-modes the body stream. Time is not counted while
 * the server is the one not reading: bytes buffered and unconsumed (backpressure from a slow
 * backend, a handler still checking the quota) or `serverHoldsBody` (100-continue not sent).
 * The check runs every quarter of the timeout, so a stall is cut between `timeoutMs` and
 * 1.25 × `timeoutMs` after the last byte, and a body that moves at least once per `timeoutMs`
 * never is.
 */
export function watchBodyIdle(incoming: IncomingMessage, outgoing: ServerResponse, options: BodyIdleTimeoutOptions): void {
  const { timeoutMs } = options;
  if (timeoutMs <= 0 || !hasBody(incoming.headers)) return;
  const socket = incoming.socket;
  const period = Math.max(1, Math.ceil(timeoutMs / 4));
  let lastBytesRead = socket.bytesRead;
  let idleSince = performance.now();
  let timer: NodeJS.Timeout | undefined;

  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
    incoming.off('end', stop);
    incoming.off('close', stop);
  };
  const check = () => {
    // The whole body arrived: whatever happens to it now is the server's doing.
    if (incoming.complete) return stop();
    const now = performance.now();
    const bytesRead = socket.bytesRead;
    const waitingOnServer = incoming.readableLength > 0 || (options.serverHoldsBody?.(incoming, outgoing) ?? false);
    if (bytesRead !== lastBytesRead || waitingOnServer) {
      lastBytesRead = bytesRead;
      idleSince = now;
    } else if (now - idleSince >= timeoutMs) {
      stop();
      options.onTimeout?.(incoming, outgoing);
      incoming.destroy(new BodyIdleTimeoutError(timeoutMs));
      return;
    }
    timer = setTimeout(check, period);
    // A pending check must not keep a closing process alive.
    timer.unref();
  };
  incoming.once('end', stop);
  incoming.once('close', stop);
  timer = setTimeout(check, period);
  timer.unref();
}

/** Wraps a request listener so that every request body it serves is watched by `watchBodyIdle`. */
export function withBodyIdleTimeout(listener: RequestListener, options: BodyIdleTimeoutOptions): RequestListener {
  if (options.timeoutMs <= 0) return listener;
  return (incoming, outgoing) => {
    watchBodyIdle(incoming, outgoing, options);
    return listener(incoming, outgoing);
  };
}
