import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { jsonError } from '../../errors.ts';
import type { AuthUsecases, PublicUser } from './auth.usecases.ts';
import { unauthenticatedError } from './auth.errors.ts';

export const SESSION_COOKIE = 'session';

/** Context variables set by `sessionMiddleware`; later modules read `c.get('user')`. */
export type AuthVariables = {
  /** The signed-in user, undefined without a valid session. */
  user: PublicUser | undefined;
  /** SHA-256 of the current session token (to end just this session). */
  sessionTokenHash: string | undefined;
};

/** Resolves the `session` cookie into `c.get('user')`; never refuses a request by itself (see `requireUser`). */
export function sessionMiddleware(auth: AuthUsecases): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const resolved = await auth.resolveSession(getCookie(c, SESSION_COOKIE));
    c.set('user', resolved?.user);
    c.set('sessionTokenHash', resolved?.tokenHash);
    await next();
  };
}

/** Guard for routes that need a signed-in user: 401 `auth.unauthenticated` otherwise. */
export const requireUser: MiddlewareHandler<{ Variables: AuthVariables }> = async (c, next) => {
  if (!c.get('user')) {
    const error = unauthenticatedError();
    return jsonError(c, 401, error.code, error.detail);
  }
  await next();
};
