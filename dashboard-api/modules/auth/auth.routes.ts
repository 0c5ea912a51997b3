import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { jsonError } from '../../errors.ts';
import { defineOperation } from '../../openapi/operations.ts';
import { parseBody } from '../../validation.ts';
import type { AuthUsecases, StartedSession } from './auth.usecases.ts';
import { requireUser, SESSION_COOKIE, type AuthVariables } from './session.middleware.ts';

type AuthEnv = { Variables: AuthVariables & { requestId: string } };

// Shapes only; the rules (valid email, minimum length, uniqueness) live in the use cases. The
// upper bounds keep absurd inputs away from the KDF.
const credentialsSchema = z.object({ email: z.string().max(320), password: z.string().max(1024) });
const publicUserSchema = z.object({ id: z.string(), email: z.string(), isAdmin: z.boolean(), createdAt: z.iso.datetime() });

export const authOperations = {
  signup: defineOperation({
    method: 'post',
    path: '/api/auth/signup',
    tag: 'Auth',
    auth: 'none',
    summary: 'Create an account with its first access key and a `default` bucket, and sign in.',
    description: 'Sets the `session` cookie. The access key secret is returned here only. 403 `auth.signup_disabled` when SIGNUP_ENABLED=false.',
    body: { schema: credentialsSchema },
    responses: {
      201: {
        description: 'The account, its first key (with secret) and bucket.',
        schema: z.object({
          user: publicUserSchema,
          accessKey: z.object({ id: z.string(), name: z.string(), accessKey: z.string(), secretKey: z.string(), createdAt: z.iso.datetime() }),
          bucket: z.string().describe('The name of the bucket created with the account: `default`.'),
        }),
      },
      403: { description: '`auth.signup_disabled`.' },
      409: { description: '`accounts.email_taken`.' },
    },
  }),
  login: defineOperation({
    method: 'post',
    path: '/api/auth/login',
    tag: 'Auth',
    auth: 'none',
    summary: 'Sign in; sets the `session` cookie. Rate limited per account and per client address.',
    body: { schema: credentialsSchema },
    responses: {
      200: { description: 'Signed in.', schema: z.object({ user: publicUserSchema }) },
      401: { description: '`auth.invalid_credentials`.' },
      403: { description: '`auth.account_deactivated`.' },
    },
  }),
  logout: defineOperation({
    method: 'post',
    path: '/api/auth/logout',
    tag: 'Auth',
    auth: 'none',
    summary: 'End the current session.',
    responses: { 204: { description: 'Signed out.' } },
  }),
  me: defineOperation({
    method: 'get',
    path: '/api/auth/me',
    tag: 'Auth',
    auth: 'session',
    summary: 'The signed-in user.',
    responses: { 200: { description: 'The user.', schema: z.object({ user: publicUserSchema }) } },
  }),
  changePassword: defineOperation({
    method: 'post',
    path: '/api/auth/password',
    tag: 'Auth',
    auth: 'session',
    summary: "Change the password; ends the account's other sessions and starts a new one.",
    body: { schema: z.object({ oldPassword: z.string().max(1024), newPassword: z.string().max(1024) }) },
    responses: { 204: { description: 'Changed.' }, 401: { description: '`auth.invalid_credentials`: the old password is wrong.' } },
  }),
};

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

  const setSessionCookie = (c: Context, session: StartedSession) => setCookie(c, SESSION_COOKIE, session.token, { ...cookieOptions, maxAge: session.maxAgeSeconds });

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

  app.post('/logout', async (c) => {
    await auth.logout(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, cookieOptions);
    return c.body(null, 204);
  });

  app.get('/me', requireUser, (c) => c.json({ user: c.get('user')! }));

  app.post('/password', requireUser, async (c) => {
    const body = await parseBody(c, authOperations.changePassword.body.schema);
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
