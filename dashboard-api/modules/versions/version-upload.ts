import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openFormStream, type FormStream } from '../../../src/http/form-stream.ts';
import { AppError } from '../../../src/errors/app-errors.ts';
import { S3Error } from '../../../src/errors/s3-errors.ts';
import { invalidUploadError } from '../files/files.errors.ts';

const isAppOrS3Error = (error: unknown) => error instanceof AppError || error instanceof S3Error;

/** The `file` part of a Time Machine upload with the `bucket` and `key` fields. */
export interface VersionUploadForm {
  fields: { bucket?: string; key?: string };
  filename: string | undefined;
  contentType: string;
  body: Readable;
  /** Exact size when the part was spooled (fields after the file); undefined while it streams. */
  size?: number;
  /** Settles once the whole form was read. */
  finished: Promise<void>;
  discard(): void;
  formError(): Error | undefined;
  /** Removes the spool file, if any. */
  cleanup(): Promise<void>;
}

/**
 * Reads `POST /api/versions` (multipart: file, bucket, key). When `bucket` and `key` come before
 * the file part (or in the query string) the file streams straight to storage, as the file API's
 * upload does. The spec's own example sends the file first (`curl -F file=@… -F bucket=… -F
 * key=…`), so otherwise the part is spooled to a temporary file until the fields are known, then
 * uploaded from it with its exact size (memory stays flat either way; the file is removed after).
 */
export function readVersionUpload(
  source: Readable,
  contentType: string,
  query: { bucket?: string; key?: string },
  /** Runs before a part is spooled (the quota check of a body not yet admitted by any write); rejecting refuses the upload. */
  beforeSpool: () => Promise<void>,
): Promise<VersionUploadForm> {
  let form: FormStream;
  try {
    form = openFormStream(source, contentType, { fields: 20, fieldSize: 4096, parts: 40 });
  } catch (error) {
    return Promise.reject(invalidUploadError(`Malformed multipart request: ${(error as Error).message}.`));
  }
  const { parser, finished, discard } = form;
  const fields: { bucket?: string; key?: string } = { ...query };
  const formError = () => {
    const failure = form.failure();
    return failure ? invalidUploadError(`Malformed multipart body: ${failure.message}; nothing was stored.`) : undefined;
  };
  const named = () => fields.bucket !== undefined && fields.bucket !== '' && fields.key !== undefined && fields.key !== '';

  return new Promise((resolve, reject) => {
    let found = false;
    parser.on('field', (name: string, value: string) => {
      if (name === 'bucket' || name === 'key') fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || found) {
        stream.resume();
        return;
      }
      found = true;
      stream.on('error', () => undefined);
      const base = { filename: info.filename || undefined, contentType: info.mimeType || 'application/octet-stream', finished, discard, formError };
      if (named()) {
        resolve({ ...base, fields, body: stream, cleanup: async () => undefined });
        return;
      }
      // The fields come after the file: spool it, then answer once the form is complete.
      beforeSpool()
        .then(() => spool(stream, finished))
        .then(
          ({ path, size, remove }) => resolve({ ...base, fields, body: createReadStream(path), size, cleanup: remove, finished: Promise.resolve() }),
          (error: unknown) => {
            stream.resume();
            reject(isAppOrS3Error(error) ? error : (formError() ?? invalidUploadError(`The upload could not be read: ${(error as Error).message}.`)));
          },
        );
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

async function spool(stream: Readable, finished: Promise<void>): Promise<{ path: string; size: number; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-version-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const path = join(dir, 'upload');
    await pipeline(stream, createWriteStream(path));
    await finished;
    return { path, size: (await stat(path)).size, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
