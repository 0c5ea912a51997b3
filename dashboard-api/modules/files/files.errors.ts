import { createAppError } from '../../../src/errors/app-errors.ts';

// Another account's file (or bucket) answers exactly like a missing one.
export const fileNotFoundError = () => createAppError('files.not_found', 404, 'No such file.');
export const fileAccessDeniedError = () =>
  createAppError('files.access_denied', 403, "The API key's scope (buckets, prefix or permission) does not allow this.");
export const fileQuotaExceededError = (detail: string) => createAppError('files.quota_exceeded', 413, detail);
export const invalidUploadError = (detail: string) => createAppError('files.invalid_upload', 400, detail);
export const tooManyUploadsError = (max: number) =>
  createAppError('files.too_many_uploads', 429, `Too many uploads in progress for this account (at most ${max} at once). Retry when one has finished.`);
export const lengthRequiredError = () =>
  createAppError('files.length_required', 411, 'Uploads need a Content-Length header: the quota is reserved before the body is read.');
export const invalidCursorError = () => createAppError('files.invalid_cursor', 400, 'The cursor is not one this API returned.');

export const apiKeyRequiredError = () =>
  createAppError('auth.unauthenticated', 401, 'Send an API key: X-API-Key: ACCESS_KEY:SECRET_KEY or Authorization: Bearer ACCESS_KEY:SECRET_KEY.');
export const invalidApiKeyError = () => createAppError('auth.invalid_api_key', 401, 'The API key is malformed, unknown, revoked or expired, or its secret is wrong.');
