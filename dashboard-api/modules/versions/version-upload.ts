import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../../src/errors/app-errors.ts';
import { fileClosed } from '../../../src/storage/file-sink.ts';
import { S3Error } from '../../../src/errors/s3-errors.ts';
import { invalidUploadError } from '../files/files.errors.ts';
import { readFormFile } from '../files/multipart-upload.ts';

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
  const fields: { bucket?: string; key?: string } = { ...query };
  const named = () => fields.bucket !== undefined && fields.bucket !== '' && fields.key !== undefined && fields.key !== '';

  return readFormFile<VersionUploadForm>(
    source,
    contentType,
    { fields: 20, fieldSize: 4096, parts: 40 },
    {
      field: (name, value) => {
        if (name === 'bucket' || name === 'key') fields[name] = value;
      },
      file: ({ stream, ...part }) => {
        const base = { filename: part.filename, contentType: part.contentType, finished: part.finished, discard: part.discard, formError: part.formError };
        if (named()) return { ...base, fields, body: stream, cleanup: async () => undefined };
        // The fields come after the file: spool it, then answer once the form is complete.
        return beforeSpool()
          .then(() => spool(stream, part.finished))
          .then(
            ({ path, size, remove }) => ({ ...base, fields, body: createReadStream(path), size, cleanup: remove, finished: Promise.resolve() }),
            (error: unknown) => {
              stream.resume();
              throw isAppOrS3Error(error) ? error : (part.formError() ?? invalidUploadError(`The upload could not be read: ${(error as Error).message}.`));
            },
          );
      },
    },
  );
}

async function spool(stream: Readable, finished: Promise<void>): Promise<{ path: string; size: number; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-version-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  let sink: WriteStream | undefined;
  try {
    const path = join(dir, 'upload');
    sink = createWriteStream(path);
    await pipeline(stream, sink);
    await finished;
    return { path, size: (await stat(path)).size, remove };
  } catch (error) {
    // A failed spool's open may still be pending (file-sink.ts): it would recreate the file in a removed directory's place.
    if (sink) await fileClosed(sink);
    await remove();
    throw error;
  }
}
