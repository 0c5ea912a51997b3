import type { Readable } from 'node:stream';
import type { BucketRow } from '../../../src/db/schema.ts';
import { isS3Error } from '../../../src/errors/s3-errors.ts';
import { scopeAllows } from '../../../src/keys/key-scope.ts';
import type { UploadGate } from '../../../src/limits/upload-gate.ts';
import type { ObjectsService } from '../../../src/objects/objects.service.ts';
import { ScopeDeniedError } from '../../../src/objects/objects.errors.ts';
import { scopeOf, type Principal } from '../../../src/objects/principal.ts';
import type { ObjectVersionEntry, VersioningStatus } from '../../../src/storage/storage-backend.ts';
import { listKeyVersions } from '../../../src/versions/key-versions.ts';
import type { Retention } from '../../../src/versions/retention.ts';
import type { RetentionSettings, VersionsRepository } from '../../../src/versions/versions.repository.ts';
import { quotaExceededError } from '../../../src/quotas/quotas.errors.ts';
import { decodeCursor, encodeCursor } from '../files/file-ids.ts';
import { invalidCursorError, tooManyUploadsError } from '../files/files.errors.ts';
import { checkUploadKey, putUpload } from '../files/files.usecases.ts';
import { decodeVersionId, encodeVersionId } from './version-ids.ts';
import { invalidVersionRequestError, versionNotFoundError, versionsNotEnabledError } from './versions.errors.ts';

export type VersionsUsecases = ReturnType<typeof createVersionsUsecases>;

export interface VersionView {
  versionId: string;
  /** The id S3 clients see (`x-amz-version-id`; `null` for the null version). */
  s3VersionId: string;
  versionNumber: number;
  size: number;
  createdAt: Date;
  isCurrent: boolean;
}

/** Versions read per listing page while grouping them by file. */
const LIST_PAGE = 1000;

/**
 * The Time Machine API: uploads, listings and restores of file versions, over the objects service
 * (scope, bucket resolution, quota and events as for any door; S3 clients see the same versions).
 * Version numbers are the dashboard's own (src/versions/versions.repository.ts): 1-based in the
 * order versions were written, numbered on first sight whichever door wrote them, never reused
 * (after retention pruned v1..v3, the oldest left is still v4 and the next write is the counter + 1).
 */
