import { PassThrough, type Readable, type Writable } from 'node:stream';

const ignore = () => undefined;

/** What a stage sees when the stage before it closed without ending (the client went away). */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

export interface LinkOptions {
  /**
   * When `target` closes before `source` ended, detach and pause `source` instead of destroying
   * it. For a server's request body: destroying an unfinished `IncomingMessage` destroys its
   * socket, so a reader that failed partway (a full disk, a backend error) would cut the
   * connection before the error response could be sent, and the client would see a reset
   * instead of the 507 or 500. Detached, the request is answered, and the error answer gives up
   * the unread rest (src/http/unread-body.ts: the gateway closes the connection, the REST door
   * drains a small rest).
   */
  keepSource?: boolean;
}

/**
 * `source.pipe(target)` with `stream.pipeline`'s failure rules for one hop: an error or early
 * close of `source` destroys `target` (so whoever reads `target` sees the failure), and `target`
 * closing before `source` ended destroys `source` (or, with `keepSource`, detaches it). Unlike
 * `pipeline` it allocates no AbortController and no end-of-stream bookkeeping per stream, whose
 * cost (an AbortError with its stack trace on every completion) was a visible part of every small
 * upload.
 */
export function linkStreams(source: Readable, target: Writable, options: LinkOptions = {}): void {
  source.pipe(target);
  source.once('error', (error) => target.destroy(error));
  source.once('close', () => {
    if (!source.readableEnded && !target.destroyed) target.destroy(source.errored ?? prematureClose());
  });
  // The reader of `target` may not have started yet (the quota is still being checked): an
  // 'error' without a listener would crash the process. Readers attach their own and still see it.
  target.on('error', ignore);
  target.once('close', () => {
    if (source.readableEnded || source.destroyed) return;
    // With keepSource nothing more to do: pipe() detached `source` from the closed `target` and
    // paused it (its own close listener, registered first). Pausing it here again would stall a
    // drain an error answer may already have started (drainDroppedBody unpipes and resumes).
    if (!options.keepSource) source.destroy();
  });
}

/**
 * A server request's body as a stream of its own, for a reader that destroys what it reads when
 * it fails (a backend's `pipeline`): the request is then only detached (`keepSource`), so the
 * failure can still be answered.
 */
export function detachableBody(incoming: Readable): Readable {
  const body = new PassThrough({ highWaterMark: incoming.readableHighWaterMark });
  linkStreams(incoming, body, { keepSource: true });
  return body;
}
