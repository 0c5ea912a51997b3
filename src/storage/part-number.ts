import { S3Error } from '../errors/s3-errors.ts';
import type { ObjectChecksum, ObjectPart } from './storage-backend.ts';

/** Parts are stored (fs index, s3 catalog) compactly as [[partNumber, size, checksum value?], …]; their algorithm is the object's. */
export function encodeParts(parts: readonly ObjectPart[] | undefined): string | null {
  return parts ? JSON.stringify(parts.map((p) => (p.checksum ? [p.partNumber, p.size, p.checksum.value] : [p.partNumber, p.size]))) : null;
}

export function decodeParts(value: string | null | undefined, checksum: ObjectChecksum | undefined): ObjectPart[] | undefined {
  if (value === null || value === undefined) return undefined;
  return (JSON.parse(value) as [number, number, string?][]).map(([partNumber, size, checksumValue]) =>
    checksumValue !== undefined && checksum ? { partNumber, size, checksum: { algorithm: checksum.algorithm, value: checksumValue, type: 'FULL_OBJECT' } } : { partNumber, size },
  );
}

/**
 * The inclusive byte range of the `partNumber`-th part of an object (S3's `GET/HEAD ?partNumber=`),
 * from the sizes of its parts in order (undefined: not a multipart object, whose only part is the
 * whole object). Part n is the n-th part of the completed object, so it always lies in
 * 1..x-amz-mp-parts-count, whatever numbers the upload gave its parts. An empty part is
 * `{ start, end: start - 1 }` (no bytes; answered without Content-Range). Beyond the last part:
 * 416 InvalidPartNumber, as AWS answers.
 */
export function partByteRange(objectSize: number, partSizes: readonly number[] | undefined, partNumber: number): { start: number; end: number } {
  const sizes = partSizes ?? [objectSize];
  if (partNumber < 1 || partNumber > sizes.length) throw new S3Error('InvalidPartNumber');
  let start = 0;
  for (let index = 0; index < partNumber - 1; index++) start += sizes[index]!;
  const size = sizes[partNumber - 1]!;
  return { start, end: start + size - 1 };
}
