/**
 * What an access key may do, in the manner of Backblaze B2 application keys and Cloudflare R2
 * tokens: an optional list of bucket names, an optional object-key prefix, a permission and an
 * optional expiry. The rules here are pure; the S3 gateway (gateway/s3/authorize.ts) and the
 * Simple REST file API both ask `scopeAllows`, so a key means the same thing on either side.
 */

export const KEY_PERMISSIONS = ['read', 'write', 'readwrite'] as const;
export type KeyPermission = (typeof KEY_PERMISSIONS)[number];

export interface KeyScope {
  /** Bucket names (the account's own names) the key may touch; undefined: every bucket of the account. */
  buckets?: readonly string[];
  /** Object keys the key may touch start with this; undefined: any key. Never ''. */
  prefix?: string;
  permission: KeyPermission;
  /** From this instant on the key no longer authenticates; undefined: never expires. */
  expiresAt?: Date;
}

export const UNRESTRICTED_SCOPE: KeyScope = Object.freeze({ permission: 'readwrite' });

/**
 * One thing a request wants to do, as far as scopes care:
 * - `read` / `write`: an object (GET/HEAD/tagging reads; PUT, copy destination, multipart, DELETE, tagging writes).
 * - `list`: a listing of keys under `prefix` ('' for the whole bucket).
 * - `writeSome`: a batch of writes in the bucket (DeleteObjects) whose keys the caller then checks one by one.
 * - `bucketInfo`: facts about the bucket itself (HeadBucket, GetBucketLocation, GetBucketVersioning).
 * - `bucketAdmin`: creating or deleting buckets, an account-level act.
 */
export type ScopeRequest =
  | { action: 'read' | 'write'; bucket: string; key: string }
  | { action: 'list'; bucket: string; prefix: string }
  | { action: 'writeSome'; bucket: string }
  | { action: 'bucketInfo'; bucket: string }
  | { action: 'bucketAdmin' };

const canRead = (scope: KeyScope) => scope.permission !== 'write';
const canWrite = (scope: KeyScope) => scope.permission !== 'read';

/** Whether the bucket (by the account's name for it) is within the key's bucket list. */
export function scopeCoversBucket(scope: KeyScope, bucket: string): boolean {
  return scope.buckets === undefined || scope.buckets.includes(bucket);
}

function coversKey(scope: KeyScope, key: string): boolean {
  return scope.prefix === undefined || key.startsWith(scope.prefix);
}

export function scopeAllows(scope: KeyScope, request: ScopeRequest): boolean {
  switch (request.action) {
    case 'read':
      return canRead(scope) && scopeCoversBucket(scope, request.bucket) && coversKey(scope, request.key);
    case 'write':
      return canWrite(scope) && scopeCoversBucket(scope, request.bucket) && coversKey(scope, request.key);
    case 'list':
      // B2's rule: a prefix-restricted key lists only with a request prefix inside its own, so a
      // listing can never show a key the scope would refuse to read (`photos` could match `photos-private/`).
      return canRead(scope) && scopeCoversBucket(scope, request.bucket) && coversKey(scope, request.prefix);
    case 'writeSome':
      return canWrite(scope) && scopeCoversBucket(scope, request.bucket);
    case 'bucketInfo':
      // Says only that the bucket exists, which the key's scope already names; uploaders
      // (rclone, SDK helpers) probe the bucket before writing, so write-only keys need it too.
      return scopeCoversBucket(scope, request.bucket);
    case 'bucketAdmin':
      // Like R2's bucket-scoped tokens: any restriction means the key cannot create or delete buckets.
      return canWrite(scope) && scope.buckets === undefined && scope.prefix === undefined;
  }
}

/** An expired key is refused as if it did not exist (see KeyStore.lookup). */
export function isScopeExpired(scope: KeyScope, now: Date): boolean {
  return scope.expiresAt !== undefined && scope.expiresAt.getTime() <= now.getTime();
}

/** The scope stored in an `access_keys` row (null columns: unrestricted). */
export function scopeOfRecord(record: { scopeBuckets: string[] | null; scopePrefix: string | null; permission: KeyPermission; expiresAt: Date | null }): KeyScope {
  const scope: KeyScope = { permission: record.permission };
  if (record.scopeBuckets) scope.buckets = Object.freeze([...record.scopeBuckets]);
  if (record.scopePrefix) scope.prefix = record.scopePrefix;
  if (record.expiresAt) scope.expiresAt = record.expiresAt;
  return Object.freeze(scope);
}
