import { createAppError } from '../errors/app-errors.ts';

export const invalidBucketNameError = (detail: string) => createAppError('buckets.invalid_name', 400, detail);
export const bucketLimitReachedError = (limit: number) => createAppError('buckets.limit_reached', 400, `An account can own at most ${limit} buckets.`);
export const bucketAlreadyOwnedError = (name: string) => createAppError('buckets.already_exists', 409, `You already own a bucket named ${name}.`);
export const bucketNotFoundError = (name: string) => createAppError('buckets.not_found', 404, `No bucket named ${name}.`);
/** Public names are one namespace across accounts (anonymous requests address a bucket by its name alone). */
export const publicNameTakenError = (name: string) =>
  createAppError(
    'buckets.public_name_taken',
    409,
    `The public bucket name ${name} is taken: another account's bucket is already public under this name. Public buckets (a non-private bucket or object ACL) need a name no other public bucket uses; keep this one private or use another name.`,
  );
