import { createHash } from 'node:crypto';
import { compositeChecksum, type ChecksumAlgorithm } from '../checksums/checksums.ts';
import { S3Error } from '../errors/s3-errors.ts';
import type { CompleteMultipartUploadInput, ListMultipartUploadsInput, ListMultipartUploadsOutput, ObjectChecksum } from './storage-backend.ts';

/**
 * S3's multipart rules, once for every backend: the fs backend applies them to its index, the s3
 * proxy before it asks the store (stores order and word these checks differently, and some skip
 * them), so both answer exactly as S3 does.
 */

/** Every part but the last must be at least this big (S3: 5 MiB). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Part numbers run 1..10000. */
export const MAX_PART_NUMBER = 10_000;
/** The largest part (and single PUT) S3 accepts: 5 GiB. */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Most entries one listing page returns (ListObjects, ListParts, ListMultipartUploads). */
export const MAX_LIST_RESULTS = 1000;

/** InvalidArgument unless `partNumber` is an integer in 1..10000. */
export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, {
      details: { ArgumentName: 'partNumber', ArgumentValue: String(partNumber) },
    });
  }
}

/** A requested page size clamped to 0..1000 (S3 never returns more, whatever was asked). */
export function clampListMax(value: number): number {
  if (!Number.isFinite(value)) return MAX_LIST_RESULTS;
  return Math.max(0, Math.min(MAX_LIST_RESULTS, Math.floor(value)));
}

/** The hex digest inside an ETag: clients send ETags quoted or not, in either case. */
export function bareEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, '').toLowerCase();
}

export function sameEtag(a: string, b: string): boolean {
  return bareEtag(a) === bareEtag(b);
}

/** What the completion checks need to know of a stored part. */
export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
  checksum?: ObjectChecksum;
}

/**
 * CompleteMultipartUpload's checks, in S3's order: MalformedXML (no parts), InvalidPartOrder
 * (numbers not strictly ascending), InvalidPart (a part not stored, or stored with another ETag
 * or checksum), EntityTooSmall (a part but the last under `minPartSize`). Returns the stored
 * parts the object is made of, in the requested order.
 */
export function validateCompletion<P extends StoredPart>(requested: CompleteMultipartUploadInput['parts'], stored: Iterable<P>, minPartSize: number = MIN_PART_SIZE): P[] {
  if (requested.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part.');
  for (let i = 1; i < requested.length; i++) {
    if (requested[i]!.partNumber <= requested[i - 1]!.partNumber) throw new S3Error('InvalidPartOrder');
  }
  const byNumber = new Map<number, P>();
  for (const part of stored) byNumber.set(part.partNumber, part);
  const used = requested.map((wanted) => {
    const part = byNumber.get(wanted.partNumber);
    if (!part || !sameEtag(wanted.etag, part.etag)) {
      throw new S3Error('InvalidPart', undefined, { details: { PartNumber: String(wanted.partNumber), ETag: wanted.etag } });
    }
    if (wanted.checksum !== undefined && part.checksum && wanted.checksum !== part.checksum.value) {
      throw new S3Error('InvalidPart', `The checksum of part ${wanted.partNumber} does not match.`, { details: { PartNumber: String(wanted.partNumber) } });
    }
    return part;
  });
  for (const part of used.slice(0, -1)) {
    if (part.size < minPartSize) {
      throw new S3Error('EntityTooSmall', undefined, {
        details: { PartNumber: String(part.partNumber), ETag: part.etag, ProposedSize: String(part.size), MinSizeAllowed: String(minPartSize) },
      });
    }
  }
  return used;
}

/** S3's ETag of a completed upload: `"<md5 of the parts' binary MD5s>-<part count>"`. */
export function multipartEtag(parts: readonly { etag: string }[]): string {
  const md5 = createHash('md5');
  for (const part of parts) md5.update(Buffer.from(bareEtag(part.etag), 'hex'));
  return `"${md5.digest('hex')}-${parts.length}"`;
}

/**
 * The composite checksum of a completed upload that declared `algorithm`, when every part has a
 * checksum of that algorithm; otherwise none.
 */
export function completedChecksum(algorithm: ChecksumAlgorithm | undefined, parts: readonly StoredPart[]): ObjectChecksum | undefined {
  if (!algorithm || !parts.every((part) => part.checksum?.algorithm === algorithm)) return undefined;
  return {
    algorithm,
    value: compositeChecksum(
      algorithm,
      parts.map((part) => part.checksum!.value),
    ),
    type: 'COMPOSITE',
  };
}

/** S3's key order: by UTF-8 bytes (not UTF-16 code units, which differ above the BMP). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

type Upload = ListMultipartUploadsOutput['uploads'][number];

/**
 * One ListMultipartUploads page with S3's rules, over every upload under the prefix sorted by
 * key bytes (uploads of one key in initiation order): `keyMarker` alone skips keys up to and
 * including it; with `uploadIdMarker`, uploads of that key after that upload id follow. With a
 * delimiter, keys sharing a prefix up to it collapse into one common prefix, skipped when the
 * marker is at or inside it. Truncated pages carry the markers of their last entry. (The fs
 * backend applies the same rules to index range scans in key-range.ts, to stay O(page).)
 */
export function pageOfUploads(all: readonly Upload[], input: ListMultipartUploadsInput): ListMultipartUploadsOutput {
  const prefix = input.prefix ?? '';
  const { keyMarker, uploadIdMarker, delimiter } = input;
  const max = clampListMax(input.maxUploads);
  let start = 0;
  if (keyMarker !== undefined) {
    const afterMarker = all.findIndex((upload) => compareKeys(upload.key, keyMarker) > 0);
    start = afterMarker < 0 ? all.length : afterMarker;
    if (uploadIdMarker !== undefined) {
      const at = all.findIndex((upload) => upload.key === keyMarker && upload.uploadId === uploadIdMarker);
      if (at >= 0) start = at + 1;
    }
  }
  const uploads: Upload[] = [];
  const commonPrefixes: string[] = [];
  let last: { key: string; uploadId?: string } | undefined;
  for (let i = start; i < all.length; i++) {
    const upload = all[i]!;
    if (!upload.key.startsWith(prefix)) continue;
    const cut = delimiter ? upload.key.indexOf(delimiter, prefix.length) : -1;
    const commonPrefix = cut >= 0 ? upload.key.slice(0, cut + delimiter!.length) : undefined;
    if (commonPrefix !== undefined) {
      if (commonPrefixes[commonPrefixes.length - 1] === commonPrefix) continue;
      if (keyMarker !== undefined && (compareKeys(commonPrefix, keyMarker) <= 0 || keyMarker.startsWith(commonPrefix))) continue;
    }
    if (uploads.length + commonPrefixes.length >= max) {
      return {
        uploads,
        commonPrefixes,
        isTruncated: true,
        ...(last ? { nextKeyMarker: last.key, ...(last.uploadId ? { nextUploadIdMarker: last.uploadId } : {}) } : {}),
      };
    }
    if (commonPrefix !== undefined) {
      commonPrefixes.push(commonPrefix);
      last = { key: commonPrefix };
    } else {
      uploads.push(upload);
      last = upload;
    }
  }
  return { uploads, commonPrefixes, isTruncated: false };
}

/** Uploads sorted as S3 lists them; stable, so uploads of one key keep their initiation order. */
export function sortUploads<U extends { key: string }>(uploads: U[]): U[] {
  return uploads.sort((a, b) => compareKeys(a.key, b.key));
}
