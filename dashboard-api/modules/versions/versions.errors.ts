import { createAppError } from '../../../src/errors/app-errors.ts';

// Another account's version (or bucket) answers exactly like a missing one.
export const versionNotFoundError = () => createAppError('versions.not_found', 404, 'No such version.');
export const versionsNotEnabledError = (bucket: string) =>
  createAppError('versions.not_enabled', 409, `Versioning (Time Machine) is not enabled on bucket "${bucket}": enable it with PUT /api/versions/settings first.`);
export const invalidVersionRequestError = (detail: string) => createAppError('versions.invalid_request', 400, detail);
