import { checksumHeaderName, isChecksumAlgorithm, type ChecksumAlgorithm } from '../../src/checksums/checksums.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { parseStrictInteger } from '../../src/strict-integer.ts';
import { header, parseConditions, parseObjectMetadata, parseTaggingHeader } from '../s3/headers.ts';
import { parseWriteConditions } from '../../src/storage/conditions.ts';
import { emptyResponse, xmlResponse, type S3Reply } from '../s3/responses.ts';
import { readVerifiedSmallBody } from '../s3/small-body.ts';
import { prepareUpload, sendContinue } from '../s3/upload-body.ts';
import { document, node, opt, parseXml, text } from '../../src/s3-protocol/xml.ts';
import { parseCopySource } from './copy-source.ts';
import type { CompletedPart } from '../../src/objects/objects.service.ts';
import type { OperationOf, S3RequestContext } from './context.ts';
import { cannedAclOfRequest } from '../../src/objects/acl.ts';
import { parseMaxKeys } from './listing.handlers.ts';

function requestedChecksumAlgorithm(ctx: S3RequestContext): ChecksumAlgorithm | undefined {
  const value = header(ctx.incoming.headers, 'x-amz-checksum-algorithm')?.toUpperCase();
  if (value === undefined) return undefined;
  if (!isChecksumAlgorithm(value)) throw new S3Error('InvalidRequest', 'Checksum algorithm provided is unsupported.');
  return value;
}

export async function createMultipartUpload(ctx: S3RequestContext<OperationOf<'CreateMultipartUpload'>>): Promise<S3Reply> {
  const checksumAlgorithm = requestedChecksumAlgorithm(ctx);
  const metadata = parseObjectMetadata(ctx.incoming.headers);
  const tags = parseTaggingHeader(header(ctx.incoming.headers, 'x-amz-tagging'));
  const { uploadId } = await ctx.deps.objects.createMultipartUpload(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    metadata,
    tags,
    checksumAlgorithm,
    acl: cannedAclOfRequest(ctx.incoming.headers),
  });
  const headers: Record<string, string> = checksumAlgorithm ? { 'x-amz-checksum-algorithm': checksumAlgorithm, 'x-amz-checksum-type': 'COMPOSITE' } : {};
  return xmlResponse(document('InitiateMultipartUploadResult', text('Bucket', ctx.operation.bucket), text('Key', ctx.operation.key), text('UploadId', uploadId)), 200, headers);
}

export async function uploadPart(ctx: S3RequestContext<OperationOf<'UploadPart'>>): Promise<S3Reply> {
  const prepared = prepareUpload(ctx);
  const result = await ctx.deps.objects.uploadPart(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    uploadId: ctx.operation.uploadId,
    partNumber: ctx.operation.partNumber,
    contentMd5: header(ctx.incoming.headers, 'content-md5'),
    reserveBytes: prepared.size,
    rateCharge: ctx.rateCharge,
    beforeBody: () => sendContinue(ctx),
    open: () => {
      const upload = prepared.open();
      return { body: upload.body, size: upload.size, checksum: upload.checksum };
    },
  });
  const headers: Record<string, string> = { ETag: result.etag };
  if (result.checksum) headers[checksumHeaderName(result.checksum.algorithm)] = result.checksum.value;
  return emptyResponse(200, headers);
}

function parseCopySourceRange(value: string | undefined): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d+)$/.exec(value.trim());
  if (!match || Number(match[2]) < Number(match[1])) {
    throw new S3Error(
      'InvalidArgument',
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      {
        details: { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: value },
      },
    );
  }
  return { start: Number(match[1]), end: Number(match[2]) };
}

export async function uploadPartCopy(ctx: S3RequestContext<OperationOf<'UploadPartCopy'>>): Promise<S3Reply> {
  const { versionId, ...source } = parseCopySource(ctx.operation.copySource);
  // The storage interface copies parts from the current object only; a version would be silently another object.
  if (versionId !== undefined) throw new S3Error('NotImplemented', 'UploadPartCopy from an object version is not supported by this server.');
  const sourceRange = parseCopySourceRange(header(ctx.incoming.headers, 'x-amz-copy-source-range'));
  const result = await ctx.deps.objects.uploadPartCopy(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    uploadId: ctx.operation.uploadId,
    partNumber: ctx.operation.partNumber,
    source,
    sourceRange,
    sourceConditions: parseConditions(ctx.incoming.headers, 'x-amz-copy-source-'),
  });
  return xmlResponse(document('CopyPartResult', text('LastModified', result.lastModified), text('ETag', result.etag)));
}

interface CompletePartXml {
  PartNumber?: unknown;
  ETag?: unknown;
  [checksum: string]: unknown;
}