export function createVersionsUsecases(deps: {
  objects: ObjectsService;
  /** The objects service whose writes journal `object.restored` (src/trash/internal-objects.ts). */
  restoring: (detail: Record<string, unknown>) => ObjectsService;
  repository: VersionsRepository;
  retention: Retention;
  resolveBucket: (accountId: string, name: string) => Promise<BucketRow | undefined>;
  uploadGate?: UploadGate;
  /** The account's stored bytes and quota: a spooled upload (fields after the file) is checked before its body is read. */
  usage?: (accountId: string) => Promise<{ usedBytes: number; quotaBytes: number }>;
}) {
  const { objects, repository } = deps;

  const bucketRowOf = async (principal: Principal, name: string): Promise<BucketRow> => {
    const row = await deps.resolveBucket(principal.accountId, name);
    if (!row) throw versionNotFoundError();
    return row;
  };

  /** The key's versions (markers left out), newest first, each with its number. */
  async function numbered(principal: Principal, bucket: BucketRow, key: string, signal?: AbortSignal): Promise<VersionView[]> {
    const entries = (await listKeyVersions(objects, principal, bucket.name, key, signal)).filter((entry) => !entry.deleteMarker);
    const numbers = await repository.numberVersions(
      bucket.id,
      key,
      [...entries].reverse().map((entry) => ({ versionId: entry.versionId, modifiedAt: entry.lastModified.getTime() })),
    );
    return entries.map((entry) => ({
      versionId: encodeVersionId(bucket.id, key, entry.versionId),
      s3VersionId: entry.versionId,
      versionNumber: numbers.get(entry.versionId)!,
      size: entry.size,
      createdAt: entry.lastModified,
      isCurrent: entry.isLatest,
    }));
  }

  const numberOf = (versions: VersionView[], s3VersionId: string | undefined) => versions.find((version) => version.s3VersionId === s3VersionId);

  const usecases = {
    /**
     * Before a part is spooled to disk (its bucket and key are not known yet, so no write reserved
     * quota for it): refused at once when it cannot fit the account's quota, so a client cannot
     * fill the server's temporary space beyond what it may store.
     */
    async admitSpool(principal: Principal, bytes: number): Promise<void> {
      if (!deps.usage) return;
      const { usedBytes, quotaBytes } = await deps.usage(principal.accountId);
      if (usedBytes + bytes > quotaBytes) throw quotaExceededError({ usedBytes, reservedBytes: 0, quotaBytes, requestedBytes: bytes });
    },

    /** A new version of `key` (the bucket must have versioning Enabled: elsewhere an upload would replace, not add). */
    async upload(principal: Principal, input: { bucket: string; key: string; body: Readable; size?: number; reserveBytes: number; contentType: string; signal?: AbortSignal }) {
      checkUploadKey(input.key);
      if ((await objects.getBucketVersioning(principal, input.bucket)) !== 'Enabled') throw versionsNotEnabledError(input.bucket);
      const result = await putUpload(objects, principal, input);
      const versions = await numbered(principal, result.bucketRow, input.key, input.signal);
      const created = numberOf(versions, result.versionId);
      return {
        versionId: created?.versionId ?? encodeVersionId(result.bucketRow.id, input.key, result.versionId ?? 'null'),
        s3VersionId: result.versionId ?? 'null',
        key: input.key,
        bucket: input.bucket,
        size: result.size,
        // Pruned already (a retention of 1 cannot be, the current version is kept): the counter's value.
        versionNumber: created?.versionNumber ?? Math.max(0, ...versions.map((version) => version.versionNumber)),
        createdAt: result.lastModified,
      };
    },

    /**
     * The bucket's versioned files, a page at a time in key order: every key with a version or a
     * delete marker (a deleted file still has its history), with its number of versions and its
     * current version (null when the latest entry is a delete marker).
     */
    async listFiles(principal: Principal, input: { bucket: string; prefix?: string; limit: number; cursor?: string; signal?: AbortSignal }) {
      const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
      if (input.cursor !== undefined && after === undefined) throw invalidCursorError();
      const bucket = await bucketRowOf(principal, input.bucket);
      const groups: { key: string; entries: ObjectVersionEntry[] }[] = [];
      let keyMarker = after;
      let versionIdMarker: string | undefined;
      let exhausted = false;
      // One more key than the page holds: the page's last key is then known to be complete.
      while (groups.length <= input.limit) {
        const page = await objects.listObjectVersions(principal, {
          bucket: input.bucket,
          prefix: input.prefix,
          keyMarker,
          versionIdMarker,
          maxKeys: LIST_PAGE,
          signal: input.signal,
        });
        for (const entry of page.entries) {
          const last = groups[groups.length - 1];
          if (last?.key === entry.key) last.entries.push(entry);
          else groups.push({ key: entry.key, entries: [entry] });
        }
        if (!page.isTruncated) {
          exhausted = true;
          break;
        }
        keyMarker = page.nextKeyMarker;
        versionIdMarker = page.nextVersionIdMarker;
      }
      const files = groups.slice(0, input.limit).map(({ key, entries }) => {
        const versions = entries.filter((entry) => !entry.deleteMarker);
        const current = entries[0]!.isLatest && !entries[0]!.deleteMarker ? entries[0]! : undefined;
        return {
          key,
          versionCount: versions.length,
          currentVersionId: current ? encodeVersionId(bucket.id, key, current.versionId) : null,
          size: current?.size ?? null,
          updatedAt: entries[0]!.lastModified,
          deleted: current === undefined,
        };
      });
      const hasMore = groups.length > input.limit || !exhausted;
      const lastKey = files[files.length - 1]?.key;
      return { bucket: input.bucket, files, hasMore: hasMore && lastKey !== undefined, cursor: hasMore && lastKey !== undefined ? encodeCursor(lastKey) : null };
    },

    /** Every version of one file, newest first (404 when the key has none). */
    async listVersions(principal: Principal, input: { bucket: string; key: string; signal?: AbortSignal }) {
      const bucket = await bucketRowOf(principal, input.bucket);
      const versions = await numbered(principal, bucket, input.key, input.signal);
      if (versions.length === 0) throw versionNotFoundError();
      return { bucket: input.bucket, key: input.key, versions };
    },

    /**
     * Restores a version: its bytes, metadata and tags copied onto the key as a new current version
     * (the next number), journaled as `object.restored`. `versionId` is this API's id, or an S3
     * version id together with `bucket` and `key`.
     */
    async restore(principal: Principal, input: { versionId: string; bucket?: string; key?: string; signal?: AbortSignal }) {
      const decoded = decodeVersionId(input.versionId);
      let bucketName: string | undefined;
      let key: string;
      let s3VersionId: string;
      if (decoded) {
        bucketName = await objects.bucketNameById(principal, decoded.bucketId);
        if (bucketName === undefined || (input.bucket !== undefined && input.bucket !== bucketName) || (input.key !== undefined && input.key !== decoded.key))
          throw versionNotFoundError();
        key = decoded.key;
        s3VersionId = decoded.s3VersionId;
      } else {
        if (input.bucket === undefined || input.key === undefined)
          throw invalidVersionRequestError('An S3 version id needs bucket and key; ids this API returned (ver_…) need neither.');
        bucketName = input.bucket;
        key = input.key;
        s3VersionId = input.versionId;
      }
      const bucket = await bucketRowOf(principal, bucketName);
      if ((await objects.getBucketVersioning(principal, bucketName)) === 'Unversioned') throw versionsNotEnabledError(bucketName);
      const restoredId = encodeVersionId(bucket.id, key, s3VersionId);
      let result;
      try {
        result = await deps.restoring({ restoredVersionId: s3VersionId }).copyObject(principal, {
          bucket: bucketName,
          key,
          source: { bucket: bucketName, key, versionId: s3VersionId },
          metadataDirective: 'COPY',
          taggingDirective: 'COPY',
          signal: input.signal,
        });
      } catch (error) {
        // A version that is not there (pruned, never was, a delete marker) is this API's 404.
        if (isS3Error(error, 'NoSuchVersion') || isS3Error(error, 'NoSuchKey') || isS3Error(error, 'MethodNotAllowed') || isS3Error(error, 'InvalidArgument'))
          throw versionNotFoundError();
        throw error;
      }
      const versions = await numbered(principal, bucket, key, input.signal);
      const created = numberOf(versions, result.versionId);
      return {
        success: true as const,
        restoredVersion: restoredId,
        newVersionNumber: created?.versionNumber ?? Math.max(0, ...versions.map((version) => version.versionNumber)),
        versionId: created?.versionId ?? null,
      };
    },

    /** The bucket's versioning state and retention. */
    async settings(principal: Principal, bucketName: string) {
      const versioning = await objects.getBucketVersioning(principal, bucketName);
      const bucket = await bucketRowOf(principal, bucketName);
      return { bucket: bucketName, versioning, ...(await deps.retention.settingsOf(bucket.id)) };
    },

    /**
     * Switches versioning (`enabled`: Enabled / Suspended; an unversioned bucket asked to disable
     * stays as it is) and sets retention. Both are bucket configuration: a session or an
     * unrestricted key (`bucketAdmin`), as S3's PutBucketVersioning.
     */
    async updateSettings(principal: Principal, input: { bucket: string; enabled?: boolean } & Partial<RetentionSettings>) {
      if (!scopeAllows(scopeOf(principal), { action: 'bucketAdmin' }))
        throw new ScopeDeniedError('Access Denied: only a session or an unrestricted access key can change bucket versioning.');
      const current: VersioningStatus = await objects.getBucketVersioning(principal, input.bucket);
      const bucket = await bucketRowOf(principal, input.bucket);
      if (input.enabled === true && current !== 'Enabled') await objects.putBucketVersioning(principal, input.bucket, 'Enabled');
      if (input.enabled === false && current === 'Enabled') await objects.putBucketVersioning(principal, input.bucket, 'Suspended');
      if (input.maxVersions !== undefined || input.maxAgeDays !== undefined) {
        const settings = await deps.retention.settingsOf(bucket.id);
        await repository.setRetention(bucket.id, { maxVersions: input.maxVersions ?? settings.maxVersions, maxAgeDays: input.maxAgeDays ?? settings.maxAgeDays });
      }
      return usecases.settings(principal, input.bucket);
    },
  };

  /** Uploads count against MAX_CONCURRENT_UPLOADS_PER_ACCOUNT with the S3 gateway's and the file API's. */
  const upload: typeof usecases.upload = async (principal, input) => {
    const release = deps.uploadGate ? deps.uploadGate.tryAcquire(principal.accountId) : () => {};
    if (!release) throw tooManyUploadsError(deps.uploadGate!.maxPerAccount);
    try {
      return await usecases.upload(principal, input);
    } finally {
      release();
    }
  };
  return { ...usecases, upload };
}
