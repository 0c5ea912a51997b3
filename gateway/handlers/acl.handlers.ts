import type { IncomingMessage } from 'node:http';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { AppError } from '../../src/errors/app-errors.ts';
import { accessControlPolicyXml, cannedAclOfRequest, parseAccessControlPolicy, type CannedAcl } from '../../src/objects/acl.ts';
import type { Principal } from '../../src/objects/principal.ts';
import type { AuthenticatedRequest } from '../s3/authenticate.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import type { GatewayDeps, OperationOf, S3RequestContext } from './context.ts';

/**
 * Canned ACLs over S3: GetBucketAcl/PutBucketAcl, GetObjectAcl/PutObjectAcl, and CreateBucket's
 * x-amz-acl. The objects service owns the rules (who may set what, ALLOW_PUBLIC_ACCESS, the public
 * name claim); these only translate headers and grant documents.
 */

/** Owner ID and DisplayName: the account id, as ListBuckets and listings name the owner. */
const ownerOf = (accountId: string) => ({ id: accountId, displayName: accountId });

/**
 * The ACL a PutBucketAcl/PutObjectAcl asks for: the x-amz-acl header or an AccessControlPolicy
 * body (only what a canned ACL means), not both. Read once the service authorized the request.
 */
async function requestedAcl(ctx: S3RequestContext): Promise<CannedAcl> {
  const canned = cannedAclOfRequest(ctx.incoming.headers);
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  if (canned !== undefined) {
    if (body.length > 0) throw new S3Error('InvalidRequest', 'Specify either the x-amz-acl header or an AccessControlPolicy body, not both.');
    return canned;
  }
  if (body.length === 0) throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header: x-amz-acl (or send an AccessControlPolicy body).');
  return parseAccessControlPolicy(body.toString('utf8'), ctx.userId);
}

export async function getBucketAcl(ctx: S3RequestContext<OperationOf<'GetBucketAcl'>>): Promise<S3Reply> {
  const view = await ctx.deps.objects.getBucketAcl(ctx.principal, ctx.operation.bucket);
  return xmlResponse(accessControlPolicyXml(ownerOf(view.ownerId), view.acl));
}

export async function putBucketAcl(ctx: S3RequestContext<OperationOf<'PutBucketAcl'>>): Promise<S3Reply> {
  await ctx.deps.objects.putBucketAcl(ctx.principal, ctx.operation.bucket, () => requestedAcl(ctx));
  return emptyResponse(200);
}

/**
 * Object ACLs are kept per key (the current version's), not per version as on AWS: a request
 * naming a version is refused rather than answered for, or applied to, whatever is current now.
 */
function refuseVersionedAcl(query: URLSearchParams): void {
  if (query.has('versionId')) throw new S3Error('NotImplemented', 'ACLs of a specific object version are not supported by this server.');
}

export async function getObjectAcl(ctx: S3RequestContext<OperationOf<'GetObjectAcl'>>): Promise<S3Reply> {
  refuseVersionedAcl(ctx.target.query);
  const view = await ctx.deps.objects.getObjectAcl(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key });
  return xmlResponse(accessControlPolicyXml(ownerOf(view.ownerId), view.acl));
}

export async function putObjectAcl(ctx: S3RequestContext<OperationOf<'PutObjectAcl'>>): Promise<S3Reply> {
  refuseVersionedAcl(ctx.target.query);
  await ctx.deps.objects.putObjectAcl(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, acl: () => requestedAcl(ctx) });
  return emptyResponse(200);
}

/**
 * CreateBucket's caller. The gateway already checked the key's scope for CreateBucket
 * (`bucketAdmin`, the same action PutBucketAcl needs), so the principal carries no scope.
 */
const creatorOf = (userId: string, verified: AuthenticatedRequest): Principal => ({ accountId: userId, actor: { kind: 'key', id: verified.accessKeyId } });

/** CreateBucket's x-amz-acl, checked before the bucket exists: grants refused, public access on, the public name free. */
export async function admitCreateBucketAcl(
  deps: GatewayDeps,
  incoming: IncomingMessage,
  verified: AuthenticatedRequest,
  userId: string,
  bucket: string,
): Promise<CannedAcl | undefined> {
  const acl = cannedAclOfRequest(incoming.headers);
  await deps.objects.admitBucketAcl(creatorOf(userId, verified), bucket, acl);
  return acl;
}

/** Sets the ACL on the bucket just created; if another account claimed the public name meanwhile, the creation is undone. */
export async function setCreatedBucketAcl(deps: GatewayDeps, verified: AuthenticatedRequest, userId: string, bucket: string, acl: CannedAcl | undefined): Promise<void> {
  if (acl === undefined) return;
  try {
    await deps.objects.putBucketAcl(creatorOf(userId, verified), bucket, acl);
  } catch (error) {
    if (error instanceof AppError && error.code === 'buckets.public_name_taken') await deps.bucketsUsecases.remove(userId, bucket).catch(() => undefined);
    throw error;
  }
}
