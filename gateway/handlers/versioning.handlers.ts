import { S3Error } from '../../src/errors/s3-errors.ts';
import { document, node, opt, parseXml, text } from '../../src/s3-protocol/xml.ts';
import type { ObjectVersionEntry } from '../../src/storage/storage-backend.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import type { OperationOf, S3RequestContext } from './context.ts';
import { commonPrefixesXml, emptyToUndefined, encoderFor, parseMaxKeys } from './listing.handlers.ts';

/**
 * S3 bucket versioning: PutBucketVersioning, GetBucketVersioning, ListObjectVersions. The state
 * lives in the storage backend; the objects service authorizes (its owner only) and calls it.
 */

/**
 * `?versionId=` on an object request: undefined without one. S3 refuses an empty id
 * (InvalidArgument); any other malformed id is the backend's to refuse (its id format).
 */
export function requestedVersionId(query: URLSearchParams): string | undefined {
  const versionId = query.get('versionId');
  if (versionId === null) return undefined;
  if (versionId === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { details: { ArgumentName: 'versionId', ArgumentValue: '' } });
  return versionId;
}

/** The `x-amz-version-id` response header when the bucket versions the object (never on an Unversioned bucket, as S3). */
export function versionHeader(headers: Record<string, string>, versionId: string | undefined): Record<string, string> {
  if (versionId !== undefined) headers['x-amz-version-id'] = versionId;
  return headers;
}

interface VersioningConfigurationXml {
  Status?: unknown;
  MfaDelete?: unknown;
}

/**
 * `<VersioningConfiguration><Status>Enabled|Suspended</Status></VersioningConfiguration>`.
 * MFA delete needs an MFA device we do not have: `MfaDelete` Enabled is NotImplemented, Disabled
 * (what some tools send along) changes nothing. A missing or other Status is MalformedXML.
 */
export function parseVersioningConfiguration(body: string): 'Enabled' | 'Suspended' {
  const configuration = parseXml(body).VersioningConfiguration as VersioningConfigurationXml | string | undefined;
  if (configuration === undefined || typeof configuration !== 'object') throw new S3Error('MalformedXML');
  const mfaDelete = typeof configuration.MfaDelete === 'string' ? configuration.MfaDelete.trim() : configuration.MfaDelete;
  if (mfaDelete === 'Enabled') throw new S3Error('NotImplemented', 'MFA delete is not supported by this server.');
  if (mfaDelete !== undefined && mfaDelete !== 'Disabled') throw new S3Error('MalformedXML');
  const status = typeof configuration.Status === 'string' ? configuration.Status.trim() : undefined;
  if (status !== 'Enabled' && status !== 'Suspended') throw new S3Error('MalformedXML');
  return status;
}

export async function putBucketVersioning(ctx: S3RequestContext<OperationOf<'PutBucketVersioning'>>): Promise<S3Reply> {
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  const status = parseVersioningConfiguration(body.toString('utf8'));
  // S3 has no MFA here, and a request that asks for it must not be taken as an ordinary one.
  if (ctx.incoming.headers['x-amz-mfa'] !== undefined) throw new S3Error('NotImplemented', 'MFA delete is not supported by this server.');
  await ctx.deps.objects.putBucketVersioning(ctx.principal, ctx.operation.bucket, status, { signal: ctx.signal });
  return emptyResponse(200);
}

/** An empty configuration for a bucket whose versioning was never configured, as S3 answers. */
export async function getBucketVersioning(ctx: S3RequestContext<OperationOf<'GetBucketVersioning'>>): Promise<S3Reply> {
  const status = await ctx.deps.objects.getBucketVersioning(ctx.principal, ctx.operation.bucket, { signal: ctx.signal });
  return xmlResponse(document('VersioningConfiguration', status === 'Unversioned' ? undefined : text('Status', status)));
}

function versionXml(entry: ObjectVersionEntry, encode: (value: string) => string, owner: string): string {
  // A delete marker and a version open alike (AWS's order); a version then adds its ETag, Size and StorageClass.
  const common = [text('Key', encode(entry.key)), text('VersionId', entry.versionId), text('IsLatest', entry.isLatest), text('LastModified', entry.lastModified)];
  if (entry.deleteMarker) return node('DeleteMarker', common, owner);
  return node('Version', common, text('ETag', entry.etag), text('Size', entry.size), text('StorageClass', 'STANDARD'), owner);
}

/**
 * ListObjectVersions (`GET /bucket?versions`), with AWS's element order. `version-id-marker`
 * without `key-marker` is InvalidArgument, as on AWS. Keys (and markers naming keys) are
 * URL-encoded with `encoding-type=url`; version ids never are.
 */
export async function listObjectVersions(ctx: S3RequestContext<OperationOf<'ListObjectVersions'>>): Promise<S3Reply> {
  const { query } = ctx.target;
  const encode = encoderFor(query);
  const prefix = emptyToUndefined(query.get('prefix'));
  const delimiter = emptyToUndefined(query.get('delimiter'));
  const keyMarker = emptyToUndefined(query.get('key-marker'));
  const versionIdMarker = emptyToUndefined(query.get('version-id-marker'));
  const maxKeys = parseMaxKeys(query.get('max-keys'));
  if (versionIdMarker !== undefined && keyMarker === undefined) {
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', {
      details: { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker },
    });
  }
  const page = await ctx.deps.objects.listObjectVersions(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    prefix,
    delimiter,
    keyMarker,
    versionIdMarker,
    maxKeys,
  });
  const owner = node('Owner', text('ID', ctx.userId), text('DisplayName', ctx.userId));
  return xmlResponse(
    document(
      'ListVersionsResult',
      text('Name', ctx.operation.bucket),
      text('Prefix', encode(prefix ?? '')),
      text('KeyMarker', encode(keyMarker ?? '')),
      text('VersionIdMarker', versionIdMarker ?? ''),
      page.isTruncated ? opt('NextKeyMarker', page.nextKeyMarker === undefined ? undefined : encode(page.nextKeyMarker)) : undefined,
      page.isTruncated ? opt('NextVersionIdMarker', page.nextVersionIdMarker) : undefined,
      text('MaxKeys', maxKeys),
      delimiter !== undefined ? text('Delimiter', encode(delimiter)) : undefined,
      opt('EncodingType', query.get('encoding-type') ?? undefined),
      text('IsTruncated', page.isTruncated),
      page.entries.map((entry) => versionXml(entry, encode, owner)),
      commonPrefixesXml(page.commonPrefixes, encode),
    ),
  );
}
