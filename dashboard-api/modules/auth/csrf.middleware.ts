import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { jsonError } from '../../errors.ts';
import { csrfError } from './auth.errors.ts';
import { SESSION_COOKIE } from './session.middleware.ts';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `application/json`, parameters (charset) aside: a type no HTML form and no CORS-simple request can send. */
function isJsonBody(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase() === 'application/json';
}

/**
 * CSRF rule of the dashboard API (on top of SameSite=Lax cookies):
 *
 * - A state-changing request (POST/PUT/PATCH/DELETE) that carries a `session` cookie must carry
 *   an `Origin` header equal to the server's own origin; a foreign Origin is refused with 403
 *   `auth.csrf`. Browsers send Origin on every cross-origin and same-origin POST, so the
 *   dashboard never trips over this; a cross-site form or fetch does.
 * - Scripts (curl) send neither `Origin` nor `Sec-Fetch-Site`: such a cookie request is accepted
 *   when its body is JSON (`Content-Type: application/json`), and refused otherwise (no body, a
 *   form or a text body). A page on another site cannot produce that request: an HTML form can
 *   only send `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`, and a
 *   cross-origin fetch with a JSON body needs a CORS preflight this API never grants (and would
 *   carry Origin and Sec-Fetch-Site anyway). A request with `Sec-Fetch-Site` comes from a browser,
 *   so without Origin it is refused whatever its body.
 * - A state-changing request without a session cookie (sign-up, sign-in) may omit Origin (curl,
 *   scripts), but when Origin is present it must be ours too: a cross-site form posting to
 *   /api/auth/login must not sign the visitor into an attacker's account (login CSRF).
 * - GET/HEAD/OPTIONS never change state and are not checked.
 * - The principal is decided by the route, not by the headers a request happens to carry: the
 *   routes under `apiKeyRoutes` (the Simple REST API) authenticate only by access key and never
 *   read the cookie, so they are not checked; every other route authenticates only by the cookie,
 *   so it is checked even when an `X-API-Key` or `Authorization: Bearer` header is present too.
 *   Such a header proves nothing there (those routes ignore it), and skipping the check because of
 *   it let any request that could add one ride the victim's session. A request carrying both on a
 *   cookie route is therefore judged as the cookie request it is; on an API-key route the cookie
 *   grants nothing and the key alone decides.
 *
 * "Our origin" is PUBLIC_URL's origin when set (the only trustworthy value behind a proxy); else
 * the request's Host header with either scheme (http://host or https://host), since a TLS-
 * terminating proxy in front of us cannot be detected without trusting forwarded headers. That
 * Host has passed `hostCheck` (loopback names, PUBLIC_URL's host, ALLOWED_HOSTS) before this
 * runs, so a DNS-rebound name can never make its own origin "ours".
 * `Origin: null` (sandboxed frames, some redirects) is never ours.
 */
export function csrfProtection(options: {
  publicUrl: string | undefined;
  /** Path prefixes of the routes authenticated by access key alone (their handlers never read the session cookie). */
  apiKeyRoutes: readonly string[];
}): MiddlewareHandler {
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : undefined;
  const allowedOrigins = (host: string | undefined): string[] => {
    if (publicOrigin) return [publicOrigin];
    return host ? [`http://${host}`.toLowerCase(), `https://${host}`.toLowerCase()] : [];
  };
  // The same decoded path the router dispatches on, with a segment boundary: `/api/v1/filesX` is not an API-key route.
  const authenticatesByApiKey = (path: string) => options.apiKeyRoutes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
  return async (c, next) => {
    if (!STATE_CHANGING.has(c.req.method)) return next();
    if (authenticatesByApiKey(c.req.path)) return next();
    const origin = c.req.header('origin');
    const hasSessionCookie = getCookie(c, SESSION_COOKIE) !== undefined;
    if (origin === undefined && !hasSessionCookie) return next();
    if (origin !== undefined && allowedOrigins(c.req.header('host')).includes(origin.toLowerCase())) return next();
    // A script's cookie request: no browser metadata at all, and a body only scripts can send cross-site.
    if (origin === undefined && c.req.header('sec-fetch-site') === undefined && isJsonBody(c.req.header('content-type'))) return next();
    const error = csrfError();
    return jsonError(c, 403, error.code, error.detail);
  };
}
