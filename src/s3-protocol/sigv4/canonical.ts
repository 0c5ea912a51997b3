/**
 * SigV4 canonical-request construction, S3 flavour, from the RAW request target as Node
 * received it (`IncomingMessage.url`), never from a WHATWG `URL` (which resolves `.`/`..`,
 * merges nothing we want merged and re-encodes differently).
 *
 * S3 rules implemented here:
 * - Canonical URI: the path as sent, split on literal `/`; every segment is percent-decoded
 *   (byte-wise) and re-encoded with the AWS unreserved set `A-Z a-z 0-9 - _ . ~`, so `%2f` in a
 *   segment stays `%2F`, a literal `+` becomes `%2B`, `%7E` becomes `~`. No double encoding,
 *   no `.`/`..` resolution, empty segments (`//`) kept.
 * - Canonical query: split on `&`, each name/value decoded then AWS-encoded (`=` → `%3D` etc.),
 *   sorted by encoded name then encoded value; a parameter without `=` gets an empty value.
 * - Canonical headers: lower-case names, values trimmed with internal whitespace runs collapsed
 *   to one space, repeated headers joined with `,` (needs `rawHeaders`; Node's `headers` object
 *   joins with `, ` and even drops duplicates of some headers).
 */
import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../../errors/s3-errors.ts';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// ---------------------------------------------------------------------------------------------
// Byte tables

/** 1 for bytes in the AWS unreserved set. */
const UNRESERVED = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  UNRESERVED[c] = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x7e ? 1 : 0;
}

/** Encoded form of every byte: itself when unreserved, `%XX` (upper-case hex) otherwise. */
const ENCODED_BYTE: string[] = [];
for (let c = 0; c < 256; c++) {
  ENCODED_BYTE[c] = UNRESERVED[c] ? String.fromCharCode(c) : '%' + c.toString(16).toUpperCase().padStart(2, '0');
}

/** Hex digit value, or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX_VALUE[0x41 + c] = 10 + c;
  HEX_VALUE[0x61 + c] = 10 + c;
}

function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? HEX_VALUE[c] : -1;
}

// ---------------------------------------------------------------------------------------------
// Encoding / decoding

function encodeBytes(bytes: Uint8Array, keepSlash: boolean): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    out += keepSlash && b === 0x2f ? '/' : ENCODED_BYTE[b];
  }
  return out;
}

/**
 * AWS `UriEncode()`: UTF-8 bytes, unreserved characters kept, everything else `%XX`
 * (upper-case). `/` is kept only when `encodeSlash` is false.
 */
export function awsUriEncode(value: string, encodeSlash = true): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || (!UNRESERVED[c] && (encodeSlash || c !== 0x2f))) {
      return encodeBytes(Buffer.from(value, 'utf8'), !encodeSlash);
    }
  }
  return value;
}

/**
 * Percent-decodes `s` into raw bytes. Literal characters are taken as UTF-8; a `%` not followed
 * by two hex digits is kept literally (it will be re-encoded as `%25`). With `plusAsSpace`, a
 * literal `+` decodes to a space (form encoding).
 */
export function percentDecodeBytes(s: string, plusAsSpace = false): Buffer {
  const out = Buffer.allocUnsafe(Buffer.byteLength(s, 'utf8'));
  let pos = 0;
  let runStart = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */ && i + 2 < s.length) {
      const hi = hexAt(s, i + 1);
      const lo = hexAt(s, i + 2);
      if (hi >= 0 && lo >= 0) {
        if (i > runStart) pos += out.write(s.slice(runStart, i), pos, 'utf8');
        out[pos++] = (hi << 4) | lo;
        i += 2;
        runStart = i + 1;
      }
    } else if (c === 0x2b /* + */ && plusAsSpace) {
      if (i > runStart) pos += out.write(s.slice(runStart, i), pos, 'utf8');
      out[pos++] = 0x20;
      runStart = i + 1;
    }
  }
  if (runStart < s.length) pos += out.write(s.slice(runStart), pos, 'utf8');
  return out.subarray(0, pos);
}

