/**
 * Reading object bytes back out of data files: a byte range of an object maps to pieces of one
 * or more segment files, streamed in order with backpressure (one bounded chunk in flight).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';

/** Bytes [start, end) of one data file. */
export interface ReadPiece {
  path: string;
  start: number;
  end: number;
}

const CHUNK_SIZE = 256 * 1024;

function noop() {}

/** Streams the pieces in order; `onClose` runs exactly once when the stream ends or is destroyed. */
export class SegmentReader extends Readable {
  private index = 0;
  private fd: number | null = null;
  private position = 0;
  private busy = false;
  private released = false;

  constructor(
    private readonly pieces: ReadPiece[],
    private readonly onClose: () => void,
  ) {
    super({ highWaterMark: CHUNK_SIZE });
  }

  override _read(): void {
    if (this.busy || this.destroyed) return;
    const piece = this.pieces[this.index];
    if (!piece) {
      this.push(null);
      return;
    }
    this.busy = true;
    if (this.fd === null) {
      fs.open(piece.path, 'r', (error, fd) => {
        this.busy = false;
        if (this.destroyed) {
          if (!error) fs.close(fd, noop);
          return;
        }
        if (error) {
          this.destroy(error);
          return;
        }
        this.fd = fd;
        this.position = piece.start;
        this._read();
      });
      return;
    }
    const length = Math.min(CHUNK_SIZE, piece.end - this.position);
    const buffer = Buffer.allocUnsafe(length);
    fs.read(this.fd, buffer, 0, length, this.position, (error, bytesRead) => {
      this.busy = false;
      if (this.destroyed) {
        this.closeFd();
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
        this.closeFd();
        this.index++;
      }
      this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  private closeFd() {
    if (this.fd !== null) {
      fs.close(this.fd, noop);
      this.fd = null;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // With a read in flight the fd is closed by its callback (closing it now could let the fd
    // number be reused under the pending read).
    if (!this.busy) this.closeFd();
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
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
  );
}

/**
 * Reads all pieces into one buffer (small responses: fewer thread-pool round trips than a
 * stream). Callback fs calls and a close that is not awaited keep it to two round trips a file.
 */
export async function readPieces(pieces: ReadPiece[]): Promise<Buffer> {
  let total = 0;
  for (const piece of pieces) total += piece.end - piece.start;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const piece of pieces) {
    const fd = await openFile(piece.path);
    try {
      let position = piece.start;
      while (position < piece.end) {
        const bytesRead = await readAt(fd, out, offset, piece.end - position, position);
        if (bytesRead === 0) throw new Error(`data file ${piece.path} is shorter than the index records`);
        position += bytesRead;
        offset += bytesRead;
      }
    } finally {
      fs.close(fd, noop);
    }
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
