import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BucketsUsecases } from '../../src/buckets/buckets.usecases.ts';
import type { Config } from '../../src/config/config.ts';
import type { KeyScope } from '../../src/keys/key-scope.ts';
import type { KeyStore } from '../../src/keys/key-store.ts';
import type { Logger } from '../../src/logger.ts';
import type { HealthDeps } from '../../src/health.ts';
import type { RateLimiter } from '../../src/limits/rate-limiter.ts';
import type { UploadGate } from '../../src/limits/upload-gate.ts';
import type { QuotasUsecases } from '../../src/quotas/quotas.usecases.ts';
import type { VerifiedRequest } from '../../src/s3-protocol/sigv4/verify.ts';
import type { S3Operation } from '../s3/operations.ts';
import type { RequestTarget } from '../s3/request-target.ts';

export interface GatewayDeps extends HealthDeps {
  config: Config;
  logger: Logger;
  keyStore: KeyStore;
  bucketsUsecases: BucketsUsecases;
  rateLimiter: RateLimiter;
  quotas: QuotasUsecases;
  /** Concurrent uploads per account; shared with the file API when composed by src/server.ts, else the gateway's own. */
  uploadGate?: UploadGate;
}

/** What a handler receives: only requests that passed SigV4 verification and authorization. */
export interface S3RequestContext<Op extends S3Operation = S3Operation> {
  requestId: string;
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  target: RequestTarget;
  verified: VerifiedRequest;
  userId: string;
  /** The access key's scope, already checked for `operation` itself (gateway/s3/authorize.ts). */
  scope: KeyScope;
  operation: Op;
  /** Backend name of the addressed bucket, for bucket- and object-level operations on an owned bucket. */
  backendBucket: string;
  deps: GatewayDeps;
}

export type OperationOf<Name extends S3Operation['op']> = Extract<S3Operation, { op: Name }>;
