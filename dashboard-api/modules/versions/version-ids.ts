/**
 * Version ids of the Time Machine API: `ver_` + base64url of `[1][length of bucket id][bucket id]
 * [length of the S3 version id][S3 version id][key bytes]`. Self-contained, so `PATCH
 * /api/versions {versionId}` needs nothing else (as the spec's example sends), and stateless. The
 * bucket's row id (never reused) rather than its name: a bucket deleted and re-created under the
 * same name does not resurrect old ids; decoding yields a bucket id looked up among the caller's
 * own buckets, so another account's id answers exactly as a missing version does. The S3 version
 * id (what S3 clients see, `x-amz-version-id`) is also returned beside it as `s3VersionId`.
 */
const LAYOUT = 1;
export const VERSION_ID_PREFIX = 'ver_';

export function encodeVersionId(bucketId: string, key: string, s3VersionId: string): string {
  const bucket = Buffer.from(bucketId, 'utf8');
  const version = Buffer.from(s3VersionId, 'utf8');
  if (bucket.length === 0 || bucket.length > 255 || version.length === 0 || version.length > 255) throw new Error('bucket or version id of unexpected length');
  return VERSION_ID_PREFIX + Buffer.concat([Buffer.from([LAYOUT, bucket.length]), bucket, Buffer.from([version.length]), version, Buffer.from(key, 'utf8')]).toString('base64url');
}

/** Undefined for anything `encodeVersionId` could not have produced. */
export function decodeVersionId(id: string): { bucketId: string; key: string; s3VersionId: string } | undefined {
  if (!id.startsWith(VERSION_ID_PREFIX)) return undefined;
  const text = id.slice(VERSION_ID_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Only the one encoding we produce: Node's decoder skips junk, which would give a version many ids.
  if (bytes.toString('base64url') !== text || bytes.length < 5 || bytes[0] !== LAYOUT) return undefined;
  const bucketLength = bytes[1]!;
  const versionAt = 2 + bucketLength;
  if (bucketLength === 0 || bytes.length < versionAt + 2) return undefined;
  const versionLength = bytes[versionAt]!;
  const keyAt = versionAt + 1 + versionLength;
  if (versionLength === 0 || bytes.length <= keyAt) return undefined;
  const bucketId = utf8Exactly(bytes.subarray(2, versionAt));
  const s3VersionId = utf8Exactly(bytes.subarray(versionAt + 1, keyAt));
  const key = utf8Exactly(bytes.subarray(keyAt));
  return bucketId === undefined || s3VersionId === undefined || key === undefined ? undefined : { bucketId, key, s3VersionId };
}

function utf8Exactly(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}
