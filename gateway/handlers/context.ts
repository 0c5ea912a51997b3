import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateCharge } from '../../src/limits/rate-limiter.ts';
import type { BucketsUsecases } from '../../src/buckets/buckets.usecases.ts';
import type { Config } from '../../src/config/config.ts';
import type { KeyScope } from '../../src/keys/key-scope.ts';
import type { KeyStore } from '../../src/keys/key-store.ts';
import type { Logger } from '../../src/logger.ts';
import type { HealthDeps } from '../../src/health.ts';
import type { RateLimiter } from '../../src/limits/rate-limiter.ts';
import type { UploadGate } from '../../src/limits/upload-gate.ts';
import type { ObjectsService } from '../../src/objects/objects.service.ts';
import type { Principal } from '../../src/objects/principal.ts';
import type { RequestCredentials } from '../s3/authenticate.ts';
import type { S3Operation } from '../s3/operations.ts';
import type { RequestTarget } from '../s3/request-target.ts';

export interface GatewayDeps extends HealthDeps {
  config: Config;
  logger: Logger;
  keyStore: KeyStore;
  bucketsUsecases: BucketsUsecases;
  rateLimiter: RateLimiter;
  /** Every object operation goes through it: scope, bucket resolution, quota, backend call, domain event. */
  objects: ObjectsService;
  /** Concurrent uploads per account; shared with the file API when composed by src/server.ts, else the gateway's own. */
  uploadGate?: UploadGate;
}

/**
 * What a handler receives: only requests that passed SigV4 verification. Bucket-level operations
 * were authorized and their bucket resolved by the gateway; object operations are authorized by
 * the objects service the handler calls, with `principal`.
 */
export interface S3RequestContext<Op extends S3Operation = S3Operation> {
  requestId: string;
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  target: RequestTarget;
  /** SigV4 or SigV2 (whose body is unsigned). */
  verified: RequestCredentials;
  userId: string;
  /** The access key's scope (checked for bucket-level operations by gateway/s3/authorize.ts, for object operations by the objects service). */
  scope: KeyScope;
  /** The caller as the objects service sees it: account, access key (actor and scope), client address. */
  principal: Principal;
  operation: Op;
  deps: GatewayDeps;
  /** Aborts when the client goes away before the response finished (gateway/s3/client-signal.ts); passed to every objects-service call. */
  signal: AbortSignal;
  /** An upload's rate check, for the objects service to run with its quota reservation (gateway/s3/rate-limits.ts). */
  rateCharge?: RateCharge;
}

export type OperationOf<Name extends S3Operation['op']> = Extract<S3Operation, { op: Name }>;
