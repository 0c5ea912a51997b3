import { createAppError } from '../../../src/errors/app-errors.ts';
import type { KindVocabulary } from '../../../src/errors/render-json.ts';

// Another account's file (or bucket) answers exactly like a missing one.
export const fileNotFoundError = () => createAppError('files.not_found', 404, 'No such file.');
export const invalidUploadError = (detail: string) => createAppError('files.invalid_upload', 400, detail);
export const tooManyUploadsError = (max: number) =>
  createAppError('files.too_many_uploads', 429, `Too many uploads in progress for this account (at most ${max} at once). Retry when one has finished.`);
export const lengthRequiredError = () => createAppError('files.length_required', 411, 'Uploads need a Content-Length header: the quota is reserved before the body is read.');
export const invalidCursorError = () => createAppError('files.invalid_cursor', 400, 'The cursor is not one this API returned.');

export const apiKeyRequiredError = () =>
  createAppError('auth.unauthenticated', 401, 'Send an API key: X-API-Key: ACCESS_KEY:SECRET_KEY or Authorization: Bearer ACCESS_KEY:SECRET_KEY.');
export const invalidApiKeyError = () => createAppError('auth.invalid_api_key', 401, 'The API key is malformed, unknown, revoked or expired, or its secret is wrong.');

/**
 * The file API's documented names for the core's refusals (OpenAPI: `files.not_found`,
 * `files.access_denied`, `files.quota_exceeded`, and `files.invalid_upload` for a body the
 * store refused), applied by the dashboard's one JSON mapper (src/errors/render-json.ts) to
 * `/api/v1/files` by kind. A missing bucket stays `buckets.not_found`; every other kind keeps its
 * generic `storage.<kind>` (an outage is `storage.unavailable`, 503 with Retry-After).
 */
export function filesErrorVocabulary(method: string): KindVocabulary {
  return {
    not_found: 'files.not_found',
    forbidden: 'files.access_denied',
    quota_exceeded: 'files.quota_exceeded',
    ...(method === 'POST' ? { invalid_input: 'files.invalid_upload' } : {}),
  };
}
