import type { EventOrigin } from '../../../src/events/domain-event.ts';
import type { BucketsUsecases } from '../../../src/buckets/buckets.usecases.ts';
import { isS3Error } from '../../../src/errors/s3-errors.ts';
import { bucketNotEmptyError } from './buckets.errors.ts';

export type DashboardBucketsUsecases = ReturnType<typeof createDashboardBucketsUsecases>;

/** What the dashboard shows of a bucket: never its backend name. */
export interface PublicBucket {
  name: string;
  createdAt: Date;
}

const toPublicBucket = (bucket: { name: string; createdAt: Date }): PublicBucket => ({ name: bucket.name, createdAt: bucket.createdAt });

/**
 * The dashboard's view of the shared bucket use cases (the same rules as the S3 gateway: names,
 * per-account limit, ownership). The backend's S3 `BucketNotEmpty` becomes the JSON AppError
 * `buckets.not_empty`.
 */
export function createDashboardBucketsUsecases(deps: { buckets: BucketsUsecases }) {
  const { buckets } = deps;
  return {
    async list(userId: string): Promise<PublicBucket[]> {
      return (await buckets.list(userId)).map(toPublicBucket);
    },
    async create(userId: string, name: string, origin?: EventOrigin): Promise<PublicBucket> {
      return toPublicBucket(await buckets.create(userId, name, origin));
    },
    async remove(userId: string, name: string, origin?: EventOrigin): Promise<void> {
      try {
        await buckets.remove(userId, name, origin);
      } catch (error) {
        if (isS3Error(error, 'BucketNotEmpty')) throw bucketNotEmptyError(name);
        throw error;
      }
    },
  };
}