/** Percent-decodes to a (UTF-8) string; never throws, unlike `decodeURIComponent`. */
export function percentDecode(s: string, plusAsSpace = false): string {
  if (s.indexOf('%') === -1 && (!plusAsSpace || s.indexOf('+') === -1)) return s;
  return percentDecodeBytes(s, plusAsSpace).toString('utf8');
}

/**
 * Decode-then-AWS-encode one URI component (a path segment, a query name or value). Already
 * canonical input (the common case) is returned as is without allocating.
 */
export function normalizeUriComponent(s: string, plusAsSpace = false): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || !UNRESERVED[c]) return encodeBytes(percentDecodeBytes(s, plusAsSpace), false);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Request target

export interface RawTarget {
  /** Path exactly as sent (always starts with `/`). */
  path: string;
  /** Query without the `?`; '' when none. */
  query: string;
}

/**
 * Splits Node's `req.url` into path and query: the one parse of the request target. The gateway
 * derives the bucket, key and sub-resources from this value and the verifier signs this same
 * value, so what is signed and what is executed cannot disagree.
 *
 * Only origin-form (`/path?query`) is accepted. A raw `#` is refused rather than cut off: a
 * fragment is never sent by a conforming client, and dropping it for the signature while
 * something downstream kept it let `/b/k#x` or `?…#&tagging` run an unsigned operation.
 */
export function splitRawUrl(rawUrl: string): RawTarget {
  if (rawUrl.charCodeAt(0) !== 0x2f) throw new S3Error('InvalidURI', "Couldn't parse the specified URI.");
  if (rawUrl.indexOf('#') !== -1) throw new S3Error('InvalidURI', "Couldn't parse the specified URI: a request target may not contain '#'.");
  const q = rawUrl.indexOf('?');
  return q === -1 ? { path: rawUrl, query: '' } : { path: rawUrl.slice(0, q), query: rawUrl.slice(q + 1) };
}

/** S3 canonical URI (see module doc). */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  let simple = true;
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c !== 0x2f && (c >= 128 || !UNRESERVED[c])) {
      simple = false;
      break;
    }
  }
  if (simple) return rawPath;
  const segments = rawPath.split('/');
  for (let i = 0; i < segments.length; i++) segments[i] = normalizeUriComponent(segments[i]);
  return segments.join('/');
}

export interface QueryParam {
  /** Raw (as sent) name and value. */
  rawName: string;
  rawValue: string;
}

/** Splits a raw query string into parameters (empty pieces from `&&` are skipped). */
export function splitQuery(rawQuery: string): QueryParam[] {
  const params: QueryParam[] = [];
  if (rawQuery === '') return params;
  let start = 0;
  while (start <= rawQuery.length) {
    let end = rawQuery.indexOf('&', start);
    if (end === -1) end = rawQuery.length;
    if (end > start) {
      const eq = rawQuery.indexOf('=', start);
      if (eq === -1 || eq >= end) params.push({ rawName: rawQuery.slice(start, end), rawValue: '' });
      else params.push({ rawName: rawQuery.slice(start, eq), rawValue: rawQuery.slice(eq + 1, end) });
    }
    start = end + 1;
  }
  return params;
}

/** Decoded query parameters; the first occurrence of a name wins. */
export function decodeQuery(params: QueryParam[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const p of params) {
    const name = percentDecode(p.rawName);
    if (!map.has(name)) map.set(name, percentDecode(p.rawValue));
  }
  return map;
}

export interface CanonicalQueryOptions {
  /** Drop `X-Amz-Signature` (any case) — presigned URLs. */
  excludeSignature?: boolean;
  /** Treat a literal `+` as an encoded space (form encoding) instead of a literal plus. */
  plusAsSpace?: boolean;
}

