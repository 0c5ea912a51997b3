import { createAppError } from '../errors/app-errors.ts';

export const keyNotFoundError = () => createAppError('keys.not_found', 404, 'No such access key.');
export const keyLimitReachedError = (limit: number) =>
  createAppError('keys.limit_reached', 409, `An account can have at most ${limit} access keys. Delete a key you no longer use before creating a new one.`);
export const invalidKeyScopeError = (detail: string) => createAppError('keys.invalid_scope', 400, detail);
