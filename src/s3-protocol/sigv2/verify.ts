/**
 * AWS Signature Version 2 for S3 (HMAC-SHA1): header auth (`Authorization: AWS <akid>:<sig>`) and
 * presigned query auth (`?AWSAccessKeyId=&Expires=&Signature=`). Older clients still use it, and
 * boto3 presigns with it by default for us-east-1.
 *
 * Usage (per request, synchronous, throws `S3Error`):
 *
 *   const verifier = createSigV2Verifier({ clock, lookupSecret });
 *   const verified = verifier.verify({ method, target: splitRawUrl(req.url!), headers: req.headers,
 *                                      rawHeaders: req.rawHeaders, bucketInHost });
 *
 * StringToSign (AWS "Signing and authenticating REST requests"):
 *
 *   VERB \n Content-MD5 \n Content-Type \n Date-or-Expires \n CanonicalizedAmzHeaders CanonicalizedResource
 *
 * - Date is the `Date` header, or '' when `x-amz-date` is present (it is signed among the amz
 *   headers instead); presigned URLs put `Expires` (epoch seconds) there.
 * - CanonicalizedAmzHeaders: every `x-amz-*` header, lower-cased, sorted, repeated values joined
 *   with `,`, each `name:value\n`. Since every `x-amz-*` header is always signed, none can be
 *   added to a captured request (the concern SigV4's SignedHeaders check addresses).
 * - CanonicalizedResource: `/<bucket>` when the bucket is in the Host (virtual-host addressing),
 *   then the path exactly as sent (not decoded), then the sub-resources below, sorted by name,
 *   with their decoded values. A path-style bucket sent as `/bucket` may be signed as `/bucket/`.
 *
 * The body is never signed (Content-MD5, when sent, is signed and checked by the body readers):
 * a verified request carries `payload: { kind: 'unsigned' }`.
 *
 * Errors (S3's codes): malformed header → InvalidArgument; both header and query auth →
 * InvalidArgument; missing query parameters, bad Expires, no usable Date → AccessDenied; header
 * auth more than 15 min off the server clock → RequestTimeTooSkewed; `Expires` in the past →
 * AccessDenied 'Request has expired'; unknown key → InvalidAccessKeyId; mismatch →
 * SignatureDoesNotMatch (StringToSign in `details` only with `debug: true`).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../../clock.ts';
import { S3Error } from '../../errors/s3-errors.ts';
import { percentDecode, type QueryParam, type RawTarget } from '../sigv4/canonical.ts';
import { DEFAULT_MAX_SKEW_MS, parseAmzDate } from '../sigv4/verify.ts';

/** The `response-*` query parameters that override a GET's response headers (signed sub-resources). */
export const RESPONSE_OVERRIDE_PARAMS: readonly string[] = [
  'response-content-type',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
];

/** The sub-resources AWS documents for the CanonicalizedResource, response-* overrides included. */
export const SIGV2_SUB_RESOURCES: readonly string[] = [
  'acl',
  'cors',
  'delete',
  'lifecycle',
  'location',
  'logging',
  'notification',
  'partNumber',
  'policy',
  'requestPayment',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
  ...RESPONSE_OVERRIDE_PARAMS,
];

/**
 * botocore signs more sub-resources than AWS documents (accelerate, restore, select, …), so its
 * requests naming one of them are also checked against this longer list, after the documented
 * one failed. Only a SUPERSET is safe as a fallback: a shorter list (s3cmd's has no tagging and
 * no response-*) would let anyone append `&response-content-type=text/html` or `?tagging` to a
 * captured request or URL without invalidating its signature.
 */
const CLIENT_SUB_RESOURCES: readonly string[] = [
  ...SIGV2_SUB_RESOURCES,
  'accelerate',
  'analytics',
  'defaultObjectAcl',
  'inventory',
  'metrics',
  'object-lock',
  'replication',
  'restore',
  'select',
  'select-type',
  'storageClass',
];

const DOCUMENTED = new Set(SIGV2_SUB_RESOURCES);
const CLIENT_SUPERSET = new Set(CLIENT_SUB_RESOURCES);

