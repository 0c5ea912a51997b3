import type { IncomingMessage } from 'node:http';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { ResolvedKey } from '../../src/keys/key-store.ts';
import { createSigningKeyCache } from '../../src/s3-protocol/sigv4/signing-key-cache.ts';
import { createSigV4Verifier, type VerifiedRequest } from '../../src/s3-protocol/sigv4/verify.ts';
import type { GatewayDeps } from '../handlers/context.ts';
import type { RequestTarget } from './request-target.ts';

/**
 * Who sent an S3 request. Every authentication scheme (SigV4 header and presigned, SigV2) ends in
 * a `key` caller; a request with no credentials at all is `anonymous`, which the gateway refuses
 * unless the operation allows it (public ACLs, browser POST uploads, CORS preflight).
 */
export type Caller = { kind: 'key'; key: ResolvedKey; verified: VerifiedRequest } | { kind: 'anonymous' };

export interface Authenticator {
  authenticate(method: string, target: RequestTarget, incoming: IncomingMessage): Caller;
}

const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

/** True when the request carries no credentials in any scheme (no Authorization header, no signature query parameter). */
function carriesNoCredentials(target: RequestTarget, incoming: IncomingMessage): boolean {
  if (incoming.headers.authorization !== undefined) return false;
  const query = target.query;
  return !query.has('X-Amz-Signature') && !query.has('X-Amz-Credential') && !query.has('X-Amz-Algorithm') && !query.has('Signature') && !query.has('AWSAccessKeyId');
}

export function createAuthenticator(deps: Pick<GatewayDeps, 'clock' | 'keyStore' | 'config'>): Authenticator {
  const sigV4 = createSigV4Verifier({
    clock: deps.clock,
    lookupSecret: (accessKeyId: string) => deps.keyStore.lookup(accessKeyId)?.secretAccessKey,
    region: deps.config.S3_REGION,
    regionStrict: deps.config.S3_REGION_STRICT,
    signingKeyCache: createSigningKeyCache({ maxEntries: 10_000 }),
  });
  return {
    authenticate(method, target, incoming) {
      if (carriesNoCredentials(target, incoming)) return ANONYMOUS;
      // The signature is checked against the same parsed target the operation is taken from.
      const verified = sigV4.verify({ method, target: target.raw, headers: incoming.headers, rawHeaders: incoming.rawHeaders });
      const key = deps.keyStore.lookup(verified.accessKeyId);
      if (!key) throw new S3Error('InvalidAccessKeyId');
      return { kind: 'key', key, verified };
    },
  };
}