/** S3 canonical query string (see module doc). */
export function canonicalQueryString(rawQuery: string | QueryParam[], options: CanonicalQueryOptions = {}): string {
  const params = typeof rawQuery === 'string' ? splitQuery(rawQuery) : rawQuery;
  if (params.length === 0) return '';
  const pairs: [string, string][] = [];
  for (const p of params) {
    const name = normalizeUriComponent(p.rawName, options.plusAsSpace);
    if (options.excludeSignature && name.length === 15 && name.toLowerCase() === 'x-amz-signature') continue;
    pairs.push([name, normalizeUriComponent(p.rawValue, options.plusAsSpace)]);
  }
  if (pairs.length > 1) {
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  }
  let out = '';
  for (let i = 0; i < pairs.length; i++) {
    if (i > 0) out += '&';
    out += pairs[i][0] + '=' + pairs[i][1];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Headers

const NEEDS_TRIM = /^\s|\s$|\s\s|[\t\n\r\v\f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;
const WHITESPACE_RUNS = /\s+/g;

/** AWS "Trimall": trim, and collapse each internal whitespace run into a single space. */
export function normalizeHeaderValue(value: string): string {
  if (!NEEDS_TRIM.test(value)) return value;
  return value.trim().replace(WHITESPACE_RUNS, ' ');
}

/**
 * Where `rawName` is among the (lower-case, few) signed names, matched without case; -1 when it is
 * not. A scan without allocation: lower-casing every raw header name and a Map per request cost
 * more than comparing against a handful of names, most of which differ in length.
 */
function signedIndexOf(names: readonly string[], rawName: string): number {
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name.length === rawName.length && (name === rawName || name === rawName.toLowerCase())) return i;
  }
  return -1;
}

/**
 * Values of the named (lower-case) headers, each normalised, repeated headers joined with `,`.
 * `host` falls back to HTTP/2's `:authority`. A missing header yields ''.
 */
export function signedHeaderValues(names: readonly string[], headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): string[] {
  const values: string[] = new Array(names.length);
  if (rawHeaders && rawHeaders.length > 0) {
    const found: (string | undefined)[] = new Array(names.length);
    let authority: string | undefined;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const at = signedIndexOf(names, rawHeaders[i]);
      if (at === -1) {
        if (rawHeaders[i] === ':authority') authority = rawHeaders[i + 1];
        continue;
      }
      const v = normalizeHeaderValue(rawHeaders[i + 1]);
      found[at] = found[at] === undefined ? v : found[at] + ',' + v;
    }
    for (let i = 0; i < names.length; i++) {
      let v = found[i];
      if (v === undefined && names[i] === 'host' && authority !== undefined) v = normalizeHeaderValue(authority);
      values[i] = v ?? '';
    }
    return values;
  }
  for (let i = 0; i < names.length; i++) {
    let raw = headers[names[i]];
    if (raw === undefined && names[i] === 'host') raw = headers[':authority'];
    if (raw === undefined) values[i] = '';
    else if (Array.isArray(raw)) values[i] = raw.map(normalizeHeaderValue).join(',');
    else values[i] = normalizeHeaderValue(String(raw));
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Canonical request

export interface CanonicalRequestInput {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  /** Lower-case, sorted signed header names. */
  signedHeaders: readonly string[];
  /** Values aligned with `signedHeaders`, already normalised. */
  headerValues: readonly string[];
  payloadHash: string;
}

export function buildCanonicalRequest(input: CanonicalRequestInput): string {
  let headerBlock = '';
  for (let i = 0; i < input.signedHeaders.length; i++) {
    headerBlock += input.signedHeaders[i] + ':' + input.headerValues[i] + '\n';
  }
  return input.method + '\n' + input.canonicalUri + '\n' + input.canonicalQuery + '\n' + headerBlock + '\n' + input.signedHeaders.join(';') + '\n' + input.payloadHash;
}

export function sha256Hex(data: string | Uint8Array): string {
  // One-shot: a third of createHash().update().digest()'s cost for the small inputs signed here.
  return hash('sha256', data, 'hex');
}

/** `AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex(sha256(canonicalRequest))>` */
export function buildStringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return 'AWS4-HMAC-SHA256\n' + amzDate + '\n' + scope + '\n' + sha256Hex(canonicalRequest);
}
