import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT as HONO_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type MiddlewareHandler } from 'hono';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toS3Error } from '../src/errors/render-s3.ts';
import { S3Error } from '../src/errors/s3-errors.ts';
import { healthStatus } from '../src/health.ts';
import { endedByBodyIdleTimeout } from '../src/http/body-idle-timeout.ts';
import { isClientAbort } from '../src/http/client-abort.ts';
import { clientSignal } from '../src/http/client-signal.ts';
import { closeAfterErrorAnswer } from '../src/http/unread-body.ts';
import { createUploadGate } from '../src/limits/upload-gate.ts';
import { redactSecrets } from '../src/logger.ts';
import { newRequestId } from '../src/ids.ts';
import { keyPrincipal } from '../src/objects/principal.ts';
import * as acl from './handlers/acl.handlers.ts';
import { serveAnonymousRead } from './s3/anonymous.ts';
import { noteError, noteRequestId, noteS3Request } from '../src/observability/access-log.ts';
import * as buckets from './handlers/buckets.handlers.ts';
import * as cors from './handlers/cors.handlers.ts';
import type { GatewayDeps, S3RequestContext } from './handlers/context.ts';
import * as listing from './handlers/listing.handlers.ts';
import * as multipart from './handlers/multipart.handlers.ts';
import * as objects from './handlers/objects.handlers.ts';
import * as versioning from './handlers/versioning.handlers.ts';
import { createPostObjectHandler } from './handlers/post-object.handlers.ts';
import { createAuthenticator } from './s3/authenticate.ts';
import { authorizeOperation } from './s3/authorize.ts';
import { applyRequestCors, corsPreflight } from './s3/cors.ts';
import { parseOperation, type S3Operation } from './s3/operations.ts';
import { enforceRateLimit, rateLimitRules, type S3RateCharge, uploadRateCharge } from './s3/rate-limits.ts';
import { parseRequestTarget, resourceOf, type RequestTarget } from './s3/request-target.ts';
import { emptyResponse, RESPONSE_ALREADY_SENT, startS3Response, writeReply, xmlResponse, type S3Reply } from './s3/responses.ts';
import { awaitsContinue } from './s3/upload-body.ts';
import { errorDocument } from '../src/s3-protocol/xml.ts';

export type { GatewayDeps } from './handlers/context.ts';

type Dispatch = (ctx: S3RequestContext) => Promise<S3Reply> | S3Reply;

/** Handlers for operations on a bucket (resolved here) or on its objects (through the objects service). */
const HANDLERS: Partial<Record<S3Operation['op'], Dispatch>> = {
  DeleteBucket: buckets.deleteBucket as Dispatch,
  HeadBucket: buckets.headBucket,
  GetBucketLocation: buckets.getBucketLocation,
  GetBucketVersioning: versioning.getBucketVersioning as Dispatch,
  PutBucketVersioning: versioning.putBucketVersioning as Dispatch,
  ListObjectVersions: versioning.listObjectVersions as Dispatch,
  PutBucketCors: cors.putBucketCors as Dispatch,
  GetBucketAcl: acl.getBucketAcl as Dispatch,
  PutBucketAcl: acl.putBucketAcl as Dispatch,
  GetObjectAcl: acl.getObjectAcl as Dispatch,
  PutObjectAcl: acl.putObjectAcl as Dispatch,
  GetBucketCors: cors.getBucketCors as Dispatch,
  DeleteBucketCors: cors.deleteBucketCors as Dispatch,
  ListObjects: listing.listObjectsV1 as Dispatch,
  ListObjectsV2: listing.listObjectsV2 as Dispatch,
  ListMultipartUploads: listing.listMultipartUploads as Dispatch,
  DeleteObjects: objects.deleteObjects as Dispatch,
  PutObject: objects.putObject as Dispatch,
  CopyObject: objects.copyObject as Dispatch,
  GetObject: objects.getObject as Dispatch,
  HeadObject: objects.headObject as Dispatch,
  DeleteObject: objects.deleteObject as Dispatch,
  GetObjectTagging: objects.getObjectTagging as Dispatch,
  GetObjectAttributes: objects.getObjectAttributes as Dispatch,
  PutObjectTagging: objects.putObjectTagging as Dispatch,
  DeleteObjectTagging: objects.deleteObjectTagging as Dispatch,
  CreateMultipartUpload: multipart.createMultipartUpload as Dispatch,
  UploadPart: multipart.uploadPart as Dispatch,
  UploadPartCopy: multipart.uploadPartCopy as Dispatch,
  CompleteMultipartUpload: multipart.completeMultipartUpload as Dispatch,
  AbortMultipartUpload: multipart.abortMultipartUpload as Dispatch,
  ListParts: multipart.listParts as Dispatch,
};

