import { createAppError } from '../../../src/errors/app-errors.ts';

export const adminForbiddenError = () => createAppError('admin.forbidden', 403, 'This route is for administrators only.');
export const userNotFoundError = () => createAppError('admin.user_not_found', 404, 'No user with this id.');
export const cannotDeactivateSelfError = () =>
  createAppError('admin.cannot_deactivate_self', 409, 'You cannot deactivate your own account (it would lock you out). Ask another administrator.');
export const invalidCursorError = () =>
  createAppError('admin.invalid_cursor', 400, 'The cursor does not name a row of this list. Pass the nextCursor of the previous page, or omit it to start over.');
