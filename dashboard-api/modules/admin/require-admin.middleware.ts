import type { MiddlewareHandler } from 'hono';
import { jsonError } from '../../errors.ts';
import { unauthenticatedError } from '../auth/auth.errors.ts';
import type { AuthVariables } from '../auth/session.middleware.ts';
import { adminForbiddenError } from './admin.errors.ts';

/**
 * Guard for administrator routes: 401 `auth.unauthenticated` without a session, 403
 * `admin.forbidden` for a signed-in non-admin. `isAdmin` comes from the users row read with the
 * session on every request, so a deactivated admin's session is already gone (401).
 */
export const requireAdmin: MiddlewareHandler<{ Variables: AuthVariables }> = async (c, next) => {
  const user = c.get('user');
  if (!user) {
    const error = unauthenticatedError();
    return jsonError(c, 401, error.code, error.detail);
  }
  if (!user.isAdmin) {
    const error = adminForbiddenError();
    return jsonError(c, 403, error.code, error.detail);
  }
  await next();
};
