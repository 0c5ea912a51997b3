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

/** Longest pause between two sweeps: bounds how long a finished request stays referenced. */
const MAX_SWEEP_PERIOD_MS = 1_000;

interface WatchedBody {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
  lastBytesRead: number;
  idleSince: number;
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
 *
 * One sweep timer serves every watched request (a timer and two listeners per request were a
 * measurable part of a small PUT): it runs every quarter of the timeout (at most every second)
 * while any body is watched, forgets requests whose body is complete, and cuts a stall between
 * `timeoutMs` and `timeoutMs` plus one period after the last byte; a body that moves at least once
 * per `timeoutMs` never is.
 */
export function createBodyIdleWatcher(options: BodyIdleTimeoutOptions): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  const { timeoutMs } = options;
  const period = Math.max(1, Math.min(Math.ceil(timeoutMs / 4), MAX_SWEEP_PERIOD_MS));
  const watched = new Set<WatchedBody>();
  let timer: NodeJS.Timeout | undefined;

  const sweep = () => {
    const now = performance.now();
    for (const body of watched) {
      const { incoming, outgoing } = body;
      // The whole body arrived (whatever happens to it now is the server's doing), or it is gone.
      if (incoming.complete || incoming.destroyed) {
        watched.delete(body);
        continue;
      }
      const bytesRead = incoming.socket.bytesRead;
      const waitingOnServer = incoming.readableLength > 0 || (options.serverHoldsBody?.(incoming, outgoing) ?? false);
      if (bytesRead !== body.lastBytesRead || waitingOnServer) {
        body.lastBytesRead = bytesRead;
        body.idleSince = now;
      } else if (now - body.idleSince >= timeoutMs) {
        watched.delete(body);
        options.onTimeout?.(incoming, outgoing);
        incoming.destroy(new BodyIdleTimeoutError(timeoutMs));
      }
    }
    if (watched.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return (incoming, outgoing) => {
    if (timeoutMs <= 0 || !hasBody(incoming.headers)) return;
    watched.add({ incoming, outgoing, lastBytesRead: incoming.socket.bytesRead, idleSince: performance.now() });
    if (timer === undefined) {
      timer = setInterval(sweep, period);
      // A pending sweep must not keep a closing process alive.
      timer.unref();
    }
  };
}

/** Wraps a request listener so that every request body it serves is watched (see `createBodyIdleWatcher`). */
export function withBodyIdleTimeout(listener: RequestListener, options: BodyIdleTimeoutOptions): RequestListener {
  if (options.timeoutMs <= 0) return listener;
  const watch = createBodyIdleWatcher(options);
  return (incoming, outgoing) => {
    watch(incoming, outgoing);
    return listener(incoming, outgoing);
  };
}
