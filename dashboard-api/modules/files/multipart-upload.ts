import type { Readable } from 'node:stream';
import { openFormStream, type FormStream } from '../../../src/http/form-stream.ts';
import { invalidUploadError } from './files.errors.ts';

export interface FilePart {
  /** The part's filename (base name only), if any. */
  filename: string | undefined;
  contentType: string;
  /** The part's bytes as they arrive: nothing is buffered beyond the parser's chunk. */
  stream: Readable;
  /** Settles once the whole form has been read (after `stream` has been consumed). */
  finished: Promise<void>;
  /** Stops parsing and lets the rest of the request body be drained unparsed (after a refusal). */
  discard(): void;
  /** Why the form failed after the part began (truncated, malformed): `files.invalid_upload`; else undefined. */
  formError(): Error | undefined;
}

/**
 * Streams the `multipart/form-data` part named `file` out of a request body (busboy): the caller
 * pipes `stream` to the storage backend while the client is still sending, so memory does not
 * grow with the file. Other parts are skipped; a second `file` part is ignored. Rejects with
 * `files.invalid_upload` when the form is malformed or has no `file` part.
 */
export function readFilePart(source: Readable, contentType: string): Promise<FilePart> {
  return readFormFile(source, contentType, { fields: 100, fieldSize: 64 * 1024, parts: 200 }, { file: (part) => part });
}

/**
 * The form reading the file API upload and the Time Machine upload (versions/version-upload.ts)
 * share: opens the form with `limits`, hands every field to `handle.field` and the first part
 * named `file` to `handle.file`, whose answer (or rejection) becomes the result. Rejects with
 * `files.invalid_upload` when the form is malformed or has no `file` part.
 */
export function readFormFile<T>(
  source: Readable,
  contentType: string,
  limits: { fields: number; fieldSize: number; parts: number },
  handle: { field?(name: string, value: string): void; file(part: FilePart): T | Promise<T> },
): Promise<T> {
  let form: FormStream;
  try {
    form = openFormStream(source, contentType, limits);
  } catch (error) {
    return Promise.reject(invalidUploadError(`Malformed multipart request: ${(error as Error).message}.`));
  }
  const { parser, finished, discard } = form;

  return new Promise((resolve, reject) => {
    let found = false;
    if (handle.field) parser.on('field', handle.field);
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || found) {
        stream.resume();
        return;
      }
      found = true;
      // The parser fails the stream on a truncated form, maybe before the backend reads it: the
      // failure reaches the backend through the stream state, and the caller through formError().
      stream.on('error', () => undefined);
      const part: FilePart = {
        filename: info.filename || undefined,
        contentType: info.mimeType || 'application/octet-stream',
        stream,
        finished,
        discard,
        formError: () => {
          const failure = form.failure();
          return failure ? invalidUploadError(`Malformed multipart body: ${failure.message}; nothing was stored.`) : undefined;
        },
      };
      let answer: T | Promise<T>;
      try {
        answer = handle.file(part);
      } catch (error) {
        reject(error);
        return;
      }
      resolve(answer);
    });
    parser.once('error', (error: Error) => {
      if (!found) reject(invalidUploadError(`Malformed multipart body: ${error.message}.`));
    });
    parser.once('close', () => {
      if (!found) reject(invalidUploadError('The form has no part named "file".'));
    });
    form.start();
  });
}
