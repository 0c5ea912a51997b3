/**
 * SigV4 request authentication (header and presigned-query forms), S3 semantics.
 *
 * Usage (per request, synchronous, throws `S3Error`):
 *
 *   const verifier = createSigV4Verifier({ clock, lookupSecret, region: 'us-east-1', regionStrict: false,
 *                                          signingKeyCache: createSigningKeyCache({ maxEntries: 1000 }) });
 *   const verified = verifier.verify({ method: req.method!, target: splitRawUrl(req.url!), headers: req.headers,
 *                                      rawHeaders: req.rawHeaders });
 *
 * Error mapping (S3's codes):
 * - no Authorization header and no X-Amz-* query auth         → AccessDenied
 * - both mechanisms at once                                   → InvalidArgument
 * - SigV2 (`AWS ak:sig`, `?AWSAccessKeyId=`)                  → InvalidRequest (use AWS4-HMAC-SHA256)
 * - SigV4a (`AWS4-ECDSA-P256-SHA256`)                         → NotImplemented
 * - malformed Authorization header / credential / wrong service / credential date ≠ request date
 *   / `host` not signed / wrong region when regionStrict       → AuthorizationHeaderMalformed
 * - the same for presigned query parameters, X-Amz-Expires outside 1..604800
 *                                                             → AuthorizationQueryParametersError
 * - missing/invalid x-amz-date and Date                       → AccessDenied
 * - header auth more than maxSkewMs off the server clock      → RequestTimeTooSkewed
 * - presigned URL past X-Amz-Date + X-Amz-Expires             → AccessDenied 'Request has expired'
 * - presigned URL dated more than maxSkewMs in the future     → AccessDenied 'Request is not valid yet'
 * - missing x-amz-content-sha256 (header auth)                → InvalidRequest
 * - an `x-amz-*` header that is not signed (either form)      → AccessDenied
 * - unknown x-amz-content-sha256 value                        → InvalidArgument
 * - unknown access key                                        → InvalidAccessKeyId
 * - signature mismatch                                        → SignatureDoesNotMatch (CanonicalRequest
 *   and StringToSign in `details` only with `debug: true`)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../../errors/s3-errors.ts';
import type { Clock } from '../../clock.ts';
import {
  EMPTY_SHA256,
  buildCanonicalRequest,
  buildStringToSign,
  canonicalQueryString,
  canonicalUri,
  decodeQuery,
  signedHeaderValues,
  splitQuery,
  type QueryParam,
  type RawTarget,
} from './canonical.ts';
import { createSigningKeyCache, type SigningKeyCache } from './signing-key-cache.ts';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const MAX_PRESIGNED_EXPIRES_SECONDS = 604_800;
export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
const EMPTY_PAYLOAD: PayloadMode = Object.freeze({ kind: 'sha256', hash: EMPTY_SHA256 });

export type PayloadMode =
  | { kind: 'sha256'; hash: string }
  | { kind: 'unsigned' }
  | { kind: 'streaming-signed' }
  | { kind: 'streaming-signed-trailer' }
  | { kind: 'streaming-unsigned-trailer' };

export interface VerifiedRequest {
  accessKeyId: string;
  auth: 'header' | 'presigned';
  payload: PayloadMode;
  /** Derived signing key (shared with the cache: never mutate it). */
  signingKey: Buffer;
  /** The request's own signature (lower-case hex): the seed of an aws-chunked signature chain. */
  seedSignature: string;
  /** `<yyyymmdd>/<region>/s3/aws4_request` */
  scope: string;
  /** `yyyymmddTHHMMSSZ` as used in the string to sign. */
  amzDate: string;
  /** Region from the credential scope (what the client signed for). */
  region: string;
  /** Lower-case, sorted. */
  signedHeaders: string[];
  requestTime: Date;
  /** Presigned only: the instant the URL stops being valid. */
  expiresAt?: Date;
}

export interface SigV4Request {
  method: string;
  /**
   * The request target as the gateway parsed it (`splitRawUrl(IncomingMessage.url)`): the very
   * value the operation is taken from, so the signature covers exactly what is executed.
   */
  target: RawTarget;
  headers: IncomingHttpHeaders;
  /** `IncomingMessage.rawHeaders`; preferred for exact multi-value header joining. */
  rawHeaders?: string[];
}