/** What a SigV2-verified request hands the gateway: the key, and a body nobody signed. */
export interface SigV2VerifiedRequest {
  accessKeyId: string;
  auth: 'sigv2-header' | 'sigv2-presigned';
  payload: { kind: 'unsigned' };
  /** Header auth: the signed request time. */
  requestTime?: Date;
  /** Presigned: the instant the URL stops being valid. */
  expiresAt?: Date;
}

export interface SigV2Request {
  method: string;
  /** The request target as the gateway parsed it: the same value the operation is taken from. */
  target: RawTarget;
  headers: IncomingHttpHeaders;
  /** `IncomingMessage.rawHeaders`, for exact repeated-header joining. */
  rawHeaders?: string[];
  /** The bucket when it was addressed by the Host header (virtual-host style): it prefixes the resource. */
  bucketInHost?: string;
}

export interface SigV2VerifierOptions {
  clock: Clock;
  /** Secret for an access key id, or undefined when the key does not exist (or is disabled). */
  lookupSecret: (accessKeyId: string) => string | undefined;
  maxSkewMs?: number;
  /** Put StringToSign into SignatureDoesNotMatch details. */
  debug?: boolean;
}

export interface SigV2Verifier {
  verify(request: SigV2Request): SigV2VerifiedRequest;
}

const UNSIGNED = Object.freeze({ kind: 'unsigned' as const });

/** True when a request uses SigV2: an `AWS ` Authorization header, or `AWSAccessKeyId` in the query without SigV4 parameters. */
export function isSigV2Request(authorization: string | undefined, query: URLSearchParams): boolean {
  if (authorization !== undefined) return authorization.startsWith('AWS ');
  return query.has('AWSAccessKeyId') && !query.has('X-Amz-Algorithm') && !query.has('X-Amz-Credential') && !query.has('X-Amz-Signature');
}

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : value;
}

/** A raw query parameter, and whether it had an `=` (`?uploads` vs `?uploads=`): clients sign it as sent. */
export interface V2QueryParam extends QueryParam {
  hasEquals: boolean;
}

/** Splits a raw query into parameters (empty pieces from `&&` are skipped). */
export function splitV2Query(rawQuery: string): V2QueryParam[] {
  const params: V2QueryParam[] = [];
  let start = 0;
  while (start < rawQuery.length) {
    let end = rawQuery.indexOf('&', start);
    if (end === -1) end = rawQuery.length;
    if (end > start) {
      const eq = rawQuery.indexOf('=', start);
      if (eq === -1 || eq >= end) params.push({ rawName: rawQuery.slice(start, end), rawValue: '', hasEquals: false });
      else params.push({ rawName: rawQuery.slice(start, eq), rawValue: rawQuery.slice(eq + 1, end), hasEquals: true });
    }
    start = end + 1;
  }
  return params;
}

/** `name:value\n` for every x-amz-* header (and, presigned, x-amz-* query parameter), sorted. */
export function canonicalAmzHeaders(headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined, queryAmz?: readonly [string, string][]): string {
  const values = new Map<string, string[]>();
  const add = (name: string, value: string) => {
    const list = values.get(name);
    if (list) list.push(value.trim());
    else values.set(name, [value.trim()]);
  };
  if (rawHeaders && rawHeaders.length > 0) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length > 6 && (name.charCodeAt(0) | 0x20) === 0x78 /* x */) {
        const lower = name.toLowerCase();
        if (lower.startsWith('x-amz-')) add(lower, rawHeaders[i + 1]!);
      }
    }
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith('x-amz-') || value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) add(name, v);
    }
  }
  if (queryAmz) for (const [name, value] of queryAmz) add(name, value);
  if (values.size === 0) return '';
  const names = [...values.keys()].sort();
  let out = '';
  for (const name of names) out += name + ':' + values.get(name)!.join(',') + '\n';
  return out;
}

