import { S3Error } from '../../src/errors/s3-errors.ts';
import { parseStrictInteger } from '../../src/strict-integer.ts';
import type { ObjectSummary } from '../../src/storage/storage-backend.ts';
import { xmlResponse, type S3Reply } from '../s3/responses.ts';
import { document, node, opt, text } from '../../src/s3-protocol/xml.ts';
import type { OperationOf, S3RequestContext } from './context.ts';

const MAX_KEYS = 1000;

export function parseMaxKeys(value: string | null, name = 'max-keys'): number {
  if (value === null || value === '') return MAX_KEYS;
  const parsed = parseStrictInteger(value);
  if (parsed === undefined) {
    throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, {
      details: { ArgumentName: name, ArgumentValue: value },
    });
  }
  return Math.min(parsed, MAX_KEYS);
}

/** `encoding-type=url`: encode so that both `unquote` and `unquote_plus` style decoders read it back (a `+` becomes %2B). */
export function encoderFor(query: URLSearchParams): (value: string) => string {
  const encodingType = query.get('encoding-type');
  if (encodingType === null) return (value) => value;
  if (encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { details: { ArgumentName: 'encoding-type' } });
  return (value) => encodeURIComponent(value).replace(/%2F/g, '/');
}

function contentsXml(objects: ObjectSummary[], encode: (value: string) => string, owner?: string) {
  return objects.map((object) =>
    node(
      'Contents',
      text('Key', encode(object.key)),
      text('LastModified', object.lastModified),
      text('ETag', object.etag),
      text('Size', object.size),
      owner ? node('Owner', text('ID', owner), text('DisplayName', owner)) : undefined,
      text('StorageClass', 'STANDARD'),
    ),
  );
}

export function commonPrefixesXml(prefixes: string[], encode: (value: string) => string) {
  return prefixes.map((prefix) => node('CommonPrefixes', text('Prefix', encode(prefix))));
}

export function emptyToUndefined(value: string | null): string | undefined {
  return value === null || value === '' ? undefined : value;
}

export async function listObjectsV1(ctx: S3RequestContext<OperationOf<'ListObjects'>>): Promise<S3Reply> {
  const { query } = ctx.target;
  const encode = encoderFor(query);
  const prefix = emptyToUndefined(query.get('prefix'));
  const delimiter = emptyToUndefined(query.get('delimiter'));
  const marker = emptyToUndefined(query.get('marker'));
  const maxKeys = parseMaxKeys(query.get('max-keys'));
  const page = await ctx.deps.objects.listObjects(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, prefix, delimiter, startAfter: marker, maxKeys });
  return xmlResponse(
    document(
      'ListBucketResult',
      text('Name', ctx.operation.bucket),
      text('Prefix', encode(prefix ?? '')),
      text('Marker', encode(marker ?? '')),
      page.isTruncated && page.nextMarker !== undefined ? text('NextMarker', encode(page.nextMarker)) : undefined,
      text('MaxKeys', maxKeys),
      delimiter !== undefined ? text('Delimiter', encode(delimiter)) : undefined,
      opt('EncodingType', query.get('encoding-type') ?? undefined),
      text('IsTruncated', page.isTruncated),
      contentsXml(page.contents, encode, ctx.userId),
      commonPrefixesXml(page.commonPrefixes, encode),
    ),
  );
}

/** Continuation tokens are opaque to clients: the last key returned, base64url-encoded. */
function decodeContinuationToken(token: string): string {
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (token === '' || Buffer.from(decoded, 'utf8').toString('base64url') !== token) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { details: { ArgumentName: 'continuation-token' } });
  }
  return decoded;
}

export async function listObjectsV2(ctx: S3RequestContext<OperationOf<'ListObjectsV2'>>): Promise<S3Reply> {
  const { query } = ctx.target;
  const encode = encoderFor(query);
  const prefix = emptyToUndefined(query.get('prefix'));
  const delimiter = emptyToUndefined(query.get('delimiter'));
  const startAfter = emptyToUndefined(query.get('start-after'));
  const continuationToken = query.get('continuation-token');
  const maxKeys = parseMaxKeys(query.get('max-keys'));
  const fetchOwner = query.get('fetch-owner') === 'true';
  const position = continuationToken !== null ? decodeContinuationToken(continuationToken) : startAfter;
  const page = await ctx.deps.objects.listObjects(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, prefix, delimiter, startAfter: position, maxKeys });
  return xmlResponse(
    document(
      'ListBucketResult',
      text('Name', ctx.operation.bucket),
      text('Prefix', encode(prefix ?? '')),
      startAfter !== undefined ? text('StartAfter', encode(startAfter)) : undefined,
      continuationToken !== null ? text('ContinuationToken', continuationToken) : undefined,
      page.isTruncated && page.nextMarker !== undefined ? text('NextContinuationToken', Buffer.from(page.nextMarker, 'utf8').toString('base64url')) : undefined,
      text('KeyCount', page.contents.length + page.commonPrefixes.length),
      text('MaxKeys', maxKeys),
      delimiter !== undefined ? text('Delimiter', encode(delimiter)) : undefined,
      opt('EncodingType', query.get('encoding-type') ?? undefined),
      text('IsTruncated', page.isTruncated),
      contentsXml(page.contents, encode, fetchOwner ? ctx.userId : undefined),
      commonPrefixesXml(page.commonPrefixes, encode),
    ),
  );
}

export async function listMultipartUploads(ctx: S3RequestContext<OperationOf<'ListMultipartUploads'>>): Promise<S3Reply> {
  const { query } = ctx.target;
  const encode = encoderFor(query);
  const prefix = emptyToUndefined(query.get('prefix'));
  const delimiter = emptyToUndefined(query.get('delimiter'));
  const keyMarker = emptyToUndefined(query.get('key-marker'));
  const uploadIdMarker = emptyToUndefined(query.get('upload-id-marker'));
  const maxUploads = parseMaxKeys(query.get('max-uploads'), 'max-uploads');
  const page = await ctx.deps.objects.listMultipartUploads(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    prefix,
    delimiter,
    keyMarker,
    uploadIdMarker,
    maxUploads,
  });
  const owner = node('Owner', text('ID', ctx.userId), text('DisplayName', ctx.userId));
  return xmlResponse(
    document(
      'ListMultipartUploadsResult',
      text('Bucket', ctx.operation.bucket),
      text('KeyMarker', encode(keyMarker ?? '')),
      text('UploadIdMarker', uploadIdMarker ?? ''),
      opt('NextKeyMarker', page.nextKeyMarker !== undefined ? encode(page.nextKeyMarker) : undefined),
      opt('NextUploadIdMarker', page.nextUploadIdMarker),
      text('Prefix', encode(prefix ?? '')),
      delimiter !== undefined ? text('Delimiter', encode(delimiter)) : undefined,
      text('MaxUploads', maxUploads),
      opt('EncodingType', query.get('encoding-type') ?? undefined),
      text('IsTruncated', page.isTruncated),
      page.uploads.map((upload) =>
        node(
          'Upload',
          text('Key', encode(upload.key)),
          text('UploadId', upload.uploadId),
          node('Initiator', text('ID', ctx.userId), text('DisplayName', ctx.userId)),
          owner,
          text('StorageClass', 'STANDARD'),
          text('Initiated', upload.initiated),
        ),
      ),
      commonPrefixesXml(page.commonPrefixes, encode),
    ),
  );
}
