import { DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';

/**
 * Deletes every version and delete marker of the bucket, one DeleteObject each (a versioned bucket
 * keeps them after plain deletes); the bucket stays. For suites' final cleanup.
 */
export async function purgeVersions(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 }));
    const entries = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])];
    if (entries.length === 0) return;
    for (const entry of entries) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: entry.Key!, VersionId: entry.VersionId }));
    if (!page.IsTruncated) return;
  }
}

/** Every version and marker of the bucket (by DeleteObjects, expected to report no error), then the bucket. */
export async function purgeAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((entry) => ({ Key: entry.Key!, VersionId: entry.VersionId! }));
    if (objects.length === 0) break;
    const deleted = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
    expect(deleted.Errors ?? []).toEqual([]);
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
