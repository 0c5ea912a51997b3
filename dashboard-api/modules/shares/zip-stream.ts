import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';

/**
 * A store-only (no compression) ZIP writer with ZIP64, as an async generator of chunks: wrapped in
 * `Readable.from`, the next entry's bytes are pulled only when the consumer (the socket) asks, so
 * memory holds one chunk in flight whatever the number or size of the files. Why our own ~150
 * lines rather than a package: shares need exactly "stream these objects one after another",
 * objects are opened lazily one at a time (archiver/yazl want every stream up front or an extra
 * dependency chain), stored data needs no deflate, and Node has `zlib.crc32`. Compression would
 * cost CPU for files (photos, video, archives) that are mostly compressed already.
 *
 * Each entry: local header (sizes deferred: general purpose bit 3), the bytes with a running
 * CRC-32, then a data descriptor. ZIP64 fields are written only when a size or an offset needs
 * them (an entry of 4 GiB or more, an archive past 4 GiB, more than 65535 entries). The central
 * directory (46 bytes plus the name per entry, written at the end) is kept in memory for the
 * first SPOOL_AFTER entries, then spooled to a temporary file in batches, so memory stays bounded
 * however many files the folder holds; file bytes are never held.
 */
export interface ZipEntrySource {
  /** UTF-8 name inside the archive (sanitised by the caller). */
  name: string;
  /** Expected size, used only to decide whether the entry needs ZIP64 before its bytes are known. */
  size: number;
  modified: Date;
  /** Opened only when the archive reaches this entry; undefined: skip it (deleted meanwhile). */
  open(): Promise<Readable | Buffer | undefined>;
}

const UINT32_MAX = 0xffffffff;
const FLAGS = 0x0808; // bit 3: sizes and CRC in a data descriptor; bit 11: UTF-8 names
const VERSION_ZIP64 = 45;
const VERSION_DEFAULT = 20;
/** Central directory records kept in memory before they go to a temporary file (~0.5 MiB for short names). */
const SPOOL_AFTER = 4096;
/** Records written to the spool at once, and the size of the chunks it is read back in. */
const SPOOL_BATCH = 256;
const SPOOL_READ_BYTES = 64 * 1024;

/** The central directory as it grows: in memory, then in a temporary file (removed by `close`, whatever happens). */
function centralDirectory(spoolDir: string) {
  let pending: Buffer[] = [];
  let entries = 0;
  let size = 0;
  let spool: { dir: string; file: FileHandle } | undefined;
  const flush = async () => {
    if (!spool) {
      const dir = await mkdtemp(join(spoolDir, 'cs-zip-'));
      spool = { dir, file: await open(join(dir, 'central-directory'), 'w+') };
    }
    const batch = Buffer.concat(pending);
    pending = [];
    await spool.file.write(batch, 0, batch.length, null);
  };
  return {
    get entries() {
      return entries;
    },
    get size() {
      return size;
    },
    async add(record: CentralRecord): Promise<void> {
      const header = centralHeader(record);
      pending.push(header);
      entries += 1;
      size += header.length;
      if (pending.length >= SPOOL_BATCH && (spool !== undefined || entries > SPOOL_AFTER)) await flush();
    },
    async *read(): AsyncGenerator<Buffer> {
      if (!spool) {
        for (let index = 0; index < pending.length; index += SPOOL_BATCH) yield Buffer.concat(pending.slice(index, index + SPOOL_BATCH));
        return;
      }
      if (pending.length > 0) await flush();
      for (let position = 0; position < size; position += SPOOL_READ_BYTES) {
        const chunk = Buffer.alloc(Math.min(SPOOL_READ_BYTES, size - position));
        const { bytesRead } = await spool.file.read(chunk, 0, chunk.length, position);
        if (bytesRead !== chunk.length) throw new Error('zip central directory spool: short read');
        yield chunk;
      }
    },
    async close(): Promise<void> {
      if (!spool) return;
      await spool.file.close().catch(() => undefined);
      await rm(spool.dir, { recursive: true, force: true });
    },
  };
}

interface CentralRecord {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
  time: number;
  date: number;
  zip64: boolean;
}

function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(Math.max(date.getUTCFullYear(), 1980), 2107);
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

function localHeader(name: Buffer, zip64: boolean, time: number, date: number): Buffer {
  const extra = zip64 ? 20 : 0;
  const header = Buffer.alloc(30 + name.length + extra);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION_DEFAULT, 4);
  header.writeUInt16LE(FLAGS, 6);
  header.writeUInt16LE(0, 8); // stored
  header.writeUInt16LE(time, 10);
  header.writeUInt16LE(date, 12);
  // CRC and sizes follow in the data descriptor; ZIP64 entries say so with 0xFFFFFFFF and an extra field.
  header.writeUInt32LE(0, 14);
  header.writeUInt32LE(zip64 ? UINT32_MAX : 0, 18);
  header.writeUInt32LE(zip64 ? UINT32_MAX : 0, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(extra, 28);
  name.copy(header, 30);
  if (zip64) {
    header.writeUInt16LE(0x0001, 30 + name.length);
    header.writeUInt16LE(16, 32 + name.length); // original and compressed sizes, zero here
  }
  return header;
}