/** `/<bucket-in-host><raw path>?<sub-resources>`, the sub-resources being those named in `allowed`. */
export function canonicalResource(rawPath: string, params: readonly V2QueryParam[], bucketInHost: string | undefined, allowed: ReadonlySet<string> = DOCUMENTED): string {
  let resource = bucketInHost === undefined ? rawPath : '/' + bucketInHost + rawPath;
  const sub: [string, string][] = [];
  for (const p of params) {
    // Matched by the name the gateway acts on (URLSearchParams decodes names, `+` as space): a raw
    // comparison would let `%61cl` or `%72esponse-content-type=text/html` be appended unsigned.
    const name = percentDecode(p.rawName, true);
    if (!allowed.has(name)) continue;
    // A value AWS signs decoded; a name given with '=' and no value is signed as sent.
    sub.push([name, p.hasEquals ? '=' + percentDecode(p.rawValue) : '']);
  }
  if (sub.length > 0) {
    if (sub.length > 1) sub.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    resource += '?';
    for (let i = 0; i < sub.length; i++) resource += (i === 0 ? '' : '&') + sub[i]![0] + sub[i]![1];
  }
  return resource;
}

export function buildStringToSign(method: string, contentMd5: string, contentType: string, dateOrExpires: string, amzHeaders: string, resource: string): string {
  return method + '\n' + contentMd5 + '\n' + contentType + '\n' + dateOrExpires + '\n' + amzHeaders + resource;
}

