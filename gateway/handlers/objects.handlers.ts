import { pipeline } from 'node:stream/promises';
import { checksumHeaderName } from '../../src/checksums/checksums.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { parseWriteConditions, resolveRange } from '../../src/storage/conditions.ts';
import type { DeletedObject, ObjectIdentifier, ObjectInfo } from '../../src/storage/storage-backend.ts';
import { header, objectHeaders, parseConditions, parseObjectMetadata, parseRange, parseResponseOverrides, parseTaggingHeader, parseTaggingXml } from '../s3/headers.ts';
import { emptyResponse, RESPONSE_ALREADY_SENT, writeS3Head, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import { prepareUpload, sendContinue, type UploadBody } from '../s3/upload-body.ts';
import { document, node, parseXml, text } from '../../src/s3-protocol/xml.ts';
import { parseCopySource } from './copy-source.ts';
import { cannedAclOfRequest } from '../../src/objects/acl.ts';
import type { OperationOf, S3RequestContext } from './context.ts';
import { parseStrictInteger } from '../../src/strict-integer.ts';
import { MAX_PART_NUMBER } from '../../src/storage/multipart-rules.ts';
import { parseMaxKeys } from './listing.handlers.ts';
import { requestedVersionId, versionHeader } from './versioning.handlers.ts';

export async function putObject(ctx: S3RequestContext<OperationOf<'PutObject'>>): Promise<S3Reply> {
  const { incoming } = ctx;
  const metadata = parseObjectMetadata(incoming.headers);
  const tags = parseTaggingHeader(header(incoming.headers, 'x-amz-tagging'));
  const prepared = prepareUpload(ctx);
  let upload: UploadBody | undefined;
  // The service reserves the quota before the body is accepted, and only then is 100 Continue sent and the body opened.
  const result = await ctx.deps.objects.putObject(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    metadata,
    tags,
    contentMd5: header(incoming.headers, 'content-md5'),
    acl: cannedAclOfRequest(incoming.headers),
    // S3 conditional writes; NotImplemented for the forms S3 refuses, never silently ignored.
    conditions: parseWriteConditions(header(incoming.headers, 'if-match'), header(incoming.headers, 'if-none-match')),
    reserveBytes: prepared.size,
    rateCharge: ctx.rateCharge,
    beforeBody: () => sendContinue(ctx),
    open: () => {
      upload = prepared.open();
      return { body: upload.body, size: upload.size, checksum: upload.checksum };
    },
  });
  const headers: Record<string, string> = versionHeader({ ETag: result.etag }, result.versionId);
  // The checksum as the backend stored it, once the body was verified (never read from the body early).
  const checksum = result.checksum;
  if (checksum) {
    headers[checksumHeaderName(checksum.algorithm)] = checksum.value;
    headers['x-amz-checksum-type'] = checksum.type;
  }
  return emptyResponse(200, headers);
}

function isChecksumMode(ctx: S3RequestContext): boolean {
  return header(ctx.incoming.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
}

function notModifiedResponse(error: unknown, info?: ObjectInfo): S3Reply | undefined {
  if (error instanceof S3Error && error.code === 'NotModified') {
    return emptyResponse(304, info ? { ETag: info.etag, 'Last-Modified': info.lastModified.toUTCString() } : {});
  }
  return undefined;
}

/**
 * `?partNumber=N` on GET/HEAD: the n-th part of the object (1..10000; AWS refuses it together with
 * a Range header). Undefined without one.
 */
function requestedPartNumber(ctx: S3RequestContext): number | undefined {
  const value = ctx.target.query.get('partNumber');
  if (value === null) return undefined;
  const partNumber = parseStrictInteger(value);
  if (partNumber === undefined || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, {
      details: { ArgumentName: 'partNumber', ArgumentValue: value },
    });
  }
  if (ctx.incoming.headers.range !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
  return partNumber;
}

/** Content-Range and Content-Length of a 206; an empty part (end < start) has no byte range to name. */
function partialHeaders(headers: Record<string, string>, range: { start: number; end: number }, size: number): void {
  if (range.end >= range.start) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['Content-Length'] = String(Math.max(0, range.end - range.start + 1));
}

export async function getObject(ctx: S3RequestContext<OperationOf<'GetObject'>>): Promise<S3Reply> {
  const { incoming, outgoing, target } = ctx;
  const overrides = parseResponseOverrides(target.query);
  const partNumber = requestedPartNumber(ctx);
  const versionId = requestedVersionId(target.query);
  let result;
  try {
    result = await ctx.deps.objects.getObject(ctx.principal, {
      signal: ctx.signal,
      bucket: ctx.operation.bucket,
      key: ctx.operation.key,
      versionId,
      range: partNumber === undefined ? parseRange(header(incoming.headers, 'range')) : undefined,
      conditions: parseConditions(incoming.headers),
      partNumber,
    });
  } catch (error) {
    const notModified = notModifiedResponse(error, await headQuietly(ctx, versionId));
    if (notModified) return notModified;
    throw error;
  }
  const { info, bytes, range } = result;
  const headers = objectHeaders(info, { checksumMode: isChecksumMode(ctx), ranged: range !== undefined, partNumber: partNumber !== undefined });
  Object.assign(headers, overrides);
  let status = 200;
  if (range) {
    status = 206;
    partialHeaders(headers, range, info.size);
  } else {
    headers['Content-Length'] = String(info.size);
  }
  // Written straight to the socket: backpressure comes from the TCP send buffer, and no web
  // stream conversion sits between the file and the client.
  writeS3Head(outgoing, status, headers);
  if (bytes) {
    // Small objects: one write, none of a stream pipeline's per-request bookkeeping.
    outgoing.end(bytes);
    return RESPONSE_ALREADY_SENT;
  }
  try {
    await pipeline(result.body, outgoing);
  } catch (error) {
    ctx.deps.logger.debug('GetObject stream ended early', { requestId: ctx.requestId, error: (error as Error).message });
    outgoing.destroy();
  }
  return RESPONSE_ALREADY_SENT;
}

async function headQuietly(ctx: S3RequestContext<OperationOf<'GetObject'> | OperationOf<'HeadObject'>>, versionId: string | undefined): Promise<ObjectInfo | undefined> {
  return ctx.deps.objects.headObject(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, versionId }).catch(() => undefined);
}

