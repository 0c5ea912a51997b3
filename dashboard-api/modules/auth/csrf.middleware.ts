import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { jsonError } from '../../errors.ts';
import { csrfError } from './auth.errors.ts';
import { SESSION_COOKIE } from './session.middleware.ts';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const carriesApiKey = (apiKey: string | undefined, authorization: string | undefined) =>
  apiKey !== undefined || /^Bearer\s/i.test(authorization ?? '');

/**
 * CSRF rule of the dashboard API (on top of SameSite=Lax cookies):
 *
 * - A state-changing request (POST/PUT/PATCH/DELETE) that carries a `session` cookie must carry
 *   an `Origin` header equal to the server's own origin; a missing or foreign Origin is refused
 *   with 403 `auth.csrf`. Browsers send Origin on every cross-origin and same-origin POST, so the
 *   dashboard never trips over this; a cross-site form or fetch does.
 * - A state-changing request without a session cookie (sign-up, sign-in) may omit Origin (curl,
 *   scripts), but when Origin is present it must be ours too: a cross-site form posting to
 *   /api/auth/login must not sign the visitor into an attacker's account (login CSRF).
 * - GET/HEAD/OPTIONS never change state and are not checked.
 * - A request carrying an API key (`X-API-Key`, `Authorization: Bearer`; the Simple REST API) is
 *   not checked: a browser adds such headers to a cross-site request only after a CORS preflight,
 *   which this API never grants, so no cross-site form or script can send one; and the routes
 *   that take an API key ignore the cookie.
 *
 * "Our origin" is PUBLIC_URL's origin when set (the only trustworthy value behind a proxy); else
 * the request's Host header with either scheme (http://host or https://host), since a TLS-
 * terminating proxy in front of us cannot be detected without trusting forwarded headers.
 * `Origin: null` (sandboxed frames, some redirects) is never ours.
 */
export function csrfProtection(options: { publicUrl: string | undefined }): MiddlewareHandler {
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : undefined;
  const allowedOrigins = (host: string | undefined): string[] => {
    if (publicOrigin) return [publicOrigin];
    return host ? [`http://${host}`.toLowerCase(), `https://${host}`.toLowerCase()] : [];
  };
  return async (c, next) => {
    if (!STATE_CHANGING.has(c.req.method)) return next();
    if (carriesApiKey(c.req.header('x-api-key'), c.req.header('authorization'))) return next();
    const origin = c.req.header('origin');
    const hasSessionCookie = getCookie(c, SESSION_COOKIE) !== undefined;
    if (origin === undefined && !hasSessionCookie) return next();
    if (origin !== undefined && allowedOrigins(c.req.header('host')).includes(origin.toLowerCase())) return next();
    const error = csrfError();
    return jsonError(c, 403, error.code, error.detail);
  };
}
