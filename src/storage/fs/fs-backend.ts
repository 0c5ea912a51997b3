/**
 * The embedded filesystem backend.
 *
 * Layout under `dataDir`:
 *   index.sqlite      buckets, objects, uploads, parts (see fs-index.ts)
 *   data/<xx>/<uuid>.<owner>  object and part bytes; names are random, object keys never touch the fs
 *   tmp/<uuid>.<owner>        bodies being received
 *   owners/<owner>.lock       held locked by each live process writing here (file-owners.ts)
 *   space-reserve             released when a delete meets a full disk (disk-space.ts)
 *
 * Files a crash left uncommitted (in data/ or tmp/) are collected at start and periodically, once
 * the process that wrote them is gone (orphan-sweep.ts).
 *
 * Writes stream into tmp/ while hashing, are fsynced, renamed into data/ and then committed with
 * one SQLite transaction; the replaced version's files are unlinked only after the commit. An
 * object is a list of segments (file + length), so CompleteMultipartUpload commits the part files
 * by reference and CopyObject hard-links. Files being read are reference-counted in-process so
 * that an overwrite or delete racing a GET defers the unlink until the reader is done; a GET
 * opens every file it reads before answering, so another process's unlink cannot cut it short
 * either (segment-reader.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createChecksummer, type ChecksumAlgorithm } from '../../checksums/checksums.ts';
import { S3Error } from '../../errors/s3-errors.ts';
import { checkWriteConditions, evaluateConditions, resolveRange } from '../conditions.ts';
import { MIN_PART_SIZE, checkPartNumber, clampListMax as clampMax, completedChecksum, multipartEtag, validateCompletion } from '../multipart-rules.ts';
import type {
  AdmitWrite,
  BackendLocalState,
  CompleteMultipartUploadInput,
  CopyObjectInput,
  CreateMultipartUploadInput,
  DeleteObjectsOutput,
  GetObjectInput,
  GetObjectOutput,
  HeadObjectInput,
  Journaled,
  ListMultipartUploadsInput,
  ListMultipartUploadsOutput,
  ListObjectsInput,
  ListObjectsOutput,
  ListPartsInput,
  ListPartsOutput,
  ObjectChecksum,
  ObjectInfo,
  ObjectMetadata,
  PartWriteResult,
  PutObjectInput,
  StorageBackend,
  UploadPartCopyInput,
  UploadPartInput,
  UsageChange,
  WriteConditions,
  WriteResult,
} from '../storage-backend.ts';
import {
  AdmissionStale,
  FsIndex,
  isWellFormedVersionId,
  type DeleteMarkerRecord,
  type NewObjectRecord,
  type ObjectListRow,
  type ObjectRecord,
  type PartRecord,
  type Segment,
  type UploadListRow,
  type UploadRecord,
  type VersionDeleteResult,
  type VersionListRow,
} from './fs-index.ts';
import { delimitedWalk, startsWith, utf8, type ScanCursor } from './key-range.ts';
import { registerIndexWriter } from './index-writers.ts';
import { SegmentReader, bufferStream, openPieces, readPieces, type ReadPiece } from './segment-reader.ts';
import { systemClock, type Clock } from '../../clock.ts';
import type { Logger } from '../../logger.ts';
import { createSpaceReserve, freeSpace, isDiskFull, isLowOnSpace, storageError, type SpaceReserve } from './disk-space.ts';
import { claimOwner, type FileOwner } from './file-owners.ts';
import { sweepOrphans, type SweepReport } from './orphan-sweep.ts';
import type {
  DeletedObject,
  DeleteObjectResult,
  ListObjectVersionsInput,
  ListObjectVersionsOutput,
  ObjectIdentifier,
  StorageHealth,
  VersioningStatus,
} from '../storage-backend.ts';
import { settledChecksum, type UploadChecksum } from '../storage-backend.ts';
import type { JournalHook } from '../../events/events.ts';
import { partByteRange } from '../part-number.ts';
import { fileClosed } from '../file-sink.ts';
import { encodeCompletion, replayCompletion } from '../completed-uploads.ts';

export interface FsBackendOptions {
  dataDir: string;
  /** Minimum size of every multipart part but the last (S3: 5 MiB). */
  minPartSize?: number;
  /** fsync data files before committing them (default true). */
  fsync?: boolean;
  /** Period of the sweep collecting unreferenced data files (0: only the one at start). */
  orphanSweepIntervalMs?: number;
  /** Age after which an unreferenced data file named before owners existed is collected. */
  legacyOrphanGraceMs?: number;
  /** Bytes held in reserve so deletes still work on a full disk (0: none). */
  reserveBytes?: number;
  /** Free space below which health reports the storage degraded. */
  minFreeBytes?: number;
  minFreePercent?: number;
  clock?: Clock;
  timers?: SweepTimers;
  logger?: Logger;
  /**
   * false: opened for administration (the CLI, while servers may be running on the same data
   * directory): the index and nothing else. No owner is claimed and no data file can be written
   * (createBucket, usage and listings are index work), tmp/ and data/ are not touched, no sweep
   * runs, the space reserve is left alone and no timer is armed. Default true (a server).
   */
  maintenance?: boolean;
  /** Sees every statement the index runs (tests count a request's statements; see database.ts SqlTrace). */
  traceSql?: (sql: unknown) => void;
}

/** Injected so tests run the periodic sweep on demand instead of waiting. */
export interface SweepTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: SweepTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FsBackend extends StorageBackend {
  readonly kind: 'fs';
  /** Absolute path of the data directory. */
  readonly dataDir: string;
  /** Index work listings have done so far (range scans started, rows read); a cost gauge for tests. */
  listingWork(): { scans: number; rows: number };
  /** This process's owner id, the suffix of every data file it writes (see file-owners.ts). */
  readonly owner: string;
  /** Collects data files no index row references whose writer is gone (the periodic sweep). */
  sweepOrphans(): Promise<SweepReport>;
}

/** Responses up to this size are read into memory in one go (fewer round trips for small GETs). */
const SMALL_READ_BYTES = 64 * 1024;
/**
 * Objects up to this size live inside their index row: a PUT is one SQLite commit and a GET one
 * row read, with no file to create, fsync, rename, open or unlink (MinIO inlines small objects
 * into its metadata for the same reason).
 */
const INLINE_MAX_BYTES = 32 * 1024;
/**
 * Bytes a data-file write stream buffers before it pushes back. With Node's 16 KiB default every
 * 64 KiB socket chunk waits for the previous disk write to finish; 1 MiB keeps a few writes
 * queued (coalesced into one writev) while still bounding memory per upload.
 */
const WRITE_HIGH_WATER_MARK = 1024 * 1024;
/** Row reads of one GET whose files another process unlinked before they were opened (then a 500). */
const MAX_OPEN_ATTEMPTS = 4;
/** Admissions of one write before giving up on a key that keeps changing under it (503, retryable). */
const MAX_ADMISSIONS = 8;

