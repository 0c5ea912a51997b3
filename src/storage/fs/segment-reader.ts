/**
 * Reading object bytes back out of data files: a byte range of an object maps to pieces of one
 * or more segment files, streamed in order with backpressure (one bounded chunk in flight).
 *
 * Every file of a read is opened before the response starts (`openPieces`): several processes
 * may share one data directory, and another process's overwrite or delete unlinks the replaced
 * files right after its commit, without knowing who reads them. An open descriptor keeps an
 * unlinked file's bytes readable, so a read that holds all of them cannot be cut short half-way
 * (in-process deletes also wait for readers: see fs-backend.ts `discard`). The cost is one
 * descriptor per segment for the length of the read (a 10,000-part object: 10,000; Node raises
 * the soft RLIMIT_NOFILE to the hard limit at start).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';

/** Bytes [start, end) of one data file. */
export interface ReadPiece {
  path: string;
  start: number;
  end: number;
}

/** A piece whose file is open. */
export interface OpenPiece extends ReadPiece {
  fd: number;
}

const CHUNK_SIZE = 256 * 1024;

function noop() {}

/**
 * Streams the open pieces in order, closing each descriptor once its piece is read; `onClose`
 * runs exactly once when the stream ends or is destroyed, after which no descriptor is left open.
 */
export class SegmentReader extends Readable {
  private index = 0;
  private position: number;
  private busy = false;
  private released = false;

  constructor(
    private readonly pieces: OpenPiece[],
    private readonly onClose: () => void,
  ) {
    super({ highWaterMark: CHUNK_SIZE });
    this.position = pieces[0]?.start ?? 0;
  }

  override _read(): void {
    if (this.busy || this.destroyed) return;
    const piece = this.pieces[this.index];
    if (!piece) {
      this.push(null);
      return;
    }
    this.busy = true;
    const length = Math.min(CHUNK_SIZE, piece.end - this.position);
    const buffer = Buffer.allocUnsafe(length);
    fs.read(piece.fd, buffer, 0, length, this.position, (error, bytesRead) => {
      this.busy = false;
      if (this.destroyed) {
        // The read in flight kept its descriptor from being closed by _destroy (its number could
        // otherwise be reused under the pending read): close what is left now.
        this.closeFrom(this.index);
        return;
      }
      if (error) {
        this.destroy(error);
        return;
      }
      if (bytesRead === 0) {
        this.destroy(new Error(`data file ${piece.path} is shorter than the index records`));
        return;
      }
      this.position += bytesRead;
      if (this.position >= piece.end) {
        fs.close(piece.fd, noop);
        this.index++;
        this.position = this.pieces[this.index]?.start ?? 0;
      }
      this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  /** Closes the descriptors of pieces `from` onwards (those not yet read to their end). */
  private closeFrom(from: number) {
    for (let i = from; i < this.pieces.length; i++) fs.close(this.pieces[i].fd, noop);
    this.index = this.pieces.length;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.busy) this.closeFrom(this.index);
    if (!this.released) {
      this.released = true;
      this.onClose();
    }
    callback(error);
  }
}

function openFile(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'r', (error, fd) => (error ? reject(error) : resolve(fd))));
}

function readAt(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))));
}

/**
 * Opens every piece's file (all at once: the thread pool overlaps them). On a failure the files
 * already opened are closed and the first error is thrown (ENOENT: another process replaced the
 * object between the index read and the open; the caller reads the index again).
 */
export async function openPieces(pieces: ReadPiece[]): Promise<OpenPiece[]> {
  if (pieces.length === 1) return [{ ...pieces[0], fd: await openFile(pieces[0].path) }];
  const results = await Promise.allSettled(pieces.map((piece) => openFile(piece.path)));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) {
    for (const result of results) if (result.status === 'fulfilled') fs.close(result.value, noop);
    throw failed.reason;
  }
  return pieces.map((piece, i) => ({ ...piece, fd: (results[i] as PromiseFulfilledResult<number>).value }));
}

/** Closes the descriptors of pieces nobody will read. */
export function closePieces(pieces: OpenPiece[]): void {
  for (const piece of pieces) fs.close(piece.fd, noop);
}

/**
 * Reads all open pieces into one buffer (small responses: fewer thread-pool round trips than a
 * stream), closing every descriptor (a close that is not awaited: one round trip less).
 */
export async function readPieces(pieces: OpenPiece[]): Promise<Buffer> {
  let total = 0;
  for (const piece of pieces) total += piece.end - piece.start;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  try {
    for (const piece of pieces) {
      let position = piece.start;
      while (position < piece.end) {
        const bytesRead = await readAt(piece.fd, out, offset, piece.end - position, position);
        if (bytesRead === 0) throw new Error(`data file ${piece.path} is shorter than the index records`);
        position += bytesRead;
        offset += bytesRead;
      }
    }
  } finally {
    closePieces(pieces);
  }
  return out;
}

/** A byte stream over an in-memory buffer. */
export function bufferStream(buffer: Buffer): Readable {
  let done = false;
  return new Readable({
    read() {
      if (!done) {
        done = true;
        if (buffer.length > 0) this.push(buffer);
      }
      this.push(null);
    },
  });
}