/** The part list is read from the body only once the service authorized the request. */
async function readCompletedParts(ctx: S3RequestContext<OperationOf<'CompleteMultipartUpload'>>): Promise<CompletedPart[]> {
  const body = await readVerifiedSmallBody(ctx.incoming, ctx.verified);
  const document_ = parseXml(body.toString('utf8')).CompleteMultipartUpload as { Part?: CompletePartXml[] } | string | undefined;
  const partsXml = typeof document_ === 'object' ? (document_.Part ?? []) : [];
  if (partsXml.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part');
  return partsXml.map((part) => {
    const partNumber = typeof part.PartNumber === 'string' ? parseStrictInteger(part.PartNumber) : undefined;
    if (partNumber === undefined || typeof part.ETag !== 'string') throw new S3Error('MalformedXML');
    const checksumEntry = Object.entries(part).find(([name]) => name.startsWith('Checksum'));
    return { partNumber, etag: part.ETag.trim(), checksum: typeof checksumEntry?.[1] === 'string' ? checksumEntry[1] : undefined };
  });
}

export async function completeMultipartUpload(ctx: S3RequestContext<OperationOf<'CompleteMultipartUpload'>>): Promise<S3Reply> {
  const result = await ctx.deps.objects.completeMultipartUpload(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    uploadId: ctx.operation.uploadId,
    parts: () => readCompletedParts(ctx),
    conditions: parseWriteConditions(header(ctx.incoming.headers, 'if-match'), header(ctx.incoming.headers, 'if-none-match')),
  });
  const location = `/${ctx.operation.bucket}/${ctx.operation.key}`;
  const headers: Record<string, string> = {};
  // The completed object is a new version in a versioned bucket, as any write.
  if (result.versionId !== undefined) headers['x-amz-version-id'] = result.versionId;
  return xmlResponse(
    document(
      'CompleteMultipartUploadResult',
      text('Location', location),
      text('Bucket', ctx.operation.bucket),
      text('Key', ctx.operation.key),
      text('ETag', result.etag),
      result.checksum ? text(`Checksum${result.checksum.algorithm}`, result.checksum.value) : undefined,
      result.checksum ? text('ChecksumType', result.checksum.type) : undefined,
    ),
    200,
    headers,
  );
}

export async function abortMultipartUpload(ctx: S3RequestContext<OperationOf<'AbortMultipartUpload'>>): Promise<S3Reply> {
  await ctx.deps.objects.abortMultipartUpload(ctx.principal, { signal: ctx.signal, bucket: ctx.operation.bucket, key: ctx.operation.key, uploadId: ctx.operation.uploadId });
  return emptyResponse(204);
}

export async function listParts(ctx: S3RequestContext<OperationOf<'ListParts'>>): Promise<S3Reply> {
  const { query } = ctx.target;
  const markerValue = query.get('part-number-marker');
  const partNumberMarker = markerValue === null || markerValue === '' ? undefined : parseStrictInteger(markerValue);
  if (markerValue !== null && markerValue !== '' && partNumberMarker === undefined) {
    throw new S3Error('InvalidArgument', 'Invalid part-number-marker', { details: { ArgumentName: 'part-number-marker' } });
  }
  const maxParts = parseMaxKeys(query.get('max-parts'), 'max-parts');
  const page = await ctx.deps.objects.listParts(ctx.principal, {
    signal: ctx.signal,
    bucket: ctx.operation.bucket,
    key: ctx.operation.key,
    uploadId: ctx.operation.uploadId,
    partNumberMarker,
    maxParts,
  });
  const owner = [text('ID', ctx.userId), text('DisplayName', ctx.userId)];
  return xmlResponse(
    document(
      'ListPartsResult',
      text('Bucket', ctx.operation.bucket),
      text('Key', ctx.operation.key),
      text('UploadId', ctx.operation.uploadId),
      node('Initiator', owner),
      node('Owner', owner),
      text('StorageClass', 'STANDARD'),
      text('PartNumberMarker', partNumberMarker ?? 0),
      opt('NextPartNumberMarker', page.nextPartNumberMarker),
      text('MaxParts', maxParts),
      text('IsTruncated', page.isTruncated),
      opt('ChecksumAlgorithm', page.checksumAlgorithm),
      page.parts.map((part) =>
        node(
          'Part',
          text('PartNumber', part.partNumber),
          text('LastModified', part.lastModified),
          text('ETag', part.etag),
          text('Size', part.size),
          part.checksum ? text(`Checksum${part.checksum.algorithm}`, part.checksum.value) : undefined,
        ),
      ),
    ),
  );
}