export async function createFsBackend(options: FsBackendOptions): Promise<FsBackend> {
  const dataDir = path.resolve(options.dataDir);
  if (options.maintenance === false) return openForAdministration(dataDir, options);
  const dataRoot = path.join(dataDir, 'data');
  const tmpDir = path.join(dataDir, 'tmp');
  await fs.promises.mkdir(dataRoot, { recursive: true });
  await fs.promises.mkdir(tmpDir, { recursive: true });
  await Promise.all(Array.from({ length: 256 }, (_, i) => fs.promises.mkdir(path.join(dataRoot, i.toString(16).padStart(2, '0')), { recursive: true })));
  const index = await openIndex(dataDir, options);
  // Claimed before the first file is written: another process's sweep must see this one alive.
  const owner = claimOwner(path.join(dataDir, 'owners'));
  const backend = new FsStorageBackend(dataDir, index, {
    minPartSize: options.minPartSize ?? MIN_PART_SIZE,
    fsync: options.fsync ?? true,
    owner,
    reserve: createSpaceReserve(path.join(dataDir, 'space-reserve'), options.reserveBytes ?? 0),
    minFreeBytes: options.minFreeBytes ?? 0,
    minFreePercent: options.minFreePercent ?? 0,
    sweepIntervalMs: options.orphanSweepIntervalMs ?? 0,
    legacyGraceMs: options.legacyOrphanGraceMs ?? DEFAULT_LEGACY_ORPHAN_GRACE_MS,
    clock: options.clock ?? systemClock,
    timers: options.timers ?? realTimers,
    logger: options.logger,
  });
  try {
    // Leftovers of processes killed mid-write (tmp/ bodies, renamed but uncommitted data files),
    // before serving: a restart after a crash leaves nothing outside the index.
    await backend.startupSweep();
  } catch (error) {
    await backend.close();
    throw error;
  }
  await backend.reserveSpace();
  backend.scheduleSweep();
  return backend;
}

/**
 * The index, opened once this process is registered as one of its writers (index-writers.ts): a
 * process alone on its DATA_DIR serves cached rows without asking SQLite whether anyone else
 * committed.
 */
async function openIndex(dataDir: string, options: FsBackendOptions): Promise<FsIndex> {
  let index: FsIndex | undefined;
  const writers = await registerIndexWriter(dataDir, {
    onModeChange: (mode) => index?.setWriterMode(mode),
    onError: (error) => options.logger?.error('fs index writer registration: a round failed', { error: String(error) }),
  });
  try {
    index = new FsIndex(path.join(dataDir, 'index.sqlite'), { durable: options.fsync ?? true, traceSql: options.traceSql });
  } catch (error) {
    writers.close();
    throw error;
  }
  index.useWriters(writers);
  return index;
}

/** See FsBackendOptions.maintenance. */
async function openForAdministration(dataDir: string, options: FsBackendOptions): Promise<FsBackend> {
  await fs.promises.mkdir(dataDir, { recursive: true });
  const index = await openIndex(dataDir, options);
  const noOwner: FileOwner = {
    id: 'administration',
    newFileName() {
      throw new Error('the fs backend was opened for administration: it writes no data files');
    },
    close() {},
  };
  return new FsStorageBackend(dataDir, index, {
    minPartSize: options.minPartSize ?? MIN_PART_SIZE,
    fsync: options.fsync ?? true,
    owner: noOwner,
    reserve: { ensure: async () => {}, release: async () => false },
    minFreeBytes: 0,
    minFreePercent: 0,
    sweepIntervalMs: 0,
    legacyGraceMs: DEFAULT_LEGACY_ORPHAN_GRACE_MS,
    clock: options.clock ?? systemClock,
    timers: options.timers ?? realTimers,
    logger: options.logger,
  });
}

/** Data files of pre-owner builds are only collected when older than this (their commit window). */
const DEFAULT_LEGACY_ORPHAN_GRACE_MS = 3_600_000;

interface Received {
  /** Null for an empty or inlined body (no data file is kept). */
  file: string | null;
  /** The bytes themselves, when the body was small enough to inline. */
  inline?: Buffer;
  size: number;
  md5: Buffer;
  /** Digest of `checksumAlgorithm` when one was requested. */
  checksum?: Buffer;
  /** The producer's verified checksum (`declared`), settled once the body was consumed. */
  declared?: ObjectChecksum;
}

function quoteEtag(hex: string): string {
  return `"${hex}"`;
}