export async function headObject(ctx: S3RequestContext<OperationOf<'HeadObject'>>): Promise<S3Reply> {
  const { incoming } = ctx;
  const partNumber = requestedPartNumber(ctx);
  const range = partNumber === undefined ? parseRange(header(incoming.headers, 'range')) : undefined;
  const overrides = parseResponseOverrides(ctx.target.query);
  const versionId = requestedVersionId(ctx.target.query);
  let info: ObjectInfo;
  try {
    info = await ctx.deps.objects.headObject(ctx.principal, {
      signal: ctx.signal,
      bucket: ctx.operation.bucket,
      key: ctx.operation.key,
      versionId,
      conditions: parseConditions(incoming.headers),
      partNumber,
    });
  } catch (error) {
    const notModified = notModifiedResponse(error, await headQuietly(ctx, versionId));
    if (notModified) return notModified;
    throw error;
  }
  const headers = objectHeaders(info, { checksumMode: isChecksumMode(ctx), ranged: range !== undefined || partNumber !== undefined, partNumber: partNumber !== undefined });
  Object.assign(headers, overrides);
  if (info.partRange) {
    partialHeaders(headers, info.partRange, info.size);
    return emptyResponse(206, headers);
  }
  if (range) {
    const resolved = resolveRange(range, info.size);
    headers['Content-Range'] = `bytes ${resolved.start}-${resolved.end}/${info.size}`;
    headers['Content-Length'] = String(resolved.end - resolved.start + 1);
    return emptyResponse(206, headers);
  }
  headers['Content-Length'] = String(info.size);
  return emptyResponse(200, headers);
}

/** `x-amz-version-id`: the version removed or the marker made; `x-amz-delete-marker: true` when a marker was made or removed. */
export async function deleteObject(ctx: S3RequestContext<OperationOf<'DeleteObject'>>): Promise<S3Reply> {
  const result = await ctx.deps.objects.deleteObject(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    versionId: requestedVersionId(ctx.target.query),
  });
  const headers = versionHeader({}, result.versionId);
  if (result.deleteMarker) headers['x-amz-delete-marker'] = 'true';
  return emptyResponse(204, headers);
}

const MAX_DELETE_KEYS = 1000;

