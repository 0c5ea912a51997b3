import { S3Error } from '../../src/errors/s3-errors.ts';
import { parseCorsConfiguration, renderCorsConfiguration, storedCorsRules } from '../s3/cors.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import type { OperationOf, S3RequestContext } from './context.ts';

/** Bucket-level: the gateway authorized the key and resolved the bucket as the caller's before these run. */

/** Replaces the bucket's whole configuration (S3 has no partial update). */
export async function putBucketCors(ctx: S3RequestContext<OperationOf<'PutBucketCors'>>): Promise<S3Reply> {
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  const rules = parseCorsConfiguration(body.toString('utf8'));
  await ctx.deps.bucketsUsecases.setCors(ctx.userId, ctx.operation.bucket, rules);
  return emptyResponse(200);
}

export async function getBucketCors(ctx: S3RequestContext<OperationOf<'GetBucketCors'>>): Promise<S3Reply> {
  const resolution = await ctx.deps.bucketsUsecases.resolve(ctx.userId, ctx.operation.bucket);
  const rules = resolution.kind === 'owned' ? storedCorsRules(resolution.bucket.cors) : undefined;
  if (!rules) throw new S3Error('NoSuchCORSConfiguration', undefined, { details: { BucketName: ctx.operation.bucket } });
  return xmlResponse(renderCorsConfiguration(rules));
}

/** Idempotent, as in S3: 204 whether or not a configuration existed. */
export async function deleteBucketCors(ctx: S3RequestContext<OperationOf<'DeleteBucketCors'>>): Promise<S3Reply> {
  await ctx.deps.bucketsUsecases.setCors(ctx.userId, ctx.operation.bucket, null);
  return emptyResponse(204);
}