function cleanMetadata(metadata: ObjectMetadata | undefined): ObjectMetadata {
  const out: ObjectMetadata = { userMetadata: { ...(metadata?.userMetadata ?? {}) } };
  if (!metadata) return out;
  for (const name of ['contentType', 'cacheControl', 'contentDisposition', 'contentEncoding', 'contentLanguage', 'expires'] as const) {
    const value = metadata[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

let lastUploadMs = 0;
let uploadSeq = 0;
/** Url-safe, and lexicographically ordered by creation time (so S3's upload-id-marker works). */
function newUploadId(): string {
  const now = Date.now();
  if (now > lastUploadMs) {
    lastUploadMs = now;
    uploadSeq = 0;
  } else {
    uploadSeq++;
  }
  return lastUploadMs.toString(16).padStart(12, '0') + uploadSeq.toString(16).padStart(6, '0') + randomBytes(15).toString('base64url');
}

function isErrno(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

class FsStorageBackend implements FsBackend {
  readonly kind = 'fs' as const;
  private readonly dataRoot: string;
  private readonly tmpDir: string;
  /** `info()` per index record (records are immutable; a change makes a new one). */
  private readonly infos = new WeakMap<ObjectRecord, ObjectInfo>();
  /** Files with open readers → reader count; doomed files are unlinked when the count drops to 0. */
  private readonly readers = new Map<string, number>();
  private readonly doomed = new Set<string>();
  private sweepTimer: unknown;
  private sweeping: Promise<unknown> | undefined;
  private readonly closing = new AbortController();

  constructor(
    readonly dataDir: string,
    private readonly index: FsIndex,
    private readonly options: {
      minPartSize: number;
      fsync: boolean;
      owner: FileOwner;
      reserve: SpaceReserve;
      minFreeBytes: number;
      minFreePercent: number;
      sweepIntervalMs: number;
      legacyGraceMs: number;
      clock: Clock;
      timers: SweepTimers;
      logger?: Logger;
    },
  ) {
    this.dataRoot = path.join(dataDir, 'data');
    this.tmpDir = path.join(dataDir, 'tmp');
    this.local = {
      usage: async (bucket) => {
        const usage = index.usage(bucket);
        if (!usage) throw noSuchBucket(bucket);
        return usage;
      },
      // What a write would replace (FsIndex.replacedByWrite): the current object when Unversioned,
      // 0 when Enabled, the null version when Suspended. Undefined for a missing bucket, so the
      // caller's headObject reports NoSuchBucket. An overwrite in an Unversioned bucket (the
      // common case) answers from the object's cached row alone.
      storedSize: async (bucket, key) => index.replacedByWrite(bucket, utf8(key))?.bytes,
      storedObject: async (bucket, key) => index.replacedByWrite(bucket, utf8(key)),
      // The counters change in the transactions that change the rows a recount lists: no drift to correct.
      correctUsage: async () => {},
      countUploads: async (bucket) => index.countUploads(bucket),
      journal: index.journal,
    };
  }

  get owner(): string {
    return this.options.owner.id;
  }

  /**
   * Usage counters, sizes and the event journal all live in the index, changed in the transactions
   * that change its rows: exact, with no round trip.
   */
  readonly local: BackendLocalState;

  /** A new data/temp file name; carries this process's owner id so no other sweep takes it. */
  private newFileName(): string {
    return this.options.owner.newFileName();
  }

  // ---------------------------------------------------------------- files

  private dataPath(file: string): string {
    return path.join(this.dataRoot, file.slice(0, 2), file);
  }

  private acquire(files: string[]) {
    for (const file of files) this.readers.set(file, (this.readers.get(file) ?? 0) + 1);
  }

  private release(files: string[]) {
    for (const file of files) {
      const count = (this.readers.get(file) ?? 1) - 1;
      if (count > 0) {
        this.readers.set(file, count);
        continue;
      }
      this.readers.delete(file);
      if (this.doomed.delete(file)) void this.unlink(file);
    }
  }

  private async unlink(file: string) {
    try {
      await fs.promises.unlink(this.dataPath(file));
    } catch {
      // Already gone, or undeletable: the index no longer references it, so a leftover only
      // wastes space.
    }
  }

  /** Removes files no longer referenced by the index (deferred while someone is reading them). */
  private async discard(files: Iterable<string | null>) {
    const now: Promise<void>[] = [];
    for (const file of files) {
      if (!file) continue;
      if (this.readers.has(file)) this.doomed.add(file);
      else now.push(this.unlink(file));
    }
    await Promise.all(now);
  }

  /**
   * Streams `body` into tmp/ (hashing as it goes), verifies length and Content-MD5, fsyncs and
   * moves it into data/. On any failure the temp file is removed and the error rethrown.
   */
  private async receive(
    body: Readable,
    expect: { size?: number; contentMd5?: string; checksumAlgorithm?: ChecksumAlgorithm; allowInline?: boolean; declared?: UploadChecksum; signal?: AbortSignal },
  ): Promise<Received> {
    expect.signal?.throwIfAborted();
    let expectedMd5: Buffer | undefined;
    if (expect.contentMd5 !== undefined) {
      expectedMd5 = Buffer.from(expect.contentMd5, 'base64');
      if (expectedMd5.length !== 16) throw new S3Error('InvalidDigest');
    }
    const id = this.newFileName();
    const tmpPath = path.join(this.tmpDir, id);
    const md5 = createHash('md5');
    const checksummer = expect.checksumAlgorithm ? createChecksummer(expect.checksumAlgorithm) : undefined;
    const expectedSize = expect.size;
    let size = 0;
    // Small bodies of a declared size are kept in memory (bounded: a longer body fails below).
    const inline = expect.allowInline === true && expectedSize !== undefined && expectedSize > 0 && expectedSize <= INLINE_MAX_BYTES;
    const inlineChunks: Buffer[] = [];
    let sink: fs.WriteStream | undefined;
    const take = (chunk: Buffer | string): Buffer => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (expectedSize !== undefined && size > expectedSize) {
        throw new S3Error('IncompleteBody', `The body is longer than the ${expectedSize} bytes specified.`);
      }
      md5.update(bytes);
      checksummer?.update(bytes);
      return bytes;
    };
    try {
      if (inline) {
        // A few KiB into memory: iterating the body directly spares the stream pipeline's
        // per-call AbortController and generator stages (a visible part of a small PUT).
        for await (const chunk of body as AsyncIterable<Buffer | string>) {
          inlineChunks.push(take(chunk));
          expect.signal?.throwIfAborted();
        }
      } else {
        sink = fs.createWriteStream(tmpPath, { flags: 'wx', flush: this.options.fsync, highWaterMark: WRITE_HIGH_WATER_MARK });
        await pipeline(
          body,
          async function* (source: AsyncIterable<Buffer | string>) {
            for await (const chunk of source) yield take(chunk);
          },
          sink,
          // An abort (the client went away) stops the copy at its next chunk; the temp file goes below.
          { signal: expect.signal },
        );
      }
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new S3Error('IncompleteBody', undefined, {
          details: { ExpectedBytes: String(expectedSize), ReceivedBytes: String(size) },
        });
      }
      const digest = md5.digest();
      if (expectedMd5 && !expectedMd5.equals(digest)) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
          details: { ExpectedDigest: expectedMd5.toString('base64'), CalculatedDigest: digest.toString('base64') },
        });
      }
      const checksum = checksummer?.digest();
      // The body has been consumed, so its producer has finished verifying it (see UploadChecksum).
      const declared = await settledChecksum(expect.declared);
      expect.signal?.throwIfAborted();
      if (inline) return { file: null, inline: Buffer.concat(inlineChunks, size), size, md5: digest, checksum, declared };
      if (size === 0) {
        await fs.promises.rm(tmpPath, { force: true });
        return { file: null, size, md5: digest, checksum, declared };
      }
      await fs.promises.rename(tmpPath, this.dataPath(id));
      return { file: id, size, md5: digest, checksum, declared };
    } catch (error) {
      // Not before the sink is closed: its open may still be pending (file-sink.ts).
      if (sink) await fileClosed(sink);
      await fs.promises.rm(tmpPath, { force: true });
      // ENOSPC while writing: 507 InsufficientStorage, and nothing of the body is kept.
      throw storageError(error);
    }
  }

  /** A new name for the bytes of `file`: a hard link, or a copy where links are not possible. */
  private async cloneFile(file: string): Promise<string> {
    const id = this.newFileName();
    const source = this.dataPath(file);
    const target = this.dataPath(id);
    try {
      await fs.promises.link(source, target);
      return id;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw error;
    }
    const tmpPath = path.join(this.tmpDir, id);
    try {
      await fs.promises.copyFile(source, tmpPath);
      if (this.options.fsync) {
        const handle = await fs.promises.open(tmpPath, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      await fs.promises.rename(tmpPath, target);
      return id;
    } catch (error) {
      await fs.promises.rm(tmpPath, { force: true });
      // ENOSPC while writing: 507 InsufficientStorage, and nothing of the body is kept.
      throw storageError(error);
    }
  }

  /** The pieces of data files covering object bytes [start, end). */
  private piecesOf(segments: Segment[], start: number, end: number): (ReadPiece & { file: string })[] {
    const pieces: (ReadPiece & { file: string })[] = [];
    let offset = 0;
    for (const segment of segments) {
      const segStart = offset;
      const segEnd = offset + segment.size;
      offset = segEnd;
      if (segEnd <= start) continue;
      if (segStart >= end) break;
      pieces.push({
        file: segment.file,
        path: this.dataPath(segment.file),
        start: Math.max(start, segStart) - segStart,
        end: Math.min(end, segEnd) - segStart,
      });
    }
    return pieces;
  }

  /**
   * Object bytes [start, end): a Buffer for small ranges (inline, or read in one go), a stream
   * otherwise. Must be called in the same tick as the index read that produced `object` (it pins
   * the files before any await). Every file is opened before this resolves, so a stream cannot be
   * cut short by another process unlinking a later segment (segment-reader.ts); an ENOENT here
   * means another process replaced or deleted the object after the index read (the caller reads
   * the index again: see `readObject`).
   */
  private openRange(object: { segments: Segment[]; inline?: Buffer }, start: number, end: number): Buffer | Promise<Readable | Buffer> {
    if (object.inline) return object.inline.subarray(start, end);
    const pieces = this.piecesOf(object.segments, start, end).filter((p) => p.end > p.start);
    const files = pieces.map((p) => p.file);
    this.acquire(files);
    return this.openPinned(pieces, files, end - start <= SMALL_READ_BYTES);
  }

  /** Opens the pinned files; unpins them on failure, after a small read, or when the stream closes. */
  private async openPinned(pieces: ReadPiece[], files: string[], small: boolean): Promise<Readable | Buffer> {
    let streaming = false;
    try {
      const open = await openPieces(pieces);
      if (small) return await readPieces(open);
      streaming = true;
      return new SegmentReader(open, () => this.release(files));
    } finally {
      if (!streaming) this.release(files);
    }
  }

  private async openRangeStream(object: { segments: Segment[]; inline?: Buffer }, start: number, end: number): Promise<Readable> {
    const opened = await this.openRange(object, start, end);
    return Buffer.isBuffer(opened) ? bufferStream(opened) : opened;
  }

  // ---------------------------------------------------------------- lookups

  private requireBucket(bucket: string) {
    if (!this.index.bucketExists(bucket)) throw noSuchBucket(bucket);
  }

  /**
   * The current object, or one version by its id (S3's rules: NoSuchVersion, InvalidArgument for a
   * malformed id, MethodNotAllowed for a delete marker named by its id, NoSuchKey with the marker's
   * headers when the latest version is a delete marker).
   */
  private requireObject(bucket: string, key: string, versionId?: string): ObjectRecord {
    const name = utf8(key);
    if (versionId !== undefined) return this.requireVersion(bucket, key, name, versionId);
    const record = this.index.getObject(bucket, name);
    if (record) return record;
    this.requireBucket(bucket);
    // Only a miss pays for the marker lookup.
    const marker = this.index.latestMarker(bucket, name);
    throw new S3Error('NoSuchKey', undefined, { details: { Key: key }, headers: marker && markerHeaders(marker) });
  }

  /** A copy source: S3 refuses a delete marker named by its id with 400 InvalidRequest (not 405). */
  private requireCopySource(bucket: string, key: string, versionId: string | undefined): ObjectRecord {
    try {
      return this.requireObject(bucket, key, versionId);
    } catch (error) {
      if (error instanceof S3Error && error.code === 'MethodNotAllowed') {
        throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
      }
      throw error;
    }
  }

  private requireVersion(bucket: string, key: string, name: Buffer, versionId: string): ObjectRecord {
    checkVersionId(versionId);
    const found = this.index.getVersion(bucket, name, versionId);
    if (found === undefined) {
      this.requireBucket(bucket);
      throw new S3Error('NoSuchVersion', undefined, { details: { Key: key, VersionId: versionId } });
    }
    if ('marker' in found) throw methodNotAllowedOnMarker(found.marker);
    return found.record;
  }

  private requireUpload(bucket: string, key: string, uploadId: string): UploadRecord {
    this.requireBucket(bucket);
    const upload = this.index.getUpload(uploadId);
    if (!upload || upload.bucket !== bucket || !upload.key.equals(utf8(key))) {
      throw new S3Error('NoSuchUpload', undefined, { details: { UploadId: uploadId } });
    }
    return upload;
  }

  /**
   * The object's description, built once per cached index record and shared frozen by every GET
   * and HEAD of that version (building it was a visible part of a small GET). Frozen, so a caller
   * that tried to change a shared description would fail loudly instead of corrupting the next one.
   */
  private info(record: ObjectRecord, key: string): ObjectInfo {
    const cached = this.infos.get(record);
    if (cached !== undefined && cached.key === key) return cached;
    const metadata = cleanMetadata(record.metadata);
    Object.freeze(metadata.userMetadata);
    const info: ObjectInfo = Object.freeze({
      ...metadata,
      key,
      size: record.size,
      etag: record.etag,
      lastModified: new Date(record.lastModified),
      checksum: record.checksum,
      tagCount: Object.keys(record.tags).length,
      partsCount: record.partsCount,
      versionId: record.versioned ? record.versionId : undefined,
    });
    this.infos.set(record, info);
    return info;
  }

  /**
   * Commits a staged write through its admission (quota, object count). `commit(admitted)` is one
   * synchronous index transaction that measures the usage change itself, against what the key
   * holds at that moment, and throws AdmissionStale (writing nothing) when it exceeds `admitted`.
   * The admission is asynchronous (it may ask Redis), so it runs outside the transaction, with
   * `estimate`, and again with the measured change whenever a concurrent write (a delete, a smaller
   * overwrite) made the previous one stale. A change of at most 0 bytes and 0 objects needs none.
   */
  private async commitAdmitted<T>(
    admit: AdmitWrite | undefined,
    estimate: UsageChange | undefined,
    commit: (admitted: UsageChange | undefined) => T,
    signal?: AbortSignal,
  ): Promise<T> {
    // Checked right before each commit: a write whose client went away commits nothing.
    if (!admit) {
      signal?.throwIfAborted();
      const result = commit(undefined);
      await this.index.flushed();
      return result;
    }
    let change = estimate ?? { bytes: 0, objects: 0 };
    for (let attempt = 1; ; attempt++) {
      const admitted = { bytes: Math.max(0, change.bytes), objects: Math.max(0, change.objects) };
      if (admitted.bytes > 0 || admitted.objects > 0) await admit(admitted);
      signal?.throwIfAborted();
      let result: T;
      try {
        result = commit(admitted);
      } catch (error) {
        if (!(error instanceof AdmissionStale)) throw error;
        if (attempt >= MAX_ADMISSIONS) {
          throw new S3Error('ServiceUnavailable', 'The object changed repeatedly while this write was being committed; nothing was stored. Try again.', {
            headers: { 'Retry-After': '1' },
          });
        }
        change = error.change;
        continue;
      }
      // Durable before it is acknowledged, and before the caller unlinks what it orphaned.
      await this.index.flushed();
      return result;
    }
  }

  /**
   * What committing `record` would change (re-measured at commit). `replaced` is the caller's
   * measurement for its reservation: more than 0 bytes means an object was there, so the change
   * is known without reading the index again, and admitting it asks the hold for nothing beyond
   * its reservation. 0 cannot tell a missing key from an empty object (which decides the object
   * count): `replaced.objects` says which (a new key's admission reads nothing either); without it
   * the index is read then.
   */
  private objectChange(record: NewObjectRecord, replaced?: { bytes: number; objects?: number }): UsageChange {
    if (replaced?.objects !== undefined) return { bytes: record.size - replaced.bytes, objects: 1 - replaced.objects };
    if (replaced !== undefined && replaced.bytes > 0) return { bytes: record.size - replaced.bytes, objects: 0 };
    const measured = this.index.replacedByWrite(record.bucket, record.key) ?? { bytes: 0, objects: 0 };
    return { bytes: record.size - measured.bytes, objects: 1 - measured.objects };
  }

  /**
   * Commits an object row through its admission; unlinks the new files if that fails (or is
   * refused: the key keeps what it holds) and the replaced version's if it succeeds. Returns the
   * version id S3 shows for the new version (undefined in an Unversioned bucket).
   */
  private async commitObject(
    record: NewObjectRecord,
    admit?: AdmitWrite,
    journal?: JournalHook,
    signal?: AbortSignal,
    conditions?: WriteConditions,
    replaced?: { bytes: number; objects?: number },
  ): Promise<string | undefined> {
    const newFiles = record.segments.map((s) => s.file);
    let committed: { orphans: string[]; versionId?: string } | null;
    try {
      const estimate = admit && this.objectChange(record, replaced);
      committed = await this.commitAdmitted(admit, estimate, (admitted) => this.index.putObject(record, admitted, journal, conditions), signal);
    } catch (error) {
      await this.discard(newFiles);
      throw error;
    }
    if (committed === null) {
      await this.discard(newFiles);
      throw noSuchBucket(record.bucket);
    }
    await this.discard(committed.orphans);
    return committed.versionId;
  }

  private async commitReceivedPart(
    input: { bucket: string; key: string; uploadId: string; partNumber: number; admit?: AdmitWrite; signal?: AbortSignal },
    received: Received,
    checksum: ObjectChecksum | undefined,
  ): Promise<PartRecord> {
    const part: PartRecord = {
      uploadId: input.uploadId,
      partNumber: input.partNumber,
      etag: quoteEtag(received.md5.toString('hex')),
      size: received.size,
      lastModified: Date.now(),
      checksum,
      file: received.file,
    };
    await this.commitPart(input.bucket, input.key, part, input.admit, input.signal);
    return part;
  }

  private async commitPart(bucket: string, key: string, part: PartRecord, admit?: AdmitWrite, signal?: AbortSignal): Promise<void> {
    let orphans: string[] | null;
    try {
      const estimate = admit && { bytes: part.size - (this.index.partSize(part.uploadId, part.partNumber) ?? 0), objects: 0 };
      orphans = await this.commitAdmitted(admit, estimate, (admitted) => this.index.putPart(bucket, utf8(key), part, admitted), signal);
    } catch (error) {
      await this.discard([part.file]);
      throw error;
    }
    if (orphans === null) {
      await this.discard([part.file]);
      throw new S3Error('NoSuchUpload', undefined, { details: { UploadId: part.uploadId } });
    }
    await this.discard(orphans);
  }

  // ---------------------------------------------------------------- buckets

  async createBucket(bucket: string): Promise<void> {
    if (!this.index.createBucket(bucket, Date.now())) {
      throw new S3Error('BucketAlreadyOwnedByYou');
    }
    await this.index.flushed();
  }

  async deleteBucket(bucket: string): Promise<void> {
    const { result } = await this.freeing(
      () => this.index.deleteBucket(bucket),
      (change) => change.orphans,
    );
    if (result === 'missing') throw noSuchBucket(bucket);
    if (result === 'not-empty') throw new S3Error('BucketNotEmpty');
  }

  // ---------------------------------------------------------------- objects

  async putObject(input: PutObjectInput): Promise<WriteResult> {
    // A caller that measured what the write replaces (`replaced`) found the bucket a moment ago;
    // the commit answers NoSuchBucket anyway if it went meanwhile, so only others pay this read.
    if (input.replaced === undefined) this.requireBucket(input.bucket);
    const received = await this.receive(input.body, { size: input.size, contentMd5: input.contentMd5, allowInline: true, declared: input.checksum, signal: input.signal });
    const record: NewObjectRecord = {
      bucket: input.bucket,
      key: utf8(input.key),
      size: received.size,
      etag: quoteEtag(received.md5.toString('hex')),
      lastModified: Date.now(),
      metadata: cleanMetadata(input.metadata),
      tags: { ...(input.tags ?? {}) },
      checksum: received.declared,
      segments: received.file ? [{ file: received.file, size: received.size }] : [],
      inline: received.inline,
    };
    const versionId = await this.commitObject(record, input.admit, input.journal, input.signal, input.conditions, input.replaced);
    return withVersion({ etag: record.etag, size: record.size, lastModified: new Date(record.lastModified), checksum: record.checksum }, versionId);
  }

  async headObject(input: HeadObjectInput): Promise<ObjectInfo> {
    const record = this.requireObject(input.bucket, input.key, input.versionId);
    const info = this.info(record, input.key);
    evaluateConditions(info, input.conditions);
    if (input.partNumber === undefined && !input.withParts) return info;
    // The shared description is frozen: a part request gets its own copy.
    const described: ObjectInfo = { ...info };
    if (input.partNumber !== undefined) described.partRange = partByteRange(record.size, partSizes(record), input.partNumber);
    if (input.withParts && record.partsCount !== undefined) described.parts = record.parts ?? partSizes(record)!.map((size, index) => ({ partNumber: index + 1, size }));
    return described;
  }

  async getObject(input: GetObjectInput): Promise<GetObjectOutput> {
    input.signal?.throwIfAborted();
    let record: ObjectRecord;
    let info: ObjectInfo;
    let range: { start: number; end: number } | undefined;
    let opened: Readable | Buffer;
    for (let attempt = 1; ; attempt++) {
      record = this.requireObject(input.bucket, input.key, input.versionId);
      info = this.info(record, input.key);
      evaluateConditions(info, input.conditions);
      range = input.partNumber !== undefined ? partByteRange(record.size, partSizes(record), input.partNumber) : input.range ? resolveRange(input.range, record.size) : undefined;
      try {
        opened = await this.openRange(record, range ? range.start : 0, range ? range.end + 1 : record.size);
        break;
      } catch (error) {
        // Another process sharing the data directory replaced or deleted the object between the
        // row read and the open (its commit unlinks the old files at once): nothing was sent yet,
        // so the request reads the row again and answers with what the key holds now.
        if (attempt >= MAX_OPEN_ATTEMPTS || !isErrno(error, 'ENOENT')) throw error;
      }
    }
    const signal = input.signal;
    // For in-memory bytes the stream is built only if a caller asks for it (the gateway sends `bytes`).
    const output: GetObjectOutput = Buffer.isBuffer(opened)
      ? {
          info,
          bytes: opened,
          get body() {
            const stream = bufferStream(opened);
            return signal ? addAbortSignal(signal, stream) : stream;
          },
        }
      : // An abort destroys the reader, which closes its file and unpins the data files.
        { info, body: signal ? addAbortSignal(signal, opened) : opened };
    if (range) output.range = range;
    return output;
  }

  async deleteObject(input: { bucket: string; key: string; versionId?: string } & Journaled): Promise<DeleteObjectResult> {
    if (input.versionId !== undefined) checkVersionId(input.versionId);
    // The hook hears of a missing key too (replaced: false): it decides whether that is an event.
    const change = await this.freeing(
      () => this.index.deleteObjects(input.bucket, [{ key: utf8(input.key), versionId: input.versionId }], input.journal, true),
      (done) => done?.orphans ?? [],
    );
    if (change === null) throw noSuchBucket(input.bucket);
    const result = change.results[0]!;
    const out: DeleteObjectResult = {};
    if (result.versionId !== undefined) out.versionId = result.versionId;
    if (result.deleteMarker) out.deleteMarker = true;
    return out;
  }

  async deleteObjects(input: { bucket: string; objects: ObjectIdentifier[] } & Journaled): Promise<DeleteObjectsOutput> {
    this.requireBucket(input.bucket);
    // A malformed version id fails its own entry (S3 reports it in <Error>), not the batch.
    const valid: ObjectIdentifier[] = [];
    const errors: DeleteObjectsOutput['errors'] = [];
    for (const object of input.objects) {
      if (object.versionId === undefined || isWellFormedVersionId(object.versionId)) valid.push(object);
      else errors.push({ key: object.key, versionId: object.versionId, code: 'InvalidArgument', message: INVALID_VERSION_ID });
    }
    const change = await this.freeing(
      () =>
        this.index.deleteObjects(
          input.bucket,
          valid.map((o) => ({ key: utf8(o.key), versionId: o.versionId })),
          input.journal,
        ),
      (done) => done?.orphans ?? [],
    );
    if (change === null) throw noSuchBucket(input.bucket);
    return { deleted: valid.map((object, index) => deletedEntry(object, change.results[index]!)), errors };
  }

  async getBucketVersioning(bucket: string): Promise<VersioningStatus> {
    const status = this.index.bucketVersioning(bucket);
    if (status === undefined) throw noSuchBucket(bucket);
    return status;
  }

  async putBucketVersioning(bucket: string, status: 'Enabled' | 'Suspended'): Promise<void> {
    if (!this.index.setBucketVersioning(bucket, status)) throw noSuchBucket(bucket);
    await this.index.flushed();
  }

  async listObjectVersions(input: ListObjectVersionsInput): Promise<ListObjectVersionsOutput> {
    this.requireBucket(input.bucket);
    const prefix = utf8(input.prefix ?? '');
    const marker = input.keyMarker !== undefined && input.keyMarker !== '' ? utf8(input.keyMarker) : undefined;
    let initialCursor: ScanCursor<VersionListRow> | undefined;
    if (input.versionIdMarker !== undefined && input.versionIdMarker !== '') {
      if (!marker) throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { details: { ArgumentName: 'version-id-marker' } });
      checkVersionId(input.versionIdMarker);
      // Resume right after that version of the key-marker's key; a version gone meanwhile resumes
      // after the key (as a key-marker alone does).
      const seq = startsWith(marker, prefix) ? this.index.versionSeq(input.bucket, marker, input.versionIdMarker) : undefined;
      if (seq !== undefined) {
        initialCursor = { kind: 'row', row: { key: marker, versionId: input.versionIdMarker, seq, deleteMarker: false, isLatest: false, size: 0, etag: '', lastModified: 0 } };
      }
    }
    const walk = await delimitedWalk<VersionListRow>({
      prefix,
      delimiter: input.delimiter ? utf8(input.delimiter) : undefined,
      marker,
      initialCursor,
      max: clampMax(input.maxKeys),
      scan: (cursor, upper, limit) => this.index.scanVersions(input.bucket, cursor, upper, limit),
    });
    const out: ListObjectVersionsOutput = {
      entries: walk.rows.map((row) => ({
        key: row.key.toString('utf8'),
        versionId: row.versionId,
        isLatest: row.isLatest,
        lastModified: new Date(row.lastModified),
        deleteMarker: row.deleteMarker,
        size: row.deleteMarker ? 0 : row.size,
        etag: row.deleteMarker ? '' : row.etag,
      })),
      commonPrefixes: walk.commonPrefixes.map((cp) => cp.toString('utf8')),
      isTruncated: walk.isTruncated,
    };
    if (walk.isTruncated && walk.last?.kind === 'row') {
      out.nextKeyMarker = walk.last.row.key.toString('utf8');
      out.nextVersionIdMarker = walk.last.row.versionId;
    } else if (walk.isTruncated && walk.last?.kind === 'prefix') {
      out.nextKeyMarker = walk.last.prefix.toString('utf8');
    }
    return out;
  }

  async copyObject(input: CopyObjectInput): Promise<WriteResult> {
    const source = this.requireCopySource(input.sourceBucket, input.sourceKey, input.sourceVersionId);
    evaluateConditions({ etag: source.etag, lastModified: new Date(source.lastModified) }, input.sourceConditions, {
      forCopySource: true,
    });
    this.requireBucket(input.bucket);
    const sourceFiles = source.segments.map((s) => s.file);
    this.acquire(sourceFiles);
    try {
      const segments: Segment[] = [];
      try {
        for (const segment of source.segments) segments.push({ file: await this.cloneFile(segment.file), size: segment.size });
      } catch (error) {
        await this.discard(segments.map((s) => s.file));
        throw error;
      }
      const record: NewObjectRecord = {
        bucket: input.bucket,
        key: utf8(input.key),
        size: source.size,
        etag: source.etag,
        lastModified: Date.now(),
        metadata: input.metadataDirective === 'COPY' ? cleanMetadata(source.metadata) : cleanMetadata(input.metadata),
        tags: { ...(input.tags ?? source.tags) },
        checksum: source.checksum,
        partsCount: source.partsCount,
        parts: source.parts,
        segments,
        inline: source.inline,
      };
      const versionId = await this.commitObject(record, input.admit, input.journal, input.signal);
      return withVersion({ etag: record.etag, size: record.size, lastModified: new Date(record.lastModified), checksum: record.checksum }, versionId);
    } finally {
      this.release(sourceFiles);
    }
  }

  async listObjects(input: ListObjectsInput): Promise<ListObjectsOutput> {
    this.requireBucket(input.bucket);
    const walk = await delimitedWalk<ObjectListRow>({
      prefix: utf8(input.prefix ?? ''),
      delimiter: input.delimiter ? utf8(input.delimiter) : undefined,
      marker: input.startAfter !== undefined && input.startAfter !== '' ? utf8(input.startAfter) : undefined,
      max: clampMax(input.maxKeys),
      scan: (cursor, upper, limit) => this.index.scanObjects(input.bucket, cursor, upper, limit),
    });
    const out: ListObjectsOutput = {
      contents: walk.rows.map((row) => ({
        key: row.key.toString('utf8'),
        size: row.size,
        etag: row.etag,
        lastModified: new Date(row.lastModified),
      })),
      commonPrefixes: walk.commonPrefixes.map((cp) => cp.toString('utf8')),
      isTruncated: walk.isTruncated,
    };
    if (walk.last) out.nextMarker = (walk.last.kind === 'row' ? walk.last.row.key : walk.last.prefix).toString('utf8');
    return out;
  }

  // ---------------------------------------------------------------- tagging

  async getObjectTagging(input: { bucket: string; key: string; versionId?: string }): Promise<Record<string, string>> {
    return { ...this.requireObject(input.bucket, input.key, input.versionId).tags };
  }

  async putObjectTagging(input: { bucket: string; key: string; versionId?: string; tags: Record<string, string> } & Journaled): Promise<void> {
    await this.setTags(input, { ...input.tags });
  }

  async deleteObjectTagging(input: { bucket: string; key: string; versionId?: string } & Journaled): Promise<void> {
    await this.setTags(input, {});
  }

  private async setTags(input: { bucket: string; key: string; versionId?: string } & Journaled, tags: Record<string, string>): Promise<void> {
    if (input.versionId !== undefined) checkVersionId(input.versionId);
    this.requireBucket(input.bucket);
    const name = utf8(input.key);
    const outcome = this.index.setTags(input.bucket, name, input.versionId, tags, input.journal);
    if (outcome !== 'ok') {
      // Named for the right error: the marker's headers, or which of key and version is missing.
      this.requireObject(input.bucket, input.key, input.versionId);
      throw new S3Error(input.versionId === undefined ? 'NoSuchKey' : 'NoSuchVersion', undefined, { details: { Key: input.key } });
    }
    await this.index.flushed();
  }

  // ---------------------------------------------------------------- multipart

  async createMultipartUpload(input: CreateMultipartUploadInput): Promise<{ uploadId: string }> {
    const uploadId = newUploadId();
    const created = this.index.createUpload({
      uploadId,
      bucket: input.bucket,
      key: utf8(input.key),
      initiated: Date.now(),
      metadata: cleanMetadata(input.metadata),
      tags: { ...(input.tags ?? {}) },
      checksumAlgorithm: input.checksumAlgorithm,
    });
    if (!created) throw noSuchBucket(input.bucket);
    await this.index.flushed();
    return { uploadId };
  }

  async uploadPart(input: UploadPartInput): Promise<PartWriteResult> {
    const upload = this.requireUpload(input.bucket, input.key, input.uploadId);
    checkPartNumber(input.partNumber);
    // When the upload declared an algorithm but this part came without a checksum, compute it so
    // that the composite object checksum can still be formed.
    const computeAlgorithm = input.checksum ? undefined : upload.checksumAlgorithm;
    const received = await this.receive(input.body, {
      size: input.size,
      contentMd5: input.contentMd5,
      checksumAlgorithm: computeAlgorithm,
      declared: input.checksum,
      signal: input.signal,
    });
    const checksum: ObjectChecksum | undefined =
      received.declared ?? (computeAlgorithm && received.checksum ? { algorithm: computeAlgorithm, value: received.checksum.toString('base64'), type: 'FULL_OBJECT' } : undefined);
    const part = await this.commitReceivedPart(input, received, checksum);
    return { etag: part.etag, size: part.size, checksum: part.checksum };
  }

  async uploadPartCopy(input: UploadPartCopyInput): Promise<PartWriteResult & { lastModified: Date }> {
    const upload = this.requireUpload(input.bucket, input.key, input.uploadId);
    checkPartNumber(input.partNumber);
    const source = this.requireObject(input.sourceBucket, input.sourceKey);
    evaluateConditions({ etag: source.etag, lastModified: new Date(source.lastModified) }, input.sourceConditions, {
      forCopySource: true,
    });
    let start = 0;
    let end = source.size;
    if (input.sourceRange) {
      const { start: first, end: last } = input.sourceRange;
      if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last < first || last >= source.size) {
        throw new S3Error('InvalidRange', `Range specified is not valid for source object of size: ${source.size}`, {
          details: { ActualObjectSize: String(source.size) },
        });
      }
      start = first;
      end = last + 1;
    }
    const body = await this.openRangeStream(source, start, end);
    const received = await this.receive(body, { size: end - start, checksumAlgorithm: upload.checksumAlgorithm, signal: input.signal });
    const checksum: ObjectChecksum | undefined =
      upload.checksumAlgorithm && received.checksum ? { algorithm: upload.checksumAlgorithm, value: received.checksum.toString('base64'), type: 'FULL_OBJECT' } : undefined;
    const part = await this.commitReceivedPart(input, received, checksum);
    return { etag: part.etag, size: part.size, checksum, lastModified: new Date(part.lastModified) };
  }

  async completeMultipartUpload(input: CompleteMultipartUploadInput): Promise<WriteResult> {
    // A retry of a completion that already happened (with the same part list) answers as it did.
    const replayed = this.index.getUpload(input.uploadId) ? undefined : this.replayCompletion(input);
    if (replayed) return replayed;
    this.requireUpload(input.bucket, input.key, input.uploadId);
    const minPartSize = this.options.minPartSize;
    // Completion usually frees bytes (the parts already count); it is admitted when it adds an
    // object, or when parts counted too little (measured inside the transaction).
    const committed = await this.commitAdmitted(
      input.admit,
      undefined,
      (admitted) =>
        this.index.completeUpload(
          input.uploadId,
          (upload, stored, versionId) => {
            // Conditional completion: decided inside the completing transaction, against the key as
            // it is now, before the part list (S3's order); a failure leaves the upload in progress.
            if (input.conditions) checkWriteConditions(this.index.getObject(upload.bucket, upload.key), input.conditions, input.key);
            // The whole request is checked here, in S3's order (InvalidPartOrder before InvalidPart).
            const used = validateCompletion(input.parts, stored, minPartSize);
            const checksum = completedChecksum(upload.checksumAlgorithm, used);
            const record: NewObjectRecord = {
              bucket: upload.bucket,
              key: upload.key,
              size: used.reduce((sum, p) => sum + p.size, 0),
              etag: multipartEtag(used),
              lastModified: Date.now(),
              metadata: upload.metadata,
              tags: upload.tags,
              checksum,
              partsCount: used.length,
              parts: used.map((p) => (p.checksum ? { partNumber: p.partNumber, size: p.size, checksum: p.checksum } : { partNumber: p.partNumber, size: p.size })),
              segments: used.filter((p) => p.file !== null && p.size > 0).map((p) => ({ file: p.file!, size: p.size })),
            };
            const result: WriteResult = withVersion(
              {
                etag: record.etag,
                size: record.size,
                lastModified: new Date(record.lastModified),
                checksum,
              },
              versionId,
            );
            return { record, result, completion: encodeCompletion(input.parts, result) };
          },
          admitted,
          input.journal,
        ),
      input.signal,
    );
    if (!committed) {
      // A concurrent completion of the same upload got there first: the same request answers as it did.
      const concurrent = this.replayCompletion(input);
      if (concurrent) return concurrent;
      throw new S3Error('NoSuchUpload', undefined, { details: { UploadId: input.uploadId } });
    }
    await this.discard(committed.orphans);
    return committed.result;
  }

  private replayCompletion(input: CompleteMultipartUploadInput): WriteResult | undefined {
    return replayCompletion(this.index.completion(input.uploadId, input.bucket, utf8(input.key), Date.now()), input.parts);
  }

  async abortMultipartUpload(input: { bucket: string; key: string; uploadId: string }): Promise<void> {
    this.requireUpload(input.bucket, input.key, input.uploadId);
    await this.freeing(
      () => this.index.deleteUpload(input.uploadId),
      (orphans) => orphans,
    );
  }

  async listParts(input: ListPartsInput): Promise<ListPartsOutput> {
    const upload = this.requireUpload(input.bucket, input.key, input.uploadId);
    const max = clampMax(input.maxParts);
    const rows = max === 0 ? [] : this.index.listParts(input.uploadId, input.partNumberMarker ?? 0, max + 1);
    const parts = rows.slice(0, max);
    const out: ListPartsOutput = {
      parts: parts.map((p) => ({
        partNumber: p.partNumber,
        etag: p.etag,
        size: p.size,
        lastModified: new Date(p.lastModified),
        checksum: p.checksum,
      })),
      isTruncated: rows.length > max,
      initiated: new Date(upload.initiated),
    };
    if (parts.length > 0) out.nextPartNumberMarker = parts[parts.length - 1].partNumber;
    if (upload.checksumAlgorithm) out.checksumAlgorithm = upload.checksumAlgorithm;
    return out;
  }

  async listMultipartUploads(input: ListMultipartUploadsInput): Promise<ListMultipartUploadsOutput> {
    this.requireBucket(input.bucket);
    const prefix = utf8(input.prefix ?? '');
    const marker = input.keyMarker !== undefined && input.keyMarker !== '' ? utf8(input.keyMarker) : undefined;
    let initialCursor: ScanCursor<UploadListRow> | undefined;
    if (marker && input.uploadIdMarker && startsWith(marker, prefix)) {
      initialCursor = { kind: 'row', row: { key: marker, uploadId: input.uploadIdMarker, initiated: 0 } };
    }
    const walk = await delimitedWalk<UploadListRow>({
      prefix,
      delimiter: input.delimiter ? utf8(input.delimiter) : undefined,
      marker,
      initialCursor,
      max: clampMax(input.maxUploads),
      scan: (cursor, upper, limit) => this.index.scanUploads(input.bucket, cursor, upper, limit),
    });
    const out: ListMultipartUploadsOutput = {
      uploads: walk.rows.map((row) => ({
        key: row.key.toString('utf8'),
        uploadId: row.uploadId,
        initiated: new Date(row.initiated),
      })),
      commonPrefixes: walk.commonPrefixes.map((cp) => cp.toString('utf8')),
      isTruncated: walk.isTruncated,
    };
    if (walk.last?.kind === 'row') {
      out.nextKeyMarker = walk.last.row.key.toString('utf8');
      out.nextUploadIdMarker = walk.last.row.uploadId;
    } else if (walk.last?.kind === 'prefix') {
      out.nextKeyMarker = walk.last.prefix.toString('utf8');
    }
    return out;
  }

  listingWork(): { scans: number; rows: number } {
    return { ...this.index.listingWork };
  }

  // ---------------------------------------------------------------- lifecycle

  async health(): Promise<StorageHealth> {
    try {
      if (!this.index.ping()) return { ok: false, detail: 'index did not answer' };
      await fs.promises.access(this.dataRoot, fs.constants.W_OK);
      await fs.promises.access(this.tmpDir, fs.constants.W_OK);
      const space = await freeSpace(this.dataDir);
      if (isLowOnSpace(space, this.options)) {
        return { ok: true, degraded: true, detail: 'free space is below FS_MIN_FREE_BYTES / FS_MIN_FREE_PERCENT', ...space };
      }
      return { ok: true, ...space };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.options.timers.clearTimeout(this.sweepTimer);
    await this.sweeping?.catch(() => {});
    this.index.close();
    this.options.owner.close();
  }

  // ---------------------------------------------------------------- orphans and disk space

  /**
   * Runs an index change that frees space (a delete, an abort) and unlinks the files it orphaned.
   * On a full disk the change's WAL append fails (SQLITE_FULL) before anything is freed: the
   * reserve is released and the change retried once, then the reserve refilled from the space the
   * change freed, so the next delete on a full disk works too.
   */
  private async freeing<T>(change: () => T, orphansOf: (result: T) => Iterable<string | null>): Promise<T> {
    let result: T;
    try {
      result = change();
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      await this.options.reserve.release();
      try {
        result = change();
      } catch (again) {
        throw storageError(again);
      }
    }
    await this.index.flushed();
    await this.discard(orphansOf(result));
    await this.options.reserve.ensure();
    return result;
  }

  async reserveSpace(): Promise<void> {
    // Another process may have released the shared reserve: check the file, not the last state.
    await this.options.reserve.ensure(true);
  }

  /** At start: only owners that crashed (their lock files are still there), cheap otherwise. */
  async startupSweep(): Promise<void> {
    await this.sweep('crashed');
  }

  async sweepOrphans(): Promise<SweepReport> {
    return this.sweep('all');
  }

  private sweep(scope: 'crashed' | 'all'): Promise<SweepReport> {
    // One sweep at a time per process; a second caller shares the running one.
    const running = this.sweeping;
    if (running) return running as Promise<SweepReport>;
    const sweep = sweepOrphans({
      dataRoot: this.dataRoot,
      tmpDir: this.tmpDir,
      ownersDir: path.join(this.dataDir, 'owners'),
      indexFile: path.join(this.dataDir, 'index.sqlite'),
      self: this.owner,
      scope,
      clock: this.options.clock,
      legacyGraceMs: this.options.legacyGraceMs,
      inUse: (file) => this.readers.has(file),
      signal: this.closing.signal,
    })
      .then((report) => {
        if (report.files > 0 || report.tmpEntries > 0) this.options.logger?.info('collected unreferenced data files', { scope, ...report });
        return report;
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    this.sweeping = sweep;
    return sweep;
  }

  /** Arms the next periodic sweep; re-armed only once the previous one finished. */
  scheduleSweep(): void {
    if (this.options.sweepIntervalMs <= 0 || this.closing.signal.aborted) return;
    this.sweepTimer = this.options.timers.setTimeout(() => {
      void this.sweep('all')
        .then(() => this.reserveSpace())
        .catch((error: unknown) => this.options.logger?.warn('orphan sweep failed', { error: String(error) }))
        .finally(() => this.scheduleSweep());
    }, this.options.sweepIntervalMs);
  }
}

/** Part sizes in order (undefined: not a multipart object); rows written before parts were recorded derive them from segments. */
function partSizes(record: ObjectRecord): number[] | undefined {
  if (record.partsCount === undefined) return undefined;
  if (record.parts) return record.parts.map((part) => part.size);
  // Only the last part can be empty (every other one is at least the minimum part size), and an empty part has no segment.
  const sizes = record.segments.map((segment) => segment.size);
  while (sizes.length < record.partsCount) sizes.push(0);
  return sizes;
}

/**
 * `bucket` is the backend's name (`cs-…`), which no client may see: the error names no bucket,
 * and the door that answers it adds the caller's own name for it (gateway/app.ts).
 */
function noSuchBucket(_bucket: string): S3Error {
  return new S3Error('NoSuchBucket');
}

const INVALID_VERSION_ID = 'Invalid version id specified';

/** InvalidArgument for an id this backend never makes (S3 answers so for a malformed versionId). */
function checkVersionId(versionId: string): void {
  if (!isWellFormedVersionId(versionId)) {
    throw new S3Error('InvalidArgument', INVALID_VERSION_ID, { details: { ArgumentName: 'versionId', ArgumentValue: versionId } });
  }
}

/** The headers S3 answers with about a delete marker (a GET of a deleted key, of a marker by id). */
function markerHeaders(marker: DeleteMarkerRecord): Record<string, string> {
  return { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker.versionId };
}

/** A delete marker named by its version id: nothing to read or tag (405, as S3). */
function methodNotAllowedOnMarker(marker: DeleteMarkerRecord): S3Error {
  return new S3Error('MethodNotAllowed', undefined, {
    details: { ResourceType: 'DeleteMarker' },
    headers: { ...markerHeaders(marker), 'Last-Modified': new Date(marker.lastModified).toUTCString() },
  });
}

function withVersion(result: WriteResult, versionId: string | undefined): WriteResult {
  if (versionId !== undefined) result.versionId = versionId;
  return result;
}

/** One <Deleted> entry of DeleteObjects, as S3 words it. */
function deletedEntry(object: ObjectIdentifier, result: VersionDeleteResult): DeletedObject {
  const entry: DeletedObject = { key: object.key };
  if (object.versionId !== undefined) entry.versionId = object.versionId;
  if (result.deleteMarker) {
    entry.deleteMarker = true;
    // S3 names the marker created, or (a version deleted by id) the version it removed.
    entry.deleteMarkerVersionId = result.createdMarker ?? object.versionId;
  }
  return entry;
}