/** Operations on the bucket itself: authorized and resolved here; every other one by the objects service. */
const BUCKET_LEVEL_OPS: ReadonlySet<S3Operation['op']> = new Set([
  'DeleteBucket',
  'HeadBucket',
  'GetBucketLocation',
  'GetBucketVersioning',
  'PutBucketVersioning',
  'PutBucketCors',
  'GetBucketCors',
  'DeleteBucketCors',
  'GetBucketAcl',
  'PutBucketAcl',
]);

/** Operations that stream an object body from the client: each holds a socket, a temp file or backend connection, and quota. */
const UPLOAD_OPS: ReadonlySet<S3Operation['op']> = new Set(['PutObject', 'UploadPart', 'PostObject']);

export function createGatewayApp(deps: GatewayDeps) {
  const rateLimits = rateLimitRules(deps.config);
  const uploadGate = deps.uploadGate ?? createUploadGate(deps.config.MAX_CONCURRENT_UPLOADS_PER_ACCOUNT);
  /** A slot among the account's concurrent uploads (503 SlowDown when all are taken; SDKs back off and retry); a no-op for other operations. */
  const takeUploadSlot = (operation: S3Operation, userId: string): (() => void) => {
    if (!UPLOAD_OPS.has(operation.op)) return () => {};
    const release = uploadGate.tryAcquire(userId);
    if (!release) {
      throw new S3Error('SlowDown', `Too many uploads in progress for this account (at most ${uploadGate.maxPerAccount} at once). Retry later.`, {
        headers: { 'Retry-After': '1' },
      });
    }
    return release;
  };
  const authenticator = createAuthenticator(deps);
  /** Once a request's key is known (its signature, or a POST form's): the access log's caller, then the account's rate limit. */
  const admitKey = async (
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    userId: string,
    accessKeyId: string,
    operation: S3Operation,
    deferred?: S3RateCharge,
  ): Promise<void> => {
    noteS3Request(incoming, userId, accessKeyId, operation);
    // An upload's check goes with its quota reservation (see uploadRateCharge).
    if (!deferred) await enforceRateLimit(deps.rateLimiter, rateLimits, userId, operation, outgoing, deps.clock.now().getTime());
  };
  // Browser form uploads authenticate from their form; the signer then counts as any caller does.
  const postObject = createPostObjectHandler(deps, {
    async admitSigner(request, key) {
      await admitKey(request.incoming, request.outgoing, key.userId, key.accessKeyId, request.operation);
      return takeUploadSlot(request.operation, key.userId);
    },
  });

  function errorResponse(
    error: S3Error,
    method: string,
    target: Pick<RequestTarget, 'bucket' | 'key'>,
    requestId: string,
    incoming: IncomingMessage,
    outgoing: ServerResponse,
  ): S3Reply {
    noteError(incoming, error.code);
    const headers: Record<string, string> = { ...error.headers };
    if (closeAfterErrorAnswer(incoming, awaitsContinue(incoming, outgoing))) headers.Connection = 'close';
    if (method === 'HEAD' || error.status === 304) return emptyResponse(error.status, headers);
    if (error.code === 'NoSuchKey' && target.key !== undefined && !error.details.Key) error.details.Key = target.key;
    // Backends name no bucket (their names are internal): the caller's own name for it is added here.
    if ((error.code === 'NoSuchBucket' || error.code === 'BucketNotEmpty') && target.bucket && !error.details.BucketName) error.details.BucketName = target.bucket;
    return xmlResponse(errorDocument(error, resourceOf(target), requestId), error.status, headers);
  }

  async function handleS3(incoming: IncomingMessage, outgoing: ServerResponse): Promise<S3Reply> {
    const requestId = newRequestId();
    // Every head this response gets carries the id (writeS3Head); the access line too.
    startS3Response(outgoing, requestId);
    noteRequestId(incoming, requestId);
    const method = incoming.method ?? 'GET';
    const signal = clientSignal(incoming, outgoing);
    let target: Pick<RequestTarget, 'bucket' | 'key'> = {};
    const origin = incoming.headers.origin;
    let corsDone = origin === undefined || method === 'OPTIONS';
    let charge: S3RateCharge | undefined;
    try {
      const parsedTarget = parseRequestTarget(incoming.url ?? '/', incoming.headers.host, deps.config.S3_DOMAIN);
      target = parsedTarget;
      // A CORS preflight carries no credentials: answered from the bucket's rules alone.
      if (method === 'OPTIONS') return await corsPreflight(deps.bucketsUsecases, parsedTarget, incoming.headers);
      const caller = await authenticator.authenticate(method, parsedTarget, incoming);
      if (!corsDone) {
        // Only requests with Origin (browsers' cross-origin ones) look up the bucket's rules.
        corsDone = true;
        await applyRequestCors(deps.bucketsUsecases, caller.kind === 'key' ? caller.key.userId : undefined, parsedTarget.bucket, origin as string, method, outgoing);
      }
      const operation = parseOperation(method, parsedTarget, incoming.headers);
      // A POST upload's credentials are fields of its form body, so it is anonymous here: its handler authenticates it.
      if (operation.op === 'PostObject') return await postObject({ requestId, incoming, outgoing, target: parsedTarget, operation, signal });
      // No credentials: only reads a public ACL may open go on (gateway/s3/anonymous.ts); the objects service decides.
      if (caller.kind === 'anonymous') return await serveAnonymousRead(deps, HANDLERS, { requestId, incoming, outgoing, target: parsedTarget, operation, signal });
      const { key, verified } = caller;
      charge = uploadRateCharge(deps.rateLimiter, rateLimits, key.userId, operation, outgoing, deps.clock.now().getTime());
      await admitKey(incoming, outgoing, key.userId, verified.accessKeyId, operation, charge);
      authorizeOperation(key.scope, operation, parsedTarget.query);

      if (operation.op === 'ListBuckets') return await buckets.listBuckets(deps, key.userId, key.scope);
      if (operation.op === 'CreateBucket') return await buckets.createBucket(deps, incoming, verified, key.userId, operation.bucket);
      if (operation.op === 'NotImplemented') throw new S3Error('NotImplemented', `${operation.feature} is not implemented by this server.`);

      if (BUCKET_LEVEL_OPS.has(operation.op)) {
        // Object operations are resolved (and scope-checked) by the objects service, the same for every door.
        const resolution = await deps.bucketsUsecases.resolve(key.userId, operation.bucket);
        // Another account's bucket: names are per account, so it is answered as a missing one; nothing about it can be learned.
        if (resolution.kind === 'foreign' || resolution.kind === 'missing') throw new S3Error('NoSuchBucket');
      }

      const handler = HANDLERS[operation.op];
      if (!handler) throw new S3Error('NotImplemented');
      const releaseUpload = takeUploadSlot(operation, key.userId);
      try {
        return await handler({
          requestId,
          incoming,
          outgoing,
          target: parsedTarget,
          verified,
          userId: key.userId,
          scope: key.scope,
          principal: keyPrincipal(key, incoming.socket.remoteAddress),
          operation,
          deps,
          signal,
          rateCharge: charge,
        });
      } finally {
        releaseUpload();
      }
    } catch (thrown) {
      let error = thrown;
      // An upload refused before its quota reservation still counts against its rate limit, and
      // over the limit is answered 429 like any other request.
      if (charge && !charge.settled && !outgoing.headersSent) {
        await charge.runAlone().catch((rateError: unknown) => {
          error = rateError;
        });
      }
      const s3Error = toS3Error(error);
      // Failed before the caller was known (bad signature, bad URL): a browser may still read the error.
      // (A database that cannot answer leaves the error without CORS headers: the error itself is what matters.)
      if (!corsDone && !outgoing.headersSent) await applyRequestCors(deps.bucketsUsecases, undefined, target.bucket, origin as string, method, outgoing).catch(() => undefined);
      if (outgoing.headersSent) {
        // Too late for an error document: cut the connection so the client sees a failure.
        outgoing.destroy();
        return RESPONSE_ALREADY_SENT;
      }
      if (s3Error) return errorResponse(s3Error, method, target, requestId, incoming, outgoing);
      if (isClientAbort(error, incoming)) {
        // A client closing mid-upload is routine, not a server fault; a stall was already logged where it was cut.
        if (!endedByBodyIdleTimeout(incoming)) {
          deps.logger.info('request aborted by the client', { requestId, method, url: redactSecrets(incoming.url ?? ''), reason: (error as Error).message });
        }
        outgoing.destroy();
        return RESPONSE_ALREADY_SENT;
      }
      // The URL is logged for diagnosis, never with a presigned URL's signature or credential.
      deps.logger.error('unhandled gateway error', { requestId, method, url: redactSecrets(incoming.url ?? ''), error: (error as Error).stack ?? String(error) });
      return errorResponse(new S3Error('InternalError'), method, target, requestId, incoming, outgoing);
    }
  }

  const app = new Hono<{ Bindings: HttpBindings }>();

  // Every response carries a request id, health checks included.
  const withRequestId: MiddlewareHandler = async (c, next) => {
    await next();
    c.header('x-amz-request-id', newRequestId());
  };
  app.use('/_health', withRequestId);
  app.use('/_health/*', withRequestId);
  // `_` can never start a bucket name, so these paths cannot shadow a bucket.
  app.get('/_health', (c) => c.json({ status: 'ok' }));
  app.get('/_health/status', async (c) => {
    const { ok, body } = await healthStatus(deps);
    return c.json(body, ok ? 200 : 503);
  });
  // The S3 server (gateway/server.ts) calls `handleS3` directly for everything but these routes;
  // this route keeps the app complete for anything that serves it through Hono's adapter.
  app.all('*', async (c) => {
    writeReply(await handleS3(c.env.incoming, c.env.outgoing), c.env.outgoing);
    return HONO_ALREADY_SENT;
  });

  return Object.assign(app, { handleS3 });
}