/** The batch is read from the body only once the service authorized it (scope, bucket). */
async function readDeleteBatch(ctx: S3RequestContext<OperationOf<'DeleteObjects'>>): Promise<{ objects: ObjectIdentifier[]; quiet: boolean }> {
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  const parsed = parseXml(body.toString('utf8')).Delete as { Object?: { Key?: unknown; VersionId?: unknown }[]; Quiet?: unknown } | undefined;
  if (!parsed || typeof parsed !== 'object') throw new S3Error('MalformedXML');
  const entries = parsed.Object ?? [];
  if (entries.length === 0 || entries.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML');
  const objects = entries.map((object): ObjectIdentifier => {
    if (typeof object?.Key !== 'string' || object.Key === '') throw new S3Error('MalformedXML');
    if (object.VersionId === undefined) return { key: object.Key };
    if (typeof object.VersionId !== 'string') throw new S3Error('MalformedXML');
    return { key: object.Key, versionId: object.VersionId };
  });
  return {
    objects,
    quiet:
      String(parsed.Quiet ?? 'false')
        .trim()
        .toLowerCase() === 'true',
  };
}

/** One `<Deleted>` entry as AWS renders it: VersionId as asked, DeleteMarker / DeleteMarkerVersionId when a marker was made or removed. */
const deletedEntry = (entry: DeletedObject): string =>
  node(
    'Deleted',
    text('Key', entry.key),
    entry.versionId === undefined ? undefined : text('VersionId', entry.versionId),
    entry.deleteMarker ? text('DeleteMarker', true) : undefined,
    entry.deleteMarkerVersionId === undefined ? undefined : text('DeleteMarkerVersionId', entry.deleteMarkerVersionId),
  );

export async function deleteObjects(ctx: S3RequestContext<OperationOf<'DeleteObjects'>>): Promise<S3Reply> {
  let quiet = false;
  const result = await ctx.deps.objects.deleteObjects(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    objects: async () => {
      const batch = await readDeleteBatch(ctx);
      quiet = batch.quiet;
      return batch.objects;
    },
  });
  return xmlResponse(
    document(
      'DeleteResult',
      quiet ? [] : result.deleted.map(deletedEntry),
      result.errors.map((error) =>
        node(
          'Error',
          text('Key', error.key),
          error.versionId === undefined ? undefined : text('VersionId', error.versionId),
          text('Code', error.code),
          text('Message', error.message),
        ),
      ),
    ),
  );
}

