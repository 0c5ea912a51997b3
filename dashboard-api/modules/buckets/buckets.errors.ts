import { createAppError } from '../../../src/errors/app-errors.ts';

export const bucketNotEmptyError = (name: string) =>
  createAppError('buckets.not_empty', 409, `The bucket ${name} is not empty. Delete its objects (and abort any multipart uploads) first.`);
