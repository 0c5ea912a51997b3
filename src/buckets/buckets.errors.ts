import { createAppError } from '../errors/app-errors.ts';

export const invalidBucketNameError = (detail: string) => createAppError('buckets.invalid_name', 400, detail);
export const bucketLimitReachedError = (limit: number) => createAppError('buckets.limit_reached', 400, `An account can own at most ${limit} buckets.`);
export const bucketAlreadyOwnedError = (name: string) => createAppError('buckets.already_exists', 409, `You already own a bucket named ${name}.`);
export const bucketNotFoundError = (name: string) => createAppError('buckets.not_found', 404, `No bucket named ${name}.`);
