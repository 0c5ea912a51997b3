import type { IncomingMessage } from 'node:http';

/** Node drains a small unread body by itself and keeps the connection; reading a large one would waste the transfer. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

/**
 * Whether an error answer should close the connection (`Connection: close`) rather than let
 * Node drain the unread body: a body already being read cannot be drained (Node dumps only a
 * body nobody touched, so the connection would wait forever on the rest of it), a large one
 * would be transferred for nothing, and after a refused `Expect: 100-continue` the client may
 * never send it at all. Both doors (the S3 gateway and the REST API) answer failed uploads so.
 *
 * `heldBack`: the client waits for a `100 Continue` the server has not sent.
 */
export function closeAfterErrorAnswer(incoming: IncomingMessage, heldBack = false): boolean {
  if (incoming.readableEnded) return false;
  // Once something started reading the body, Node no longer drains the rest by itself.
  if (incoming.readableFlowing !== null) return true;
  const declared = Number(incoming.headers['content-length'] ?? 0);
  if (heldBack && declared > 0) return true;
  if (incoming.headers['transfer-encoding'] !== undefined) return true;
  return declared > DRAIN_LIMIT_BYTES;
}

/**
 * For a JSON door's error answer: when the server started reading the body and then dropped it
 * (a refused form, a full disk), reads the rest and discards it, if it is small enough
 * (Content-Length at most 1 MiB), so a client still sending its body finishes and reads the
 * answer. Closing under it instead makes undici's `fetch` (Node 22+) fail with EPIPE rather than
 * return the answer. (@hono/node-server, which serves the REST door, also drains what is left
 * after the response for up to 500 ms before it closes the socket; this drain starts before the
 * answer and, unlike a closed socket, keeps the connection.) True when it drains; else
 * `closeAfterErrorAnswer` decides. (The S3 gateway closes, as S3 does: its clients expect that.)
 */
export function drainDroppedBody(incoming: IncomingMessage): boolean {
  if (incoming.readableEnded || incoming.readableFlowing === null || incoming.destroyed) return false;
  if (incoming.headers['transfer-encoding'] !== undefined) return false;
  const declared = Number(incoming.headers['content-length'] ?? 0);
  if (!(declared <= DRAIN_LIMIT_BYTES)) return false;
  // Nothing reads it any more: what arrives is discarded.
  incoming.unpipe();
  incoming.resume();
  return true;
}
