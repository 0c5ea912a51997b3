import type { IncomingMessage } from 'node:http';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { ResolvedKey } from '../../src/keys/key-store.ts';
import { createSigningKeyCache } from '../../src/s3-protocol/sigv4/signing-key-cache.ts';
import { createSigV2Verifier, isSigV2Request, type SigV2VerifiedRequest } from '../../src/s3-protocol/sigv2/verify.ts';
import { createSigV4Verifier, type VerifiedRequest } from '../../src/s3-protocol/sigv4/verify.ts';
import type { GatewayDeps } from '../handlers/context.ts';
import type { RequestTarget } from './request-target.ts';

/**
 * Who sent an S3 request. Every authentication scheme (SigV4 header and presigned, SigV2) ends in
 * a `key` caller; a request with no credentials at all is `anonymous`, which the gateway refuses
 * unless the operation allows it (public ACLs, browser POST uploads, CORS preflight).
 */
export type Caller = { kind: 'key'; key: ResolvedKey; verified: AuthenticatedRequest } | { kind: 'anonymous' };

/**
 * What a key caller's signature proved. SigV2 signs no body (`payload.kind` is 'unsigned') and
 * has no signing key, so code that needs SigV4's (aws-chunked) narrows with `'signingKey' in verified`.
 */
export type AuthenticatedRequest = VerifiedRequest | SigV2VerifiedRequest;

/** What an unsigned request proved: nothing. Handed to the read handlers an anonymous caller may reach. */
export interface AnonymousRequest {
  readonly accessKeyId: '';
  readonly auth: 'anonymous';
  readonly payload: { readonly kind: 'unsigned' };
}

/** The credentials a handler receives: a verified signature, or none (gateway/s3/anonymous.ts). */
export type RequestCredentials = AuthenticatedRequest | AnonymousRequest;

export interface Authenticator {
  authenticate(method: string, target: RequestTarget, incoming: IncomingMessage): Promise<Caller>;
}

const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

/** True when the request carries no credentials in any scheme (no Authorization header, no signature query parameter). */
function carriesNoCredentials(target: RequestTarget, incoming: IncomingMessage): boolean {
  if (incoming.headers.authorization !== undefined) return false;
  const query = target.query;
  return !query.has('X-Amz-Signature') && !query.has('X-Amz-Credential') && !query.has('X-Amz-Algorithm') && !query.has('Signature') && !query.has('AWSAccessKeyId');
}

/**
 * The access key id a request names, read before its signature is verified (the key is looked up
 * first, asynchronously; the verifiers then run synchronously over it): SigV4's Credential (header
 * or X-Amz-Credential), SigV2's `AWS id:signature` or AWSAccessKeyId. Undefined when none can be
 * read; the verifier then refuses the request with its own error.
 */
export function accessKeyIdOf(authorization: string | undefined, query: URLSearchParams): string | undefined {
  if (authorization !== undefined) {
    const v4 = /Credential=([^/,\s]+)\//.exec(authorization);
    if (v4) return v4[1];
    const v2 = /^AWS ([^:\s]+):/.exec(authorization);
    return v2?.[1];
  }
  const credential = query.get('X-Amz-Credential');
  if (credential !== null) return credential.split('/')[0];
  return query.get('AWSAccessKeyId') ?? undefined;
}

/**
 * The secret of the key being verified, for the synchronous verifiers: set just before a verify
 * call and cleared after it, so it can only answer for the request in hand.
 */
export function createPendingSecret() {
  let pending: ResolvedKey | undefined;
  return {
    lookupSecret: (accessKeyId: string): string | undefined => (pending !== undefined && pending.accessKeyId === accessKeyId ? pending.secretAccessKey : undefined),
    with<T>(key: ResolvedKey | undefined, verify: () => T): T {
      pending = key;
      try {
        return verify();
      } finally {
        pending = undefined;
      }
    },
  };
}

export function createAuthenticator(deps: Pick<GatewayDeps, 'clock' | 'keyStore' | 'config'>): Authenticator {
  const secret = createPendingSecret();
  const sigV4 = createSigV4Verifier({
    clock: deps.clock,
    lookupSecret: secret.lookupSecret,
    region: deps.config.S3_REGION,
    regionStrict: deps.config.S3_REGION_STRICT,
    signingKeyCache: createSigningKeyCache({ maxEntries: 10_000 }),
  });
  // S3_SIGV2=false: SigV2 requests go to the SigV4 verifier, which answers InvalidRequest (use AWS4-HMAC-SHA256).
  const sigV2 = deps.config.S3_SIGV2 ? createSigV2Verifier({ clock: deps.clock, lookupSecret: secret.lookupSecret }) : undefined;
  return {
    async authenticate(method, target, incoming) {
      if (carriesNoCredentials(target, incoming)) return ANONYMOUS;
      const accessKeyId = accessKeyIdOf(incoming.headers.authorization, target.query);
      const key = accessKeyId === undefined ? undefined : await deps.keyStore.lookup(accessKeyId);
      // The signature is checked against the same parsed target the operation is taken from.
      const verified: AuthenticatedRequest = secret.with(key, () =>
        sigV2 !== undefined && isSigV2Request(incoming.headers.authorization, target.query)
          ? sigV2.verify({
              method,
              target: target.raw,
              headers: incoming.headers,
              rawHeaders: incoming.rawHeaders,
              bucketInHost: target.addressing === 'virtual-host' ? target.bucket : undefined,
            })
          : sigV4.verify({ method, target: target.raw, headers: incoming.headers, rawHeaders: incoming.rawHeaders }),
      );
      if (!key || key.accessKeyId !== verified.accessKeyId) throw new S3Error('InvalidAccessKeyId');
      return { kind: 'key', key, verified };
    },
  };
}