export interface SigV4VerifierOptions {
  clock: Clock;
  /** Secret for an access key id, or undefined when the key does not exist (or is disabled). */
  lookupSecret: (accessKeyId: string) => string | undefined;
  /** The region this deployment answers for. */
  region: string;
  /** Reject credentials scoped to any other region. */
  regionStrict?: boolean;
  maxSkewMs?: number;
  signingKeyCache?: SigningKeyCache;
  /** Put CanonicalRequest / StringToSign into SignatureDoesNotMatch details. */
  debug?: boolean;
  /** Signing service name; 's3'. */
  service?: string;
}

export interface SigV4Verifier {
  verify(request: SigV4Request): VerifiedRequest;
}

// ---------------------------------------------------------------------------------------------
// Small parsers (exported for tests / reuse)

/** Parses `x-amz-content-sha256`. */
export function parsePayloadMode(value: string): PayloadMode {
  // What SDKs send on every request without a body (GET, HEAD, DELETE): no hex scan needed.
  if (value === EMPTY_SHA256) return EMPTY_PAYLOAD;
  switch (value) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case STREAMING_SIGNED:
      return { kind: 'streaming-signed' };
    case STREAMING_SIGNED_TRAILER:
      return { kind: 'streaming-signed-trailer' };
    case STREAMING_UNSIGNED_TRAILER:
      return { kind: 'streaming-unsigned-trailer' };
  }
  if (value.length === 64 && isHex(value)) return { kind: 'sha256', hash: value.toLowerCase() };
  if (value.startsWith('STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD')) {
    throw new S3Error('NotImplemented', 'SigV4a streaming payloads (AWS4-ECDSA-P256-SHA256) are not supported.');
  }
  throw new S3Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, ' +
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
    { details: { ArgumentName: 'x-amz-content-sha256', ArgumentValue: value.slice(0, 128) } },
  );
}

function isHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}

function isDigits(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The decimal number in `s[from, to)`, or -1 when any of it is not a digit. */
function digitsAt(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `yyyymmddTHHMMSSZ` → epoch ms; undefined when malformed or not a real date. Read digit by digit
 * with a days-per-month table (every request's x-amz-date: six slices, six number conversions
 * and a Date object were 1–2 % of a small GET's CPU).
 */
export function parseAmzDate(s: string): number | undefined {
  if (s.length !== 16 || s.charCodeAt(8) !== 0x54 /* T */ || s.charCodeAt(15) !== 0x5a /* Z */) return undefined;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 4, 6);
  const d = digitsAt(s, 6, 8);
  const h = digitsAt(s, 9, 11);
  const mi = digitsAt(s, 11, 13);
  const se = digitsAt(s, 13, 15);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) return undefined;
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  // Where Date.UTC bends the input (years 0–99 mean 19xx; a leap second may roll into the next
  // day), the date must come out as written, e.g. no Feb 30.
  if (y < 100 || se === 60) return new Date(t).getUTCDate() === d ? t : undefined;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]) ? t : undefined;
}

/** epoch ms → `yyyymmddTHHMMSSZ` */
export function formatAmzDate(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2013-05-24T00:00:00.000Z
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + 'T' + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
}

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : value;
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(value: string): Credential | undefined {
  // <akid>/<yyyymmdd>/<region>/<service>/aws4_request; split from the end.
  const p4 = value.lastIndexOf('/');
  if (p4 <= 0 || value.slice(p4 + 1) !== 'aws4_request') return undefined;
  const p3 = value.lastIndexOf('/', p4 - 1);
  if (p3 <= 0) return undefined;
  const p2 = value.lastIndexOf('/', p3 - 1);
  if (p2 <= 0) return undefined;
  const p1 = value.lastIndexOf('/', p2 - 1);
  if (p1 <= 0) return undefined;
  const cred = {
    accessKeyId: value.slice(0, p1),
    date: value.slice(p1 + 1, p2),
    region: value.slice(p2 + 1, p3),
    service: value.slice(p3 + 1, p4),
  };
  if (cred.date.length !== 8 || !isDigits(cred.date, 0, 8) || cred.region === '' || cred.service === '') {
    return undefined;
  }
  return cred;
}

