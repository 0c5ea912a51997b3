import type { Readable, Writable } from 'node:stream';

const ignore = () => undefined;

/** What a stage sees when the stage before it closed without ending (the client went away). */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * `source.pipe(target)` with `stream.pipeline`'s failure rules for one hop: an error or early
 * close of `source` destroys `target` (so whoever reads `target` sees the failure), and `target`
 * closing before `source` ended destroys `source`. Unlike `pipeline` it allocates no
 * AbortController and no end-of-stream bookkeeping per stream, whose cost (an AbortError with
 * its stack trace on every completion) was a visible part of every small upload.
 */
export function linkStreams(source: Readable, target: Writable): void {
  source.pipe(target);
  source.once('error', (error) => target.destroy(error));
  source.once('close', () => {
    if (!source.readableEnded && !target.destroyed) target.destroy(source.errored ?? prematureClose());
  });
  // The reader of `target` may not have started yet (the quota is still being checked): an
  // 'error' without a listener would crash the process. Readers attach their own and still see it.
  target.on('error', ignore);
  target.once('close', () => {
    if (!source.readableEnded && !source.destroyed) source.destroy();
  });
}
