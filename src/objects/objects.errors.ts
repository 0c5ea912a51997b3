import { S3Error } from '../errors/s3-errors.ts';

/**
 * Refusals of the objects service. They are `S3Error`s with exactly the codes, messages and
 * details the gateway answered before the service existed, so the gateway renders them as it
 * always did; the subclasses let another door (the file API, the explorer) tell a scope refusal
 * from a bucket it may not see and answer in its own vocabulary (there: 403 vs 404).
 */

/** The key's scope does not allow the request (403 AccessDenied). */
export class ScopeDeniedError extends S3Error {
  constructor(message = 'Access Denied: the access key is not allowed to do this.') {
    super('AccessDenied', message);
  }
}

/**
 * The bucket name is not one of the caller's buckets: another account's or nobody's. Names are
 * per account, so both are 404 NoSuchBucket with the caller's own name for it: the answer never
 * tells that another account uses the name. `reason` stays for rules layered on top (public ACLs).
 */
export class BucketRefusedError extends S3Error {
  constructor(
    readonly bucket: string,
    readonly reason: 'foreign' | 'missing',
  ) {
    super('NoSuchBucket', undefined, { details: { BucketName: bucket } });
  }
}

export const isScopeDenied = (error: unknown): error is ScopeDeniedError => error instanceof ScopeDeniedError;
export const isBucketRefused = (error: unknown): error is BucketRefusedError => error instanceof BucketRefusedError;
