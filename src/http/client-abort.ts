import type { IncomingMessage } from 'node:http';
import { endedByBodyIdleTimeout } from './body-idle-timeout.ts';
import { isAbortError } from './client-signal.ts';

/** How Node reports a request the peer cut off: the socket reset, `aborted`, a stream closed early. */
const ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Whether `error` is the request's client going away (closed or reset the connection before its
 * body was complete, stalled past the body idle timeout, or left while a backend call ran, which
 * the request's `clientSignal` cancelled), as opposed to a server fault. Such requests are
 * everyday events, logged at info, and nobody is left to read an answer.
 */
export function isClientAbort(error: unknown, incoming: IncomingMessage): boolean {
  // A cancelled backend call: the client may have sent its whole body (a GET) before leaving.
  if (isAbortError(error) && (incoming.socket?.destroyed ?? false)) return true;
  if (incoming.complete) return false;
  if (endedByBodyIdleTimeout(incoming)) return true;
  if (incoming.socket && !incoming.socket.destroyed) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && ABORT_CODES.has(code)) || (error as Error | null)?.message === 'aborted';
}
