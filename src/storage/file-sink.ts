import type { WriteStream } from 'node:fs';

/**
 * Resolves once `sink` has closed its file (at once if it already has), destroying it first if it
 * is still live. Call it before removing the file of a failed write.
 *
 * Why: `fs.createWriteStream` opens its file in the libuv pool, and when the source fails early,
 * `pipeline()` rejects without waiting for the sink it destroyed. Under load the pool thread doing
 * the open can run after the thread doing the caller's `rm`: the rm finds nothing, the open
 * creates the file a moment later, and a stray temp file stays behind (strace of the fs backend
 * under CPU load: `statx` ENOENT, then `openat(O_CREAT|O_EXCL)`; about 1 failed write in 150).
 * Once the sink has emitted 'close' it touches the path no more, so the rm that follows is final.
 */
export function fileClosed(sink: WriteStream): Promise<void> {
  if (sink.closed) return Promise.resolve();
  return new Promise((resolve) => {
    sink.once('close', () => resolve());
    // A sink the failure never reached (the error came before the pipeline, or after it finished
    // but before autoClose) is closed here; destroying one already destroyed is a no-op.
    sink.destroy();
  });
}