function dataDescriptor(crc: number, size: number, zip64: boolean): Buffer {
  const descriptor = Buffer.alloc(zip64 ? 24 : 16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(crc, 4);
  if (zip64) {
    descriptor.writeBigUInt64LE(BigInt(size), 8);
    descriptor.writeBigUInt64LE(BigInt(size), 16);
  } else {
    descriptor.writeUInt32LE(size, 8);
    descriptor.writeUInt32LE(size, 12);
  }
  return descriptor;
}

function centralHeader(record: CentralRecord): Buffer {
  const bigSize = record.size >= UINT32_MAX;
  const bigOffset = record.offset >= UINT32_MAX;
  const extraData = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
  const extra = extraData > 0 ? 4 + extraData : 0;
  const header = Buffer.alloc(46 + record.name.length + extra);
  const version = record.zip64 || extra > 0 ? VERSION_ZIP64 : VERSION_DEFAULT;
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(version, 4); // made by: MS-DOS attributes, this version
  header.writeUInt16LE(version, 6);
  header.writeUInt16LE(FLAGS, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt16LE(record.time, 12);
  header.writeUInt16LE(record.date, 14);
  header.writeUInt32LE(record.crc, 16);
  header.writeUInt32LE(bigSize ? UINT32_MAX : record.size, 20);
  header.writeUInt32LE(bigSize ? UINT32_MAX : record.size, 24);
  header.writeUInt16LE(record.name.length, 28);
  header.writeUInt16LE(extra, 30);
  // comment length, disk number, internal and external attributes: zero
  header.writeUInt32LE(bigOffset ? UINT32_MAX : record.offset, 42);
  record.name.copy(header, 46);
  if (extra > 0) {
    let at = 46 + record.name.length;
    header.writeUInt16LE(0x0001, at);
    header.writeUInt16LE(extraData, at + 2);
    at += 4;
    if (bigSize) {
      header.writeBigUInt64LE(BigInt(record.size), at);
      header.writeBigUInt64LE(BigInt(record.size), at + 8);
      at += 16;
    }
    if (bigOffset) header.writeBigUInt64LE(BigInt(record.offset), at);
  }
  return header;
}

function endRecords(entries: number, directoryOffset: number, directorySize: number): Buffer {
  const needsZip64 = entries >= 0xffff || directoryOffset >= UINT32_MAX || directorySize >= UINT32_MAX;
  const parts: Buffer[] = [];
  if (needsZip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(VERSION_ZIP64, 12);
    record.writeUInt16LE(VERSION_ZIP64, 14);
    record.writeBigUInt64LE(BigInt(entries), 24);
    record.writeBigUInt64LE(BigInt(entries), 32);
    record.writeBigUInt64LE(BigInt(directorySize), 40);
    record.writeBigUInt64LE(BigInt(directoryOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(directoryOffset + directorySize), 8);
    locator.writeUInt32LE(1, 16);
    parts.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(entries, 0xffff), 8);
  end.writeUInt16LE(Math.min(entries, 0xffff), 10);
  end.writeUInt32LE(Math.min(directorySize, UINT32_MAX), 12);
  end.writeUInt32LE(Math.min(directoryOffset, UINT32_MAX), 16);
  parts.push(end);
  return Buffer.concat(parts);
}

/**
 * The archive's bytes, entry after entry as `entries` yields them. A source whose bytes differ in
 * length from `size` is still recorded exactly (the descriptor carries what was streamed); only
 * an object that grew past 4 GiB between listing and reading would need ZIP64 it did not
 * announce, which is refused rather than written corrupt.
 */
export async function* zipStream(entries: AsyncIterable<ZipEntrySource>, signal?: AbortSignal, spoolDir = tmpdir()): AsyncGenerator<Buffer> {
  const directory = centralDirectory(spoolDir);
  try {
    yield* writeEntries(entries, directory, signal);
  } finally {
    // Also when the reader goes away mid-archive (Readable.from returns the generator): no spool file is left behind.
    await directory.close();
  }
}

async function* writeEntries(entries: AsyncIterable<ZipEntrySource>, directory: ReturnType<typeof centralDirectory>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let offset = 0;
  for await (const entry of entries) {
    signal?.throwIfAborted();
    const body = await entry.open();
    if (body === undefined) continue;
    const name = Buffer.from(entry.name, 'utf8');
    const zip64 = entry.size >= UINT32_MAX;
    const { time, date } = dosDateTime(entry.modified);
    const header = localHeader(name, zip64, time, date);
    const start = offset;
    if (Buffer.isBuffer(body) && !zip64) {
      // A small object the backend already holds in memory: header, bytes and descriptor in one chunk.
      const crc = crc32(body);
      const whole = Buffer.concat([header, body, dataDescriptor(crc, body.length, false)]);
      offset += whole.length;
      await directory.add({ name, crc, size: body.length, offset: start, time, date, zip64 });
      yield whole;
      continue;
    }
    let crc = 0;
    let size = 0;
    try {
      yield header;
      offset += header.length;
      const chunks: AsyncIterable<Buffer> | Buffer[] = Buffer.isBuffer(body) ? [body] : (body as AsyncIterable<Buffer>);
      for await (const chunk of chunks) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        offset += chunk.length;
        yield chunk;
      }
    } finally {
      // A reader gone at the header (the stream destroyed, or the share refused after its first
      // chunk) leaves the opened body unread: close it, or a proxied store's connection stays held.
      if (!Buffer.isBuffer(body) && !body.destroyed && !body.readableEnded) body.destroy();
    }
    if (!zip64 && size >= UINT32_MAX) throw new Error(`zip entry ${entry.name} grew past 4 GiB while it was being read`);
    const descriptor = dataDescriptor(crc, size, zip64);
    yield descriptor;
    offset += descriptor.length;
    await directory.add({ name, crc, size, offset: start, time, date, zip64 });
  }
  const directoryOffset = offset;
  yield* directory.read();
  yield endRecords(directory.entries, directoryOffset, directory.size);
}
