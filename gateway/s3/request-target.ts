import { S3Error } from '../../src/errors/s3-errors.ts';
import { splitRawUrl, type RawTarget } from '../../src/s3-protocol/sigv4/canonical.ts';

/**
 * Where an S3 request points, read from the RAW request target (`incoming.url`): WHATWG URL
 * parsing would resolve `.`/`..` segments and re-encode characters, changing object keys.
 */
export interface RequestTarget {
  bucket?: string;
  /** Percent-decoded object key, exactly as the client meant it (`+` stays a plus). */
  key?: string;
  query: URLSearchParams;
  rawPath: string;
  rawQuery: string;
  /** The split target the signature is checked against: the same value the fields above come from. */
  raw: RawTarget;
  addressing: 'path' | 'virtual-host';
}

export const MAX_KEY_BYTES = 1024;

function decodePathPart(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new S3Error('InvalidURI');
  }
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

export function parseRequestTarget(rawUrl: string, host: string | undefined, s3Domain: string | undefined): RequestTarget {
  const raw = splitRawUrl(rawUrl);
  const { path: rawPath, query: rawQuery } = raw;
  const query = new URLSearchParams(rawQuery);

  const hostname = host ? hostWithoutPort(host) : '';
  if (s3Domain && hostname.endsWith(`.${s3Domain.toLowerCase()}`)) {
    const bucket = hostname.slice(0, -(s3Domain.length + 1));
    const key = rawPath.length > 1 ? decodePathPart(rawPath.slice(1)) : undefined;
    return { bucket, key: checkKey(key), query, rawPath, rawQuery, raw, addressing: 'virtual-host' };
  }

  const slash = rawPath.indexOf('/', 1);
  const bucketPart = slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash);
  const keyPart = slash === -1 ? '' : rawPath.slice(slash + 1);
  return {
    bucket: bucketPart === '' ? undefined : decodePathPart(bucketPart),
    key: checkKey(keyPart === '' ? undefined : decodePathPart(keyPart)),
    query,
    rawPath,
    rawQuery,
    raw,
    addressing: 'path',
  };
}

function checkKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError');
  return key;
}

/** The `Resource` element of error responses. */
export function resourceOf(target: Pick<RequestTarget, 'bucket' | 'key'>): string {
  if (!target.bucket) return '/';
  return target.key === undefined ? `/${target.bucket}` : `/${target.bucket}/${target.key}`;
}