export function signV2(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function signaturesEqual(expected: string, provided: string): boolean {
  if (expected.length !== provided.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(provided, 'latin1'));
}

const MALFORMED_HEADER = 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature';

export function createSigV2Verifier(options: SigV2VerifierOptions): SigV2Verifier {
  const { clock, lookupSecret, debug = false } = options;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;

  function lookup(accessKeyId: string): string {
    const secret = lookupSecret(accessKeyId);
    if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { details: { AWSAccessKeyId: accessKeyId } });
    return secret;
  }

  /**
   * Compares against the resource as sent with AWS's documented sub-resources. Only when that
   * fails: a bucket addressed as `/bucket` is also tried as `/bucket/` (botocore signs that for
   * every bucket-level request while sending `/bucket`; both name the same resource), and
   * botocore's longer sub-resource list when it changes the resource.
   */
  function checkSignature(
    request: SigV2Request,
    params: readonly V2QueryParam[],
    secret: string,
    accessKeyId: string,
    dateOrExpires: string,
    amzHeaders: string,
    provided: string,
  ): void {
    const contentMd5 = (headerString(request.headers['content-md5']) ?? '').trim();
    const contentType = (headerString(request.headers['content-type']) ?? '').trim();
    const path = request.target.path;
    const resource = canonicalResource(path, params, request.bucketInHost);
    const stringToSign = buildStringToSign(request.method, contentMd5, contentType, dateOrExpires, amzHeaders, resource);
    if (signaturesEqual(signV2(secret, stringToSign), provided)) return;
    const paths = request.bucketInHost === undefined && path.length > 1 && path.indexOf('/', 1) === -1 ? [path, path + '/'] : [path];
    const tried = [resource];
    for (const candidatePath of paths) {
      for (const allowed of params.length > 0 ? [DOCUMENTED, CLIENT_SUPERSET] : [DOCUMENTED]) {
        const candidate = canonicalResource(candidatePath, params, request.bucketInHost, allowed);
        if (tried.includes(candidate)) continue;
        tried.push(candidate);
        if (signaturesEqual(signV2(secret, buildStringToSign(request.method, contentMd5, contentType, dateOrExpires, amzHeaders, candidate)), provided)) return;
      }
    }
    throw new S3Error('SignatureDoesNotMatch', undefined, {
      details: debug ? { AWSAccessKeyId: accessKeyId, SignatureProvided: provided, StringToSign: stringToSign } : {},
    });
  }

  function verifyHeader(request: SigV2Request, authorization: string, params: readonly V2QueryParam[]): SigV2VerifiedRequest {
    for (const p of params) {
      const name = p.rawName;
      if (name === 'Signature' || name === 'AWSAccessKeyId' || name === 'X-Amz-Signature' || name === 'X-Amz-Credential' || name === 'X-Amz-Algorithm') {
        throw new S3Error(
          'InvalidArgument',
          'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
          { details: { ArgumentName: 'Authorization', ArgumentValue: authorization.slice(0, 64) } },
        );
      }
    }
    const credentials = authorization.slice(4).trim();
    const colon = credentials.lastIndexOf(':');
    if (colon <= 0 || colon === credentials.length - 1) {
      throw new S3Error('InvalidArgument', MALFORMED_HEADER, { details: { ArgumentName: 'Authorization', ArgumentValue: authorization.slice(0, 64) } });
    }
    const accessKeyId = credentials.slice(0, colon);
    const provided = credentials.slice(colon + 1);

    // x-amz-date, when sent, is the request time and Date is signed as ''.
    const xAmzDate = headerString(request.headers['x-amz-date']);
    const date = headerString(request.headers.date);
    const timestamp = (xAmzDate ?? date)?.trim();
    let requestMs = timestamp === undefined ? Number.NaN : Date.parse(timestamp);
    if (Number.isNaN(requestMs) && timestamp !== undefined) requestMs = parseAmzDate(timestamp) ?? Number.NaN;
    if (Number.isNaN(requestMs)) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    const nowMs = clock.now().getTime();
    if (Math.abs(nowMs - requestMs) > maxSkewMs) {
      throw new S3Error('RequestTimeTooSkewed', undefined, {
        details: { RequestTime: timestamp!, ServerTime: new Date(nowMs).toISOString(), MaxAllowedSkewMilliseconds: String(maxSkewMs) },
      });
    }
    const secret = lookup(accessKeyId);
    const dateSlot = xAmzDate !== undefined ? '' : (date ?? '').trim();
    checkSignature(request, params, secret, accessKeyId, dateSlot, canonicalAmzHeaders(request.headers, request.rawHeaders), provided);
    return { accessKeyId, auth: 'sigv2-header', payload: UNSIGNED, requestTime: new Date(requestMs) };
  }

  function verifyPresigned(request: SigV2Request, params: readonly V2QueryParam[]): SigV2VerifiedRequest {
    let accessKeyId: string | undefined;
    let expires: string | undefined;
    let signature: string | undefined;
    let queryAmz: [string, string][] | undefined;
    for (const p of params) {
      const name = p.rawName;
      if (name === 'AWSAccessKeyId') accessKeyId ??= percentDecode(p.rawValue);
      else if (name === 'Expires') expires ??= percentDecode(p.rawValue);
      else if (name === 'Signature') signature ??= percentDecode(p.rawValue);
      else if (name.length > 6 && (name.charCodeAt(0) | 0x20) === 0x78 /* x */) {
        // Presigners (botocore) move signed x-amz-* headers into the query.
        const lower = percentDecode(name).toLowerCase();
        if (lower.startsWith('x-amz-')) {
          queryAmz ??= [];
          queryAmz.push([lower, percentDecode(p.rawValue)]);
        }
      }
    }
    if (accessKeyId === undefined || expires === undefined || signature === undefined || accessKeyId === '' || signature === '') {
      throw new S3Error('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
    }
    if (!/^\d{1,12}$/.test(expires)) throw new S3Error('AccessDenied', `Invalid date (should be seconds since epoch): ${expires.slice(0, 64)}`);
    const expiresAtMs = Number(expires) * 1000;
    const nowMs = clock.now().getTime();
    if (nowMs > expiresAtMs) {
      throw new S3Error('AccessDenied', 'Request has expired', {
        details: { Expires: new Date(expiresAtMs).toISOString(), ServerTime: new Date(nowMs).toISOString() },
      });
    }
    const secret = lookup(accessKeyId);
    checkSignature(request, params, secret, accessKeyId, expires, canonicalAmzHeaders(request.headers, request.rawHeaders, queryAmz), signature);
    return { accessKeyId, auth: 'sigv2-presigned', payload: UNSIGNED, expiresAt: new Date(expiresAtMs) };
  }

  return {
    verify(request) {
      const params = splitV2Query(request.target.query);
      const authorization = headerString(request.headers.authorization);
      if (authorization !== undefined) {
        if (!authorization.startsWith('AWS ')) throw new S3Error('InvalidArgument', MALFORMED_HEADER);
        return verifyHeader(request, authorization, params);
      }
      return verifyPresigned(request, params);
    },
  };
}
