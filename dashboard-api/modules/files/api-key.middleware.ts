import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { KeyStore, ResolvedKey } from '../../../src/keys/key-store.ts';
import { jsonError } from '../../errors.ts';
import { apiKeyRequiredError, invalidApiKeyError } from './files.errors.ts';

/** Set by `apiKeyAuth`: the authenticated access key, its owner (`userId`) and its scope. */
export type ApiKeyVariables = { apiKey: ResolvedKey };

/** Compared against when the access key id is unknown, so both failures cost the same. */
const PLACEHOLDER_SECRET = 'x'.repeat(40);

/** `X-API-Key: ACCESS:SECRET` wins over `Authorization: Bearer ACCESS:SECRET`; undefined when neither is sent. */
export function apiKeyCredential(c: Context): string | undefined {
  const header = c.req.header('x-api-key');
  if (header !== undefined) return header.trim();
  const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
  return match ? match[1]!.trim() : undefined;
}

// Digests have equal lengths whatever was sent, as timingSafeEqual requires, and reveal nothing
// about the secret's length.
function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/**
 * Authenticates the Simple REST API with an access key pair, through the same KeyStore as the S3
 * gateway: revoked, expired and deactivated accounts' keys are refused alike (401
 * `auth.invalid_api_key`); no credential at all is 401 `auth.unauthenticated`.
 */
export function apiKeyAuth(keyStore: KeyStore): MiddlewareHandler<{ Variables: ApiKeyVariables }> {
  return async (c, next) => {
    const credential = apiKeyCredential(c);
    if (credential === undefined || credential === '') {
      const error = apiKeyRequiredError();
      return jsonError(c, 401, error.code, error.detail, { 'WWW-Authenticate': 'Bearer realm="CloudStorage"' });
    }
    const colon = credential.indexOf(':');
    const accessKeyId = colon > 0 ? credential.slice(0, colon) : '';
    const secret = colon > 0 ? credential.slice(colon + 1) : '';
    const key = accessKeyId ? await keyStore.lookup(accessKeyId) : undefined;
    const matches = secretsEqual(secret, key?.secretAccessKey ?? PLACEHOLDER_SECRET);
    if (!key || !matches) {
      const error = invalidApiKeyError();
      return jsonError(c, 401, error.code, error.detail, { 'WWW-Authenticate': 'Bearer realm="CloudStorage", error="invalid_token"' });
    }
    c.set('apiKey', key);
    await next();
  };
}
