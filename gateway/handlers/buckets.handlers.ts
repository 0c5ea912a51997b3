import { document, node, text, textDocument } from '../../src/s3-protocol/xml.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import type { VerifiedRequest } from '../../src/s3-protocol/sigv4/verify.ts';
import { parseXml } from '../../src/s3-protocol/xml.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { scopeCoversBucket, type KeyScope } from '../../src/keys/key-scope.ts';
import type { GatewayDeps, S3RequestContext } from './context.ts';
import type { IncomingMessage } from 'node:http';

function owner(userId: string): string {
  return node('Owner', text('ID', userId), text('DisplayName', userId));
}

/** A bucket-scoped key sees only the buckets its scope names. */
export function listBuckets(deps: GatewayDeps, userId: string, scope: KeyScope): S3Reply {
  const buckets = deps.bucketsUsecases.list(userId).filter((bucket) => scopeCoversBucket(scope, bucket.name));
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

/** CreateBucket bodies carry an optional LocationConstraint; any region is accepted and ignored. */
export async function createBucket(deps: GatewayDeps, incoming: IncomingMessage, verified: VerifiedRequest, userId: string, bucket: string): Promise<S3Reply> {
  const body = await readVerifiedSmallBody(incoming, verified);
  if (body.length > 0) parseXml(body.toString('utf8'));
  await deps.bucketsUsecases.create(userId, bucket);
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

/** Buckets are unversioned: an empty VersioningConfiguration, as S3 returns for a bucket that never had versioning. */
export function getBucketVersioning(): S3Reply {
  return xmlResponse(document('VersioningConfiguration'));
}

export function notImplemented(feature: string): never {
  throw new S3Error('NotImplemented', `${feature} is not implemented by this server.`);
}
