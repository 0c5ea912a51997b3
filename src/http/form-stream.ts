import busboy from 'busboy';
import type { Readable } from 'node:stream';

/**
 * A streaming multipart/form-data parser over a request body, with what every form reader (the
 * S3 POST Object form, the REST API's uploads) needs around it. The reader adds its own `field`,
 * `file`, `error` and `close` listeners, then calls `start()`.
 */
export interface FormStream {
  parser: busboy.Busboy;
  /** Settles when the parser closed (or rejects when it failed); observed here, so nobody has to wait for it. */
  finished: Promise<void>;
  /** Why the parser failed (a truncated or malformed body), if it did. */
  failure(): Error | undefined;
  /** Stops parsing (a refused request): the rest of the body is not parsed. */
  discard(): void;
  /** Pipes the body into the parser. */
  start(): void;
}

/** Throws busboy's error when `contentType` is not a usable multipart/form-data type (no boundary, …). */
export function openFormStream(source: Readable, contentType: string, limits: busboy.Limits): FormStream {
  // Browsers and curl send non-ASCII file names as raw UTF-8 bytes.
  const parser = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8', limits });
  let failure: Error | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    parser.once('close', resolve);
    parser.once('error', (error: Error) => {
      failure = error;
      reject(error);
    });
  });
  // Observed by the caller after a successful upload; after a refusal nobody waits for it.
  finished.catch(() => undefined);
  return {
    parser,
    finished,
    failure: () => failure,
    discard() {
      source.unpipe(parser);
      parser.destroy();
    },
    start() {
      // A request cut short never ends the parser by itself (pipe() does not forward errors):
      // failing it destroys the file stream, so the backend stores nothing.
      source.once('close', () => {
        if (!source.readableEnded) parser.destroy(new Error('the request ended before the form was complete'));
      });
      source.pipe(parser);
    },
  };
}
