import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import { clientSignal } from '../../../src/http/client-signal.ts';
import type { KeyStore } from '../../../src/keys/key-store.ts';
import { keyPrincipal, sessionPrincipal, type Principal } from '../../../src/objects/principal.ts';
import { jsonError } from '../../errors.ts';
import type { AuthVariables } from '../auth/session.middleware.ts';
import { apiKeyAuth, apiKeyCredential, type ApiKeyVariables } from '../files/api-key.middleware.ts';

/** Routes of the account's own data for the dashboard (session cookie) and for scripts (an access key, as `/api/shares`). */
export type OwnerEnv = { Bindings: Partial<HttpBindings>; Variables: AuthVariables & Partial<ApiKeyVariables> & { requestId: string } };

/** A signed-in session, else an access key (X-API-Key / Bearer), else 401. */
export function ownerAuth(keyStore: KeyStore): MiddlewareHandler<OwnerEnv> {
  const keyAuth = apiKeyAuth(keyStore) as unknown as MiddlewareHandler<OwnerEnv>;
  return async (c, next) => {
    if (c.get('user')) return next();
    if (apiKeyCredential(c) === undefined) return jsonError(c, 401, 'auth.unauthenticated', 'Sign in, or send an API key (X-API-Key: ACCESS_KEY:SECRET_KEY).');
    return keyAuth(c, next);
  };
}

const clientAddressOf = (c: Context<OwnerEnv>) => c.env?.incoming?.socket.remoteAddress;

/** The session's account (unrestricted), or the access key's principal (its scope applies in the objects service). */
export const ownerPrincipal = (c: Context<OwnerEnv>): Principal => {
  const user = c.get('user');
  return user ? sessionPrincipal(user.id, clientAddressOf(c)) : keyPrincipal(c.get('apiKey')!, clientAddressOf(c));
};

/** Aborts when the client goes away: the backend work it started is cancelled. */
export const ownerSignal = (c: Context<OwnerEnv>): AbortSignal | undefined => (c.env?.incoming && c.env.outgoing ? clientSignal(c.env.incoming, c.env.outgoing) : undefined);
