import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { jsonError } from '../../errors.ts';
import { parseBody } from '../../validation.ts';
import type { AuthUsecases, StartedSession } from './auth.usecases.ts';
import { requireUser, SESSION_COOKIE, type AuthVariables } from './session.middleware.ts';

type AuthEnv = { Variables: AuthVariables & { requestId: string } };

// Shapes only; the rules (valid email, minimum length, uniqueness) live in the use cases. The
// upper bounds keep absurd inputs away from the KDF.
const credentialsSchema = z.object({ email: z.string().max(320), password: z.string().max(1024) });
const passwordChangeSchema = z.object({ oldPassword: z.string().max(1024), newPassword: z.string().max(1024) });

const clientAddress = (c: Context) => getConnInfo(c).remote.address ?? 'unknown';

/**
 * `/api/auth`: sign-up, sign-in, sign-out, the current user and password change. Sessions travel
 * in an HttpOnly, SameSite=Lax `session` cookie (Secure when PUBLIC_URL is https); the CSRF rule
 * is in csrf.middleware.ts. Domain errors are AppErrors rendered by the app's error handler.
 */
export function createAuthRoutes(deps: { auth: AuthUsecases; publicUrl: string | undefined }) {
  const { auth } = deps;
  const secure = deps.publicUrl?.startsWith('https:') ?? false;
  const cookieOptions = { httpOnly: true, sameSite: 'Lax', path: '/', secure } as const;

  const setSessionCookie = (c: Context, session: StartedSession) =>
    setCookie(c, SESSION_COOKIE, session.token, { ...cookieOptions, maxAge: session.maxAgeSeconds });

  // Run the dummy KDF once now, so the first sign-in with an unknown email is not the odd one out.
  void auth.prepare();

  const app = new Hono<AuthEnv>();

  app.post('/signup', async (c) => {
    const body = await parseBody(c, credentialsSchema);
    if (!body.ok) return body.response;
    const { user, key, bucket, session } = await auth.signup(body.value);
    setSessionCookie(c, session);
    // The only response that ever carries the secret key.
    c.header('Cache-Control', 'no-store');
    return c.json(
      {
        user,
        accessKey: { id: key.id, name: key.name, accessKey: key.accessKeyId, secretKey: key.secretAccessKey, createdAt: key.createdAt },
        bucket,
      },
      201,
    );
  });

  app.post('/login', async (c) => {
    const body = await parseBody(c, credentialsSchema);
    if (!body.ok) return body.response;
    const rate = await auth.checkLoginRate({ email: body.value.email, clientAddress: clientAddress(c) });
    if (!rate.allowed) {
      return jsonError(c, 429, 'rate_limited', `Too many sign-in attempts. Try again in ${rate.retryAfterSeconds} seconds.`, {
        'Retry-After': String(rate.retryAfterSeconds),
      });
    }
    const { user, session } = await auth.login(body.value);
    setSessionCookie(c, session);
    return c.json({ user });
  });

  app.post('/logout', (c) => {
    auth.logout(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, cookieOptions);
    return c.body(null, 204);
  });

  app.get('/me', requireUser, (c) => c.json({ user: c.get('user')! }));

  app.post('/password', requireUser, async (c) => {
    const body = await parseBody(c, passwordChangeSchema);
    if (!body.ok) return body.response;
    const user = c.get('user')!;
    // Guessing the current password here counts against the same budget as signing in.
    const rate = await auth.checkLoginRate({ email: user.email, clientAddress: clientAddress(c) });
    if (!rate.allowed) {
      return jsonError(c, 429, 'rate_limited', `Too many password attempts. Try again in ${rate.retryAfterSeconds} seconds.`, {
        'Retry-After': String(rate.retryAfterSeconds),
      });
    }
    const session = await auth.changePassword(user.id, body.value);
    setSessionCookie(c, session);
    return c.body(null, 204);
  });

  return app;
}
