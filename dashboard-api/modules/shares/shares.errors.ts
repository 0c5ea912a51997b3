import { createAppError } from '../../../src/errors/app-errors.ts';

// Another account's share answers exactly like a missing one: nobody learns which ids exist.
export const shareNotFoundError = () => createAppError('shares.not_found', 404, 'No such share link.');
/** Expired, exhausted, deactivated, or what it shares is gone (object deleted, owner deactivated, bucket lost). */
export const shareGoneError = (detail = 'This share link is no longer available.') => createAppError('shares.gone', 410, detail, { kind: 'not_found' });
export const invalidShareError = (detail: string) => createAppError('shares.invalid_request', 400, detail);
export const slugTakenError = () => createAppError('shares.slug_taken', 409, 'That custom slug is already in use; pick another.');
export const passwordRequiredError = () => createAppError('shares.password_required', 401, 'This share link is password protected: send the password in the request body.');
export const wrongPasswordError = () => createAppError('shares.wrong_password', 401, 'Wrong password.', { kind: 'unauthenticated' });
export const shareRateLimitedError = (retryAfterSeconds: number, what: string) =>
  createAppError('shares.rate_limited', 429, `Too many ${what}. Try again in ${retryAfterSeconds} seconds.`, { kind: 'rate_limited', retryAfter: retryAfterSeconds });
export const emptyPrefixError = () => createAppError('shares.empty_folder', 404, 'There is no file under that folder to share.');
