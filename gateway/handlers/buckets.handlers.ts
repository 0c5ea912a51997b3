import { document, node, text, textDocument } from '../../src/s3-protocol/xml.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import type { AuthenticatedRequest } from '../s3/authenticate.ts';
import { parseXml } from '../../src/s3-protocol/xml.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { isAppError } from '../../src/errors/app-errors.ts';
import { scopeCoversBucket, type KeyScope } from '../../src/keys/key-scope.ts';
import type { GatewayDeps, S3RequestContext } from './context.ts';
import { admitCreateBucketAcl, setCreatedBucketAcl } from './acl.handlers.ts';
import type { IncomingMessage } from 'node:http';

function owner(userId: string): string {
  return node('Owner', text('ID', userId), text('DisplayName', userId));
}

/** A bucket-scoped key sees only the buckets its scope names. */
export async function listBuckets(deps: GatewayDeps, userId: string, scope: KeyScope): Promise<S3Reply> {
  const buckets = (await deps.bucketsUsecases.list(userId)).filter((bucket) => scopeCoversBucket(scope, bucket.name));
  return xmlResponse(
    document(
      'ListAllMyBucketsResult',
      owner(userId),
      node(
        'Buckets',
        buckets.map((bucket) => node('Bucket', text('Name', bucket.name), text('CreationDate', bucket.createdAt), text('BucketRegion', deps.config.S3_REGION))),
      ),
    ),
  );
}

/**
 * The region a CreateBucket asks for: the body's LocationConstraint, else the region the request
 * was signed for (SigV4's credential scope); SigV2 names none, which is us-east-1 (AWS's default).
 */
function requestedRegion(body: Buffer, verified: AuthenticatedRequest): string {
  if (body.length > 0) {
    const configuration = parseXml(body.toString('utf8')).CreateBucketConfiguration as { LocationConstraint?: unknown } | undefined;
    const constraint = typeof configuration === 'object' ? configuration?.LocationConstraint : undefined;
    if (typeof constraint === 'string' && constraint.trim() !== '') return constraint.trim();
  }
  return 'region' in verified ? verified.region : 'us-east-1';
}

/**
 * CreateBucket bodies carry an optional LocationConstraint; any region is accepted. Re-creating a
 * bucket the caller already owns is 200 in us-east-1 (AWS's legacy rule) and
 * BucketAlreadyOwnedByYou in any other region. Another account's bucket of the same name does not
 * matter: names are per account.
 */
export async function createBucket(deps: GatewayDeps, incoming: IncomingMessage, verified: AuthenticatedRequest, userId: string, bucket: string): Promise<S3Reply> {
  const body = await readVerifiedSmallBody(incoming, verified);
  const region = requestedRegion(body, verified);
  const acl = await admitCreateBucketAcl(deps, incoming, verified, userId, bucket);
  try {
    await deps.bucketsUsecases.create(userId, bucket);
  } catch (error) {
    if (region === 'us-east-1' && isAppError(error, 'buckets.already_exists')) return emptyResponse(200, { Location: `/${bucket}` });
    throw error;
  }
  await setCreatedBucketAcl(deps, verified, userId, bucket, acl);
  return emptyResponse(200, { Location: `/${bucket}` });
}

export async function deleteBucket(ctx: S3RequestContext<{ op: 'DeleteBucket'; bucket: string }>): Promise<S3Reply> {
  await ctx.deps.bucketsUsecases.remove(ctx.userId, ctx.operation.bucket);
  return emptyResponse(204);
}

export function headBucket(ctx: S3RequestContext): S3Reply {
  return emptyResponse(200, { 'x-amz-bucket-region': ctx.deps.config.S3_REGION });
}

export function getBucketLocation(ctx: S3RequestContext): S3Reply {
  return xmlResponse(textDocument('LocationConstraint', ctx.deps.config.S3_REGION));
}

export function notImplemented(feature: string): never {
  throw new S3Error('NotImplemented', `${feature} is not implemented by this server.`);
}