function parseSignedHeaders(value: string): string[] | undefined {
  if (value === '') return undefined;
  const names = value.toLowerCase().split(';');
  for (const n of names) if (n === '' || n.trim() !== n) return undefined;
  let sorted = true;
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1] >= names[i]) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    names.sort();
    for (let i = 1; i < names.length; i++) if (names[i - 1] === names[i]) return undefined;
  }
  return names;
}

interface AuthorizationParts {
  credential: string;
  signedHeaders: string;
  signature: string;
}

const THREE_COMPONENTS = 'The authorization header is malformed; the authorization header requires three components: ' + 'Credential, SignedHeaders, and Signature.';

const UNSUPPORTED_MECHANISM = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';

/**
 * Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, tolerating missing
 * or extra spaces, commas without spaces, spaces without commas and any component order.
 */
export function parseAuthorizationHeader(value: string): AuthorizationParts {
  const canonical = parseCanonicalAuthorization(value);
  if (canonical !== undefined) return canonical;
  const v = value.trim();
  if (!v.startsWith(ALGORITHM) || (v.length > ALGORITHM.length && !isSeparator(v.charCodeAt(ALGORITHM.length)))) {
    if (v.startsWith('AWS ')) throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
    if (v.startsWith('AWS4-ECDSA-P256-SHA256')) {
      throw new S3Error('NotImplemented', 'SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.');
    }
    throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', {
      details: { ArgumentName: 'Authorization', ArgumentValue: v.slice(0, 64) },
    });
  }
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  let i = ALGORITHM.length;
  const n = v.length;
  while (i < n) {
    while (i < n && isSeparator(v.charCodeAt(i))) i++;
    if (i >= n) break;
    let end = i;
    while (end < n && !isSeparator(v.charCodeAt(end))) end++;
    const token = v.slice(i, end);
    i = end;
    const eq = token.indexOf('=');
    if (eq <= 0) throw new S3Error('AuthorizationHeaderMalformed', THREE_COMPONENTS);
    const key = token.slice(0, eq);
    const val = token.slice(eq + 1);
    switch (key.toLowerCase()) {
      case 'credential':
        if (credential !== undefined) throw new S3Error('AuthorizationHeaderMalformed', THREE_COMPONENTS);
        credential = val;
        break;
      case 'signedheaders':
        if (signedHeaders !== undefined) throw new S3Error('AuthorizationHeaderMalformed', THREE_COMPONENTS);
        signedHeaders = val;
        break;
      case 'signature':
        if (signature !== undefined) throw new S3Error('AuthorizationHeaderMalformed', THREE_COMPONENTS);
        signature = val;
        break;
      default:
        // Unknown components are ignored (tolerance for odd clients).
        break;
    }
  }
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw new S3Error('AuthorizationHeaderMalformed', THREE_COMPONENTS);
  }
  return { credential, signedHeaders, signature };
}

const CANONICAL_START = `${ALGORITHM} Credential=`;
const SIGNED_HEADERS_PART = ', SignedHeaders=';
const SIGNATURE_PART = ', Signature=';
const SEPARATOR = /[ ,\t]/;

/**
 * The form every SDK and CLI sends (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`),
 * read with three searches instead of the general tokenizer, which costs a slice and a
 * lower-casing per token on every request. Undefined for anything else (other spacing, order,
 * extra or repeated components), which the tokenizer then reads or refuses exactly as before:
 * the three values may hold no separator, so any such variant falls through.
 */
function parseCanonicalAuthorization(value: string): AuthorizationParts | undefined {
  if (!value.startsWith(CANONICAL_START)) return undefined;
  const signedAt = value.indexOf(SIGNED_HEADERS_PART, CANONICAL_START.length);
  if (signedAt === -1) return undefined;
  const signatureAt = value.indexOf(SIGNATURE_PART, signedAt + SIGNED_HEADERS_PART.length);
  if (signatureAt === -1) return undefined;
  const credential = value.slice(CANONICAL_START.length, signedAt);
  const signedHeaders = value.slice(signedAt + SIGNED_HEADERS_PART.length, signatureAt);
  const signature = value.slice(signatureAt + SIGNATURE_PART.length);
  if (credential === '' || signedHeaders === '' || signature === '') return undefined;
  if (SEPARATOR.test(credential) || SEPARATOR.test(signedHeaders) || SEPARATOR.test(signature)) return undefined;
  return { credential, signedHeaders, signature };
}

function isSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2c || c === 0x09;
}

function signaturesEqual(expectedHex: string, provided: string): boolean {
  if (provided.length !== expectedHex.length) return false;
  const a = Buffer.from(expectedHex, 'latin1');
  const b = Buffer.from(provided.toLowerCase(), 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------

/**
 * A signature authorizes exactly what was signed. An `x-amz-*` header added to a captured
 * request or a presigned URL (`x-amz-copy-source` would turn a PUT into a copy of any object of
 * the account, `x-amz-meta-*`, `x-amz-tagging`) must have been signed, as S3 requires of both
 * header and query authentication.
 */
function rejectUnsignedAmzHeaders(headers: SigV4Request['headers'], signedHeaders: string[]): void {
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-') && !signedHeaders.includes(name)) {
      throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
        details: { HeadersNotSigned: name },
      });
    }
  }
}

export function createSigV4Verifier(options: SigV4VerifierOptions): SigV4Verifier {
  const { clock, lookupSecret, debug = false } = options;
  const serverRegion = options.region;
  const regionStrict = options.regionStrict ?? false;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const service = options.service ?? 's3';
  const keyCache = options.signingKeyCache ?? createSigningKeyCache({ maxEntries: 1000 });

  function checkSignature(
    request: SigV4Request,
    target: { path: string; params: QueryParam[]; rawQuery: string },
    presigned: boolean,
    signedHeaders: string[],
    payloadHash: string,
    amzDate: string,
    scope: string,
    signingKey: Buffer,
    provided: string,
    accessKeyId: string,
  ): string {
    const uri = canonicalUri(target.path);
    const headerValues = signedHeaderValues(signedHeaders, request.headers, request.rawHeaders);
    const attempt = (plusAsSpace: boolean, pathAsSent = false) => {
      const canonicalRequest = buildCanonicalRequest({
        method: request.method,
        canonicalUri: pathAsSent ? target.path : uri,
        canonicalQuery: canonicalQueryString(target.params, { excludeSignature: presigned, plusAsSpace }),
        signedHeaders,
        headerValues,
        payloadHash,
      });
      const stringToSign = buildStringToSign(amzDate, scope, canonicalRequest);
      return { canonicalRequest, stringToSign, signature: hmacHex(signingKey, stringToSign) };
    };
    const first = attempt(false);
    if (signaturesEqual(first.signature, provided)) return first.signature;
    // A literal '+' in a query is ambiguous (RFC 3986 plus vs. form-encoded space); clients
    // disagree, so accept either reading.
    if (target.rawQuery.indexOf('+') !== -1) {
      const second = attempt(true);
      if (signaturesEqual(second.signature, provided)) return second.signature;
    }
    // Some clients sign the path exactly as they send it (a literal '+', lower-case escapes)
    // rather than in AWS's canonical encoding; both name the same key, so accept either.
    if (uri !== target.path) {
      const asSent = attempt(false, true);
      if (signaturesEqual(asSent.signature, provided)) return asSent.signature;
    }
    throw new S3Error('SignatureDoesNotMatch', undefined, {
      details: debug
        ? {
            AWSAccessKeyId: accessKeyId,
            SignatureProvided: provided,
            StringToSign: first.stringToSign,
            CanonicalRequest: first.canonicalRequest,
          }
        : {},
    });
  }

  /** The credential scope and (cached) signing key of a parsed credential. */
  function signingKeyFor(cred: { accessKeyId: string; date: string; region: string; service: string }): { scope: string; signingKey: Buffer } {
    const secret = lookup(cred.accessKeyId);
    return {
      scope: cred.date + '/' + cred.region + '/' + cred.service + '/aws4_request',
      signingKey: keyCache.get(cred.accessKeyId, secret, cred.date, cred.region, cred.service),
    };
  }

  function lookup(accessKeyId: string): string {
    const secret = lookupSecret(accessKeyId);
    if (secret === undefined) {
      throw new S3Error('InvalidAccessKeyId', undefined, { details: { AWSAccessKeyId: accessKeyId } });
    }
    return secret;
  }

  function verifyHeaderAuth(request: SigV4Request, authorization: string, path: string, rawQuery: string, params: QueryParam[]): VerifiedRequest {
    const parts = parseAuthorizationHeader(authorization);
    const cred = parseCredential(parts.credential);
    if (cred === undefined) {
      throw new S3Error(
        'AuthorizationHeaderMalformed',
        'The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
      );
    }
    if (cred.service !== service) {
      throw new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; incorrect service "${cred.service}". This endpoint belongs to "${service}".`);
    }

    // Request time: x-amz-date, else Date.
    let requestMs: number | undefined;
    let amzDate: string;
    const xAmzDate = headerString(request.headers['x-amz-date']);
    if (xAmzDate !== undefined) {
      amzDate = xAmzDate.trim();
      requestMs = parseAmzDate(amzDate);
    } else {
      const date = headerString(request.headers.date);
      const parsed = date === undefined ? NaN : Date.parse(date);
      requestMs = Number.isNaN(parsed) ? undefined : parsed;
      amzDate = requestMs === undefined ? '' : formatAmzDate(requestMs);
    }
    if (requestMs === undefined) {
      throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    }
    if (amzDate.slice(0, 8) !== cred.date) {
      throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.');
    }
    if (regionStrict && cred.region !== serverRegion) {
      throw new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${cred.region}' is wrong; expecting '${serverRegion}'`, {
        details: { Region: serverRegion },
      });
    }
    const nowMs = clock.now().getTime();
    if (Math.abs(nowMs - requestMs) > maxSkewMs) {
      throw new S3Error('RequestTimeTooSkewed', undefined, {
        details: {
          RequestTime: amzDate,
          ServerTime: new Date(nowMs).toISOString(),
          MaxAllowedSkewMilliseconds: String(maxSkewMs),
        },
      });
    }
    const signedHeaders = parseSignedHeaders(parts.signedHeaders);
    if (signedHeaders === undefined) {
      throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed; invalid SignedHeaders.');
    }
    if (!signedHeaders.includes('host')) {
      throw new S3Error('AuthorizationHeaderMalformed', "The authorization header is malformed; 'Host' must be a signed header.");
    }
    const contentSha = headerString(request.headers['x-amz-content-sha256']);
    if (contentSha === undefined) {
      throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    }
    const payloadHash = contentSha.trim();
    const payload = parsePayloadMode(payloadHash);

    const { scope, signingKey } = signingKeyFor(cred);
    const seedSignature = checkSignature(request, { path, params, rawQuery }, false, signedHeaders, payloadHash, amzDate, scope, signingKey, parts.signature, cred.accessKeyId);
    rejectUnsignedAmzHeaders(request.headers, signedHeaders);
    return {
      accessKeyId: cred.accessKeyId,
      auth: 'header',
      payload,
      signingKey,
      seedSignature,
      scope,
      amzDate,
      region: cred.region,
      signedHeaders,
      requestTime: new Date(requestMs),
    };
  }

  function queryError(message: string, details?: Record<string, string>): S3Error {
    return new S3Error('AuthorizationQueryParametersError', message, details ? { details } : {});
  }

  function verifyPresigned(request: SigV4Request, path: string, rawQuery: string, params: QueryParam[], q: Map<string, string>): VerifiedRequest {
    const algorithm = q.get('X-Amz-Algorithm');
    const credential = q.get('X-Amz-Credential');
    const date = q.get('X-Amz-Date');
    const expires = q.get('X-Amz-Expires');
    const signedHeadersParam = q.get('X-Amz-SignedHeaders');
    const signature = q.get('X-Amz-Signature');
    if (algorithm !== undefined && algorithm !== ALGORITHM) {
      if (algorithm === 'AWS4-ECDSA-P256-SHA256') {
        throw new S3Error('NotImplemented', 'SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.');
      }
      throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    }
    if (algorithm === undefined || credential === undefined || date === undefined || expires === undefined || signedHeadersParam === undefined || signature === undefined) {
      throw queryError(
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, ' +
          'X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
    const cred = parseCredential(credential);
    if (cred === undefined) {
      throw queryError('Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
    }
    if (cred.service !== service) {
      throw queryError(`Error parsing the X-Amz-Credential parameter; incorrect service "${cred.service}". This endpoint belongs to "${service}".`);
    }
    const requestMs = parseAmzDate(date);
    if (requestMs === undefined) {
      throw queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
    }
    if (date.slice(0, 8) !== cred.date) {
      throw queryError('Error parsing the X-Amz-Credential parameter; Invalid credential date. Date is not the same as X-Amz-Date.');
    }
    if (!isDigits(expires, 0, expires.length) || expires.length > 10) {
      throw queryError('X-Amz-Expires should be a number');
    }
    const expiresSeconds = Number(expires);
    if (expiresSeconds > MAX_PRESIGNED_EXPIRES_SECONDS) {
      throw queryError('X-Amz-Expires must be less than a week (in seconds) that is 604800');
    }
    if (expiresSeconds < 1) {
      throw queryError('X-Amz-Expires must be at least 1 second');
    }
    if (regionStrict && cred.region !== serverRegion) {
      throw queryError(`Error parsing the X-Amz-Credential parameter; the region '${cred.region}' is wrong; expecting '${serverRegion}'`, { Region: serverRegion });
    }
    const nowMs = clock.now().getTime();
    const expiresAtMs = requestMs + expiresSeconds * 1000;
    if (nowMs > expiresAtMs) {
      throw new S3Error('AccessDenied', 'Request has expired', {
        details: {
          'X-Amz-Expires': expires,
          Expires: new Date(expiresAtMs).toISOString(),
          ServerTime: new Date(nowMs).toISOString(),
        },
      });
    }
    if (requestMs - nowMs > maxSkewMs) {
      throw new S3Error('AccessDenied', 'Request is not valid yet', {
        details: { 'X-Amz-Date': date, ServerTime: new Date(nowMs).toISOString() },
      });
    }
    const signedHeaders = parseSignedHeaders(signedHeadersParam);
    if (signedHeaders === undefined) throw queryError('X-Amz-SignedHeaders is malformed.');
    if (!signedHeaders.includes('host')) throw queryError("'Host' must be a signed header.");

    // Payload hash: presigned URLs are UNSIGNED-PAYLOAD unless the client signed a content hash.
    let payloadHash = UNSIGNED_PAYLOAD;
    if (signedHeaders.includes('x-amz-content-sha256')) {
      payloadHash = (headerString(request.headers['x-amz-content-sha256']) ?? '').trim();
    } else {
      // Presigners hoist x-amz-* headers into the query, keeping whatever case they had.
      for (const [name, value] of q) {
        if (name.length === 20 && name.toLowerCase() === 'x-amz-content-sha256') {
          payloadHash = value;
          break;
        }
      }
    }
    const payload = parsePayloadMode(payloadHash);

    const { scope, signingKey } = signingKeyFor(cred);
    const seedSignature = checkSignature(request, { path, params, rawQuery }, true, signedHeaders, payloadHash, date, scope, signingKey, signature, cred.accessKeyId);
    rejectUnsignedAmzHeaders(request.headers, signedHeaders);
    return {
      accessKeyId: cred.accessKeyId,
      auth: 'presigned',
      payload,
      signingKey,
      seedSignature,
      scope,
      amzDate: date,
      region: cred.region,
      signedHeaders,
      requestTime: new Date(requestMs),
      expiresAt: new Date(expiresAtMs),
    };
  }

  return {
    verify(request) {
      const { path, query } = request.target;
      const params = splitQuery(query);
      const authorization = headerString(request.headers.authorization);

      let q: Map<string, string> | undefined;
      let queryAuth = false;
      let queryV2 = false;
      if (params.length > 0) {
        q = decodeQuery(params);
        queryAuth = q.has('X-Amz-Algorithm') || q.has('X-Amz-Credential') || q.has('X-Amz-Signature');
        queryV2 = !queryAuth && q.has('AWSAccessKeyId') && q.has('Signature');
      }

      if (authorization !== undefined && queryAuth) {
        throw new S3Error(
          'InvalidArgument',
          'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
          { details: { ArgumentName: 'Authorization', ArgumentValue: authorization.slice(0, 64) } },
        );
      }
      if (authorization !== undefined) return verifyHeaderAuth(request, authorization, path, query, params);
      if (queryAuth) return verifyPresigned(request, path, query, params, q!);
      if (queryV2) throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
      throw new S3Error('AccessDenied');
    },
  };
}
