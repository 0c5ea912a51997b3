import { createAppError } from '../../../src/errors/app-errors.ts';

export const invalidActivityCursorError = () =>
  createAppError('activity.invalid_cursor', 400, 'The cursor is not one this list returned. Pass the nextCursor of the previous page, or omit it to start over.');
export const activityAccountNotFoundError = () => createAppError('activity.account_not_found', 404, 'No account with this email.');
