import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../../src/errors/s3-errors.ts';
import type { Conditions, ObjectInfo, ObjectMetadata } from '../../src/storage/storage-backend.ts';
import { checksumHeaderName } from '../../src/checksums/checksums.ts';
import { parseXml } from '../../src/s3-protocol/xml.ts';

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** S3 caps user metadata (names + values) at 2 KiB. */
const MAX_USER_METADATA_BYTES = 2048;

export function parseObjectMetadata(headers: IncomingHttpHeaders): ObjectMetadata {
  const userMetadata: Record<string, string> = {};
  let metadataBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const metaName = name.slice('x-amz-meta-'.length);
    const metaValue = Array.isArray(value) ? value.join(',') : value;
    userMetadata[metaName] = metaValue;
    metadataBytes += Buffer.byteLength(metaName) + Buffer.byteLength(metaValue);
  }
  if (metadataBytes > MAX_USER_METADATA_BYTES) throw new S3Error('MetadataTooLarge');
  return {
    userMetadata,
    contentType: header(headers, 'content-type') ?? 'binary/octet-stream',
    cacheControl: header(headers, 'cache-control'),
    contentDisposition: header(headers, 'content-disposition'),
    contentEncoding: stripAwsChunked(header(headers, 'content-encoding')),
    contentLanguage: header(headers, 'content-language'),
    expires: header(headers, 'expires'),
  };
}

/** `aws-chunked` describes the transfer, not the object: it is never stored. */
function stripAwsChunked(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const rest = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '' && part.toLowerCase() !== 'aws-chunked');
  return rest.length > 0 ? rest.join(',') : undefined;
}

/** `x-amz-tagging: k1=v1&k2=v2` (URL query encoding). */
export function parseTaggingHeader(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const tags: Record<string, string> = {};
  for (const [tagKey, tagValue] of new URLSearchParams(value)) tags[tagKey] = tagValue;
  validateTags(tags);
  return tags;
}

/** S3's Tagging XML document (PutObjectTagging's body, a POST form's `tagging` field), validated. */
export function parseTaggingXml(xml: string): Record<string, string> {
  const tagging = parseXml(xml).Tagging as { TagSet?: { Tag?: { Key?: unknown; Value?: unknown }[] } | string } | undefined;
  if (!tagging || typeof tagging !== 'object') throw new S3Error('MalformedXML');
  const tagSet = typeof tagging.TagSet === 'object' ? (tagging.TagSet.Tag ?? []) : [];
  const tags: Record<string, string> = {};
  for (const tag of tagSet) {
    if (typeof tag?.Key !== 'string') throw new S3Error('MalformedXML');
    if (tags[tag.Key] !== undefined) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    tags[tag.Key] = typeof tag.Value === 'string' ? tag.Value : '';
  }
  validateTags(tags);
  return tags;
}

export function validateTags(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > 10) throw new S3Error('InvalidTag', 'Object tags cannot be greater than 10');
  for (const [tagKey, tagValue] of entries) {
    if (tagKey.length === 0 || tagKey.length > 128) throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid');
    if (tagValue.length > 256) throw new S3Error('InvalidTag', 'The TagValue you have provided is too long, max length 256');
  }
}

/** One `bytes=` range; anything unparsable is ignored (full object), as S3 and RFC 9110 do. */
// Shared with the Simple REST API's downloads.
export { parseRange } from '../../src/storage/conditions.ts';

function parseHttpDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function parseConditions(headers: IncomingHttpHeaders, prefix = ''): Conditions | undefined {
  const conditions: Conditions = {
    ifMatch: header(headers, `${prefix}if-match`),
    ifNoneMatch: header(headers, `${prefix}if-none-match`),
    ifModifiedSince: parseHttpDate(header(headers, `${prefix}if-modified-since`)),
    ifUnmodifiedSince: parseHttpDate(header(headers, `${prefix}if-unmodified-since`)),
  };
  return Object.values(conditions).some((value) => value !== undefined) ? conditions : undefined;
}

/** Headers describing a stored object on GET/HEAD (and 304s). */
export function objectHeaders(info: ObjectInfo, options: { checksumMode: boolean; ranged: boolean; partNumber?: boolean }): Record<string, string> {
  const out: Record<string, string> = {
    ETag: info.etag,
    'Last-Modified': info.lastModified.toUTCString(),
    'Accept-Ranges': 'bytes',
    'Content-Type': info.contentType ?? 'binary/octet-stream',
  };
  if (info.cacheControl) out['Cache-Control'] = info.cacheControl;
  if (info.contentDisposition) out['Content-Disposition'] = info.contentDisposition;
  if (info.contentEncoding) out['Content-Encoding'] = info.contentEncoding;
  if (info.contentLanguage) out['Content-Language'] = info.contentLanguage;
  if (info.expires) out.Expires = info.expires;
  for (const [name, value] of Object.entries(info.userMetadata)) out[`x-amz-meta-${name}`] = value;
  if (info.tagCount > 0) out['x-amz-tagging-count'] = String(info.tagCount);
  // Only in a bucket whose versioning was ever configured (undefined otherwise), as S3.
  if (info.versionId !== undefined) out['x-amz-version-id'] = info.versionId;
  // Only when the request named a part (?partNumber=), as AWS sends it.
  if (options.partNumber && info.partsCount !== undefined) out['x-amz-mp-parts-count'] = String(info.partsCount);
  // A checksum describes the whole object: S3 never returns it for a range.
  if (options.checksumMode && !options.ranged && info.checksum) {
    out[checksumHeaderName(info.checksum.algorithm)] = info.checksum.value;
    out['x-amz-checksum-type'] = info.checksum.type;
  }
  return out;
}

/**
 * `response-content-type` & co. on GET override the stored headers for this response only.
 * Parsed before the object is opened, so a bad value is refused without opening anything.
 */
export function parseResponseOverrides(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  const overrides: [string, string][] = [
    ['response-content-type', 'Content-Type'],
    ['response-content-language', 'Content-Language'],
    ['response-expires', 'Expires'],
    ['response-cache-control', 'Cache-Control'],
    ['response-content-disposition', 'Content-Disposition'],
    ['response-content-encoding', 'Content-Encoding'],
  ];
  for (const [param, headerName] of overrides) {
    const value = query.get(param);
    if (value !== null) out[headerName] = responseHeaderValue(param, value);
  }
  return out;
}

/**
 * A `response-*` override becomes a response header, so it must be one: a CR or LF (header
 * injection) or another control character is the client's error, not a server failure. Text
 * beyond Latin-1 is sent as its UTF-8 bytes, as S3 does, since header values are bytes.
 */
function responseHeaderValue(param: string, value: string): string {
  let wide = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      throw new S3Error('InvalidArgument', `${param} may not contain control characters such as CR or LF`, {
        details: { ArgumentName: param },
      });
    }
    if (c > 0xff) wide = true;
  }
  return wide ? Buffer.from(value, 'utf8').toString('latin1') : value;
}
