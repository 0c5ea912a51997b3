import { createAppError } from '../errors/app-errors.ts';

// Another account's entry answers exactly like a missing one.
export const trashEntryNotFoundError = () => createAppError('trash.not_found', 404, 'No such file in the trash.');
export const trashBucketGoneError = (bucket: string) =>
  createAppError('trash.bucket_gone', 409, `The bucket "${bucket}" this file was deleted from no longer exists; create it again to restore the file.`);
export const trashKeyTakenError = (key: string) =>
  createAppError(
    'trash.key_exists',
    409,
    `A file "${key}" exists again in an unversioned bucket; restoring would overwrite it. Move or delete it first (or enable versioning: the restore then becomes a new version).`,
  );
export const trashGoneError = (key: string) =>
  createAppError(
    'trash.gone',
    410,
    `"${key}" could not be brought back: what the trash held was deleted meanwhile (e.g. by version id through S3), or a newer delete hides the file again.`,
  );
