import type { IncomingMessage, ServerResponse } from 'node:http';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { ANONYMOUS_ACCOUNT_ID, anonymousPrincipal } from '../../src/objects/principal.ts';
import { noteS3Request } from '../../src/observability/access-log.ts';
import { RESPONSE_OVERRIDE_PARAMS } from '../../src/s3-protocol/sigv2/verify.ts';
import type { GatewayDeps, S3RequestContext } from '../handlers/context.ts';
import type { AnonymousRequest } from './authenticate.ts';
import type { S3Operation } from './operations.ts';
import { enforceAnonymousRateLimit } from './rate-limits.ts';
import type { RequestTarget } from './request-target.ts';
import type { S3Reply } from './responses.ts';

/**
 * What an unsigned request may ask for: reads a public ACL can open (GET/HEAD of a public-read
 * object, listing of a public-read bucket). Anything else is AccessDenied, as on AWS. Whether the
 * ACLs actually open the object or bucket is the objects service's decision, not the gateway's.
 */
const ANONYMOUS_OPERATIONS: ReadonlySet<S3Operation['op']> = new Set(['GetObject', 'HeadObject', 'ListObjects', 'ListObjectsV2']);

/**
 * Handlers take the request's credentials; an anonymous request has none. The read handlers above
 * never read a request body, and `unsigned` is the truth about any body it sends.
 */
const NO_CREDENTIALS: AnonymousRequest = Object.freeze({ accessKeyId: '', auth: 'anonymous', payload: Object.freeze({ kind: 'unsigned' }) });

/**
 * AWS refuses `response-*` overrides on unsigned requests: otherwise anyone could link to a public
 * object with `response-content-type=text/html` and have its bytes rendered as a page on this origin.
 */
function carriesResponseOverride(query: URLSearchParams): boolean {
  if (query.size === 0) return false;
  for (const name of RESPONSE_OVERRIDE_PARAMS) if (query.has(name)) return true;
  return false;
}

type Handler = (ctx: S3RequestContext) => Promise<S3Reply> | S3Reply;

/**
 * An unsigned request: counted per client address (RATE_LIMIT_ANONYMOUS; over it 503 SlowDown),
 * then, for a read a public ACL may open, the handler runs with the anonymous principal so the
 * objects service authorizes it and the access log records it.
 */
export async function serveAnonymousRead(
  deps: GatewayDeps,
  handlers: Partial<Record<S3Operation['op'], Handler>>,
  request: { requestId: string; incoming: IncomingMessage; outgoing: ServerResponse; target: RequestTarget; operation: S3Operation; signal: AbortSignal },
): Promise<S3Reply> {
  const { incoming, operation } = request;
  const clientAddress = incoming.socket.remoteAddress;
  noteS3Request(incoming, ANONYMOUS_ACCOUNT_ID, '-', operation);
  await enforceAnonymousRateLimit(deps.rateLimiter, deps.config.RATE_LIMIT_ANONYMOUS, clientAddress);
  const handler = ANONYMOUS_OPERATIONS.has(operation.op) ? handlers[operation.op] : undefined;
  if (!handler) throw new S3Error('AccessDenied');
  if (carriesResponseOverride(request.target.query)) throw new S3Error('InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.');
  const principal = anonymousPrincipal(clientAddress);
  return handler({ ...request, verified: NO_CREDENTIALS, userId: '', scope: principal.scope!, principal, deps });
}
