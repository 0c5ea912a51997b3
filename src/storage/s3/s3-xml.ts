import { s3XmlParser } from '../../s3-protocol/xml.ts';
import { S3_ERRORS, S3Error, type S3ErrorCode } from '../../errors/s3-errors.ts';
import type { ObjectVersionEntry } from '../storage-backend.ts';

/** Elements that repeat in backend responses: always arrays, even with one entry. */
const REPEATED = new Set(['Contents', 'CommonPrefixes', 'Part', 'Upload', 'Deleted', 'Error', 'Tag', 'Bucket']);

// Repeated elements below the root only: an error document's root is also called Error. A
// listing's Version and DeleteMarker entries repeat; DeleteResult's DeleteMarker is a flag.
const parser = s3XmlParser(
  (name, path) => (REPEATED.has(name) && String(path).includes('.')) || ((name === 'Version' || name === 'DeleteMarker') && path === `ListVersionsResult.${name}`),
);

export type XmlObject = Record<string, unknown>;

/** Parses a backend response document and returns its root element's children. */
export function parseResponse(text: string, rootName: string): XmlObject {
  let parsed: XmlObject;
  try {
    parsed = parser.parse(text, true) as XmlObject;
  } catch (error) {
    throw new S3Error('InternalError', 'The storage backend sent an unreadable response.', { cause: error });
  }
  const root = parsed[rootName];
  if (root === undefined) {
    // S3 may answer 200 and put the error in the body (long copies, completions).
    if (parsed.Error) throw errorFromDocument(500, parsed.Error as XmlObject);
    throw new S3Error('InternalError', `The storage backend sent no ${rootName} document.`);
  }
  return (typeof root === 'object' && root !== null ? root : {}) as XmlObject;
}

/**
 * One `<Version>` or `<DeleteMarker>` of a ListVersionsResult, as the store sent it: the fields of
 * an ObjectVersionEntry, except that `etag` is as the store sent it (quotes may be missing).
 */
export type ListedVersion = ObjectVersionEntry;

/**
 * A ListVersionsResult (ListObjectVersions) in document order. The parser groups elements by
 * name, which would lose how versions and delete markers interleave (newest first within a key,
 * whatever their kind), so the order is read from the document's opening tags: names escaped
 * in keys (`&lt;Version>`) cannot match them. Keys are URL-decoded when the store says so.
 */
export function parseVersionListing(text: string) {
  const result = parseResponse(text, 'ListVersionsResult');
  const urlEncoded = str(result.EncodingType) === 'url';
  const decode = (value: string | undefined) => (value === undefined || !urlEncoded ? value : decodeURIComponent(value.replace(/\+/g, '%20')));
  const versions = arr(result.Version);
  const markers = arr(result.DeleteMarker);
  const entries: ListedVersion[] = [];
  let version = 0;
  let marker = 0;
  for (const match of text.matchAll(/<(Version|DeleteMarker)>/g)) {
    const isMarker = match[1] === 'DeleteMarker';
    const element = isMarker ? markers[marker++] : versions[version++];
    if (!element) continue;
    entries.push({
      key: decode(str(element.Key)) ?? '',
      versionId: str(element.VersionId) ?? 'null',
      isLatest: str(element.IsLatest) === 'true',
      lastModified: new Date(str(element.LastModified) ?? 0),
      deleteMarker: isMarker,
      size: isMarker ? 0 : Number(str(element.Size) ?? 0),
      etag: isMarker ? '' : (str(element.ETag) ?? ''),
    });
  }
  return {
    entries,
    commonPrefixes: arr(result.CommonPrefixes).map((entry) => decode(str(entry.Prefix)) ?? ''),
    isTruncated: str(result.IsTruncated) === 'true',
    nextKeyMarker: decode(str(result.NextKeyMarker)) || undefined,
    nextVersionIdMarker: str(result.NextVersionIdMarker) || undefined,
  };
}

export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : value === undefined || value === null ? undefined : String(value));
export const arr = (value: unknown): XmlObject[] => (Array.isArray(value) ? (value as XmlObject[]) : value === undefined || value === '' ? [] : [value as XmlObject]);

/**
 * A backend error code the gateway does not know keeps its status: 4xx become InvalidRequest,
 * 5xx ServiceUnavailable (the backend's trouble, worth a retry), and the backend's code is kept
 * in the message for operators.
 */
function errorFromDocument(status: number, document: XmlObject | undefined, headers: Record<string, unknown> = {}): S3Error {
  const code = str(document?.Code);
  const message = str(document?.Message) || undefined;
  if (code && code in S3_ERRORS) {
    const error = new S3Error(code as S3ErrorCode, message);
    if (code === 'ServiceUnavailable' || code === 'SlowDown') error.headers['Retry-After'] = retryAfter(headers);
    return error;
  }
  if (status >= 500) {
    return new S3Error('ServiceUnavailable', `The storage backend failed (${code ?? status}${message ? `: ${message}` : ''}). Retry later.`, {
      headers: { 'Retry-After': retryAfter(headers) },
    });
  }
  return new S3Error('InvalidRequest', `The storage backend refused the request (${code ?? status}${message ? `: ${message}` : ''}).`);
}

function retryAfter(headers: Record<string, unknown>): string {
  const value = headers['retry-after'];
  return typeof value === 'string' && /^\d+$/.test(value) ? value : '1';
}

/** Error codes implied by a status when the body is empty (HEAD) or not S3 XML. */
const STATUS_CODES: Record<number, S3ErrorCode> = {
  304: 'NotModified',
  400: 'InvalidRequest',
  403: 'AccessDenied',
  404: 'NoSuchKey',
  405: 'MethodNotAllowed',
  409: 'InvalidRequest',
  411: 'MissingContentLength',
  412: 'PreconditionFailed',
  416: 'InvalidRange',
};

/** Translates a backend error response (status, XML body) into the gateway's S3Error. */
export function parseBackendError(status: number, text: string, headers: Record<string, unknown>): S3Error {
  if (text.includes('<Error')) {
    try {
      const parsed = parser.parse(text, true) as XmlObject;
      if (parsed.Error) return errorFromDocument(status, parsed.Error as XmlObject, headers);
    } catch {
      // fall through to the status
    }
  }
  const code = STATUS_CODES[status];
  if (code) return new S3Error(code);
  return errorFromDocument(status, undefined, headers);
}