export async function copyObject(ctx: S3RequestContext<OperationOf<'CopyObject'>>): Promise<S3Reply> {
  const { incoming, operation } = ctx;
  const source = parseCopySource(operation.copySource);
  const directive = (header(incoming.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.');
  const taggingDirective = (header(incoming.headers, 'x-amz-tagging-directive') ?? 'COPY').toUpperCase();
  if (taggingDirective !== 'COPY' && taggingDirective !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown tagging directive.');
  const result = await ctx.deps.objects.copyObject(ctx.principal, {
    signal: ctx.signal,
    bucket: operation.bucket,
    key: operation.key,
    source,
    metadataDirective: directive,
    metadata: directive === 'REPLACE' ? parseObjectMetadata(incoming.headers) : undefined,
    taggingDirective,
    tags: taggingDirective === 'REPLACE' ? (parseTaggingHeader(header(incoming.headers, 'x-amz-tagging')) ?? {}) : undefined,
    sourceConditions: parseConditions(incoming.headers, 'x-amz-copy-source-'),
    acl: cannedAclOfRequest(incoming.headers),
  });
  const headers = versionHeader({}, result.versionId);
  // The source version copied, when the request named one (the backend does not report the current one's id).
  if (source.versionId !== undefined) headers['x-amz-copy-source-version-id'] = source.versionId;
  if (result.checksum) headers[checksumHeaderName(result.checksum.algorithm)] = result.checksum.value;
  return xmlResponse(
    document(
      'CopyObjectResult',
      text('LastModified', result.lastModified),
      text('ETag', result.etag),
      result.checksum ? text(`Checksum${result.checksum.algorithm}`, result.checksum.value) : undefined,
    ),
    200,
    headers,
  );
}

/**
 * The version a tagging request acted on, for its x-amz-version-id (S3 names it whether or not the
 * request did): the one named, else the current one (none in an Unversioned bucket). Best effort:
 * the tagging itself already succeeded or fails on its own.
 */
function taggedVersion(
  ctx: S3RequestContext<OperationOf<'GetObjectTagging' | 'PutObjectTagging' | 'DeleteObjectTagging'>>,
  versionId: string | undefined,
  action: 'read' | 'write',
): Promise<string | undefined> {
  if (versionId !== undefined) return Promise.resolve(versionId);
  const { bucket, key } = ctx.operation;
  return ctx.deps.objects.currentVersionId(ctx.principal, { signal: ctx.signal, bucket, key, action }).catch(() => undefined);
}

export async function getObjectTagging(ctx: S3RequestContext<OperationOf<'GetObjectTagging'>>): Promise<S3Reply> {
  const versionId = requestedVersionId(ctx.target.query);
  const [tags, tagged] = await Promise.all([
    ctx.deps.objects.getObjectTagging(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, versionId }),
    taggedVersion(ctx, versionId, 'read'),
  ]);
  // Sorted by key (UTF-16 order, as AWS lists them), whatever order the backend kept them in.
  const entries = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return xmlResponse(
    document(
      'Tagging',
      node(
        'TagSet',
        entries.map(([key, value]) => node('Tag', text('Key', key), text('Value', value))),
      ),
    ),
    200,
    versionHeader({}, tagged),
  );
}

const OBJECT_ATTRIBUTES = new Set(['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize']);

/** `x-amz-object-attributes`: a comma-separated list of AWS's attribute names; none or an unknown one is InvalidArgument. */
function requestedAttributes(value: string | undefined): Set<string> {
  const names = new Set(
    (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  );
  if (names.size === 0) throw new S3Error('InvalidArgument', 'Empty attribute name', { details: { ArgumentName: 'x-amz-object-attributes' } });
  for (const name of names) {
    if (!OBJECT_ATTRIBUTES.has(name))
      throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', { details: { ArgumentName: 'x-amz-object-attributes', ArgumentValue: name } });
  }
  return names;
}

/**
 * GetObjectAttributes: what HEAD knows, as XML, plus the part list (paged by `x-amz-max-parts` and
 * `x-amz-part-number-marker`). The ETag is unquoted, as AWS renders it here. Parts are listed
 * whenever the backend knows them (AWS lists them only for uploads with additional checksums;
 * PartsCount is always there for a multipart object).
 */
export async function getObjectAttributes(ctx: S3RequestContext<OperationOf<'GetObjectAttributes'>>): Promise<S3Reply> {
  const { headers } = ctx.incoming;
  const attributes = requestedAttributes(header(headers, 'x-amz-object-attributes'));
  const maxParts = parseMaxKeys(header(headers, 'x-amz-max-parts') ?? null, 'x-amz-max-parts');
  const markerValue = header(headers, 'x-amz-part-number-marker');
  const marker = markerValue === undefined || markerValue === '' ? 0 : parseStrictInteger(markerValue);
  if (marker === undefined)
    throw new S3Error('InvalidArgument', 'Invalid part-number-marker', { details: { ArgumentName: 'x-amz-part-number-marker', ArgumentValue: String(markerValue) } });
  const info = await ctx.deps.objects.headObject(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    versionId: requestedVersionId(ctx.target.query),
    conditions: parseConditions(headers),
    withParts: attributes.has('ObjectParts'),
  });
  let objectParts: string | undefined;
  if (attributes.has('ObjectParts') && info.partsCount !== undefined) {
    const after = (info.parts ?? []).filter((part) => part.partNumber > marker);
    const page = after.slice(0, maxParts);
    const isTruncated = after.length > page.length;
    objectParts = node(
      'ObjectParts',
      text('IsTruncated', isTruncated),
      text('MaxParts', maxParts),
      text('NextPartNumberMarker', page.length > 0 ? page[page.length - 1]!.partNumber : marker),
      text('PartNumberMarker', marker),
      page.map((part) =>
        node('Part', part.checksum ? text(`Checksum${part.checksum.algorithm}`, part.checksum.value) : undefined, text('PartNumber', part.partNumber), text('Size', part.size)),
      ),
      text('PartsCount', info.partsCount),
    );
  }
  const checksum = attributes.has('Checksum') && info.checksum ? info.checksum : undefined;
  return xmlResponse(
    document(
      'GetObjectAttributesResponse',
      attributes.has('ETag') ? text('ETag', info.etag.replace(/^"|"$/g, '')) : undefined,
      checksum ? node('Checksum', text(`Checksum${checksum.algorithm}`, checksum.value), text('ChecksumType', checksum.type)) : undefined,
      objectParts,
      attributes.has('StorageClass') ? text('StorageClass', 'STANDARD') : undefined,
      attributes.has('ObjectSize') ? text('ObjectSize', info.size) : undefined,
    ),
    200,
    versionHeader({ 'Last-Modified': info.lastModified.toUTCString() }, info.versionId),
  );
}

/** The tag set is read from the body only once the service authorized the request. */
async function readTagSet(ctx: S3RequestContext<OperationOf<'PutObjectTagging'>>): Promise<Record<string, string>> {
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  return parseTaggingXml(body.toString('utf8'));
}

export async function putObjectTagging(ctx: S3RequestContext<OperationOf<'PutObjectTagging'>>): Promise<S3Reply> {
  const versionId = requestedVersionId(ctx.target.query);
  await ctx.deps.objects.putObjectTagging(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, versionId, tags: () => readTagSet(ctx) });
  return emptyResponse(200, versionHeader({}, await taggedVersion(ctx, versionId, 'write')));
}

export async function deleteObjectTagging(ctx: S3RequestContext<OperationOf<'DeleteObjectTagging'>>): Promise<S3Reply> {
  const versionId = requestedVersionId(ctx.target.query);
  await ctx.deps.objects.deleteObjectTagging(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, versionId });
  return emptyResponse(204, versionHeader({}, await taggedVersion(ctx, versionId, 'write')));
}
