/**
 * File ids and listing cursors of the Simple REST API: opaque to clients, stateless for us.
 *
 * A file id is derived from what names an object, never from what a write changes: base64url of
 * `[version 1][length of bucket id][bucket id][key bytes]`. Overwriting the object keeps its id;
 * objects uploaded through S3 have ids without ever being registered; and the bucket's row id
 * (random, never reused) rather than its name means a bucket deleted and created again under the
 * same name does not resurrect old ids. Decoding yields a bucket id that is then looked up among
 * the caller's own buckets, so another account's id answers exactly as a missing file does.
 */
const FILE_ID_VERSION = 1;

export function encodeFileId(bucketId: string, key: string): string {
  const bucket = Buffer.from(bucketId, 'utf8');
  if (bucket.length === 0 || bucket.length > 255) throw new Error(`bucket id of unexpected length: ${bucketId}`);
  return Buffer.concat([Buffer.from([FILE_ID_VERSION, bucket.length]), bucket, Buffer.from(key, 'utf8')]).toString('base64url');
}

/** Undefined for anything `encodeFileId` could not have produced. */
export function decodeFileId(id: string): { bucketId: string; key: string } | undefined {
  const bytes = decodeCanonicalBase64url(id);
  if (!bytes || bytes.length < 3 || bytes[0] !== FILE_ID_VERSION) return undefined;
  const bucketLength = bytes[1]!;
  if (bucketLength === 0 || bytes.length <= 2 + bucketLength) return undefined;
  const bucketId = utf8Exactly(bytes.subarray(2, 2 + bucketLength));
  const key = utf8Exactly(bytes.subarray(2 + bucketLength));
  return bucketId === undefined || key === undefined ? undefined : { bucketId, key };
}

/** A listing cursor: the last key of the page, base64url-encoded (as ListObjectsV2 continuation tokens). */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string | undefined {
  const bytes = decodeCanonicalBase64url(cursor);
  return bytes && bytes.length > 0 ? utf8Exactly(bytes) : undefined;
}

// Only the one encoding we produce is accepted: Node's decoder skips junk characters, which would
// give a file many ids.
function decodeCanonicalBase64url(value: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

function utf8Exactly(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}
