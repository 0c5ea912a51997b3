import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { BucketsUsecases } from '../../src/buckets/buckets.usecases.ts';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { document, node, opt, s3XmlParser, text } from '../../src/s3-protocol/xml.ts';
import type { RequestTarget } from './request-target.ts';
import { emptyResponse, type S3Reply } from './responses.ts';

/**
 * Bucket CORS (PutBucketCors / GetBucketCors / DeleteBucketCors, preflight `OPTIONS`, and the
 * `Access-Control-*` headers of actual responses) with AWS's rule semantics: the first rule whose
 * origin, method (and, for a preflight, every requested header) match decides.
 */

export const CORS_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const;
export type CorsMethod = (typeof CORS_METHODS)[number];

/** One CORSRule as stored in `buckets.cors` (JSON) and echoed by GetBucketCors, values as the client sent them. */
export interface CorsRule {
  id?: string;
  allowedOrigins: string[];
  allowedMethods: CorsMethod[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

/** AWS's limit on rules per configuration. */
export const MAX_CORS_RULES = 100;
const MAX_RULE_ID_LENGTH = 255;

const parser = s3XmlParser((name) => ['CORSRule', 'AllowedOrigin', 'AllowedMethod', 'AllowedHeader', 'ExposeHeader', 'ID', 'MaxAgeSeconds'].includes(name));

function isCorsMethod(value: string): value is CorsMethod {
  return (CORS_METHODS as readonly string[]).includes(value);
}

function countStars(value: string): number {
  let stars = 0;
  for (let i = value.indexOf('*'); i !== -1; i = value.indexOf('*', i + 1)) stars += 1;
  return stars;
}

/** Leaf values of one repeated element: strings only (a nested element is not schema-valid). */
function leafValues(rule: Record<string, unknown>, name: string): string[] {
  const values = rule[name];
  if (values === undefined) return [];
  if (!Array.isArray(values)) throw new S3Error('MalformedXML');
  return values.map((value) => {
    if (value === '') return '';
    if (typeof value !== 'string') throw new S3Error('MalformedXML');
    return value.trim();
  });
}

/**
 * Parses and validates a PutBucketCors body. Structural problems (not XML, no rule, a rule
 * without AllowedOrigin or AllowedMethod, a non-integer MaxAgeSeconds, more than 100 rules) are
 * `MalformedXML`; values S3 refuses by name (an unknown method, a second `*`, a wildcard
 * ExposeHeader) are `InvalidRequest` with AWS's message.
 */
export function parseCorsConfiguration(body: string): CorsRule[] {
  if (body.trim() === '') throw new S3Error('MalformedXML');
  let parsed: Record<string, unknown>;
  try {
    parsed = parser.parse(body, true) as Record<string, unknown>;
  } catch {
    throw new S3Error('MalformedXML');
  }
  const root = parsed.CORSConfiguration;
  if (root === null || typeof root !== 'object') throw new S3Error('MalformedXML');
  const ruleNodes = (root as Record<string, unknown>).CORSRule;
  if (!Array.isArray(ruleNodes) || ruleNodes.length === 0) throw new S3Error('MalformedXML');
  if (ruleNodes.length > MAX_CORS_RULES) throw new S3Error('MalformedXML', `The CORS configuration can have at most ${MAX_CORS_RULES} rules.`);
  return ruleNodes.map((ruleNode): CorsRule => {
    if (ruleNode === null || typeof ruleNode !== 'object') throw new S3Error('MalformedXML');
    const rule = ruleNode as Record<string, unknown>;
    const allowedOrigins = leafValues(rule, 'AllowedOrigin');
    const methods = leafValues(rule, 'AllowedMethod');
    const allowedHeaders = leafValues(rule, 'AllowedHeader');
    const exposeHeaders = leafValues(rule, 'ExposeHeader');
    const ids = leafValues(rule, 'ID');
    const maxAges = leafValues(rule, 'MaxAgeSeconds');
    if (allowedOrigins.length === 0 || methods.length === 0 || ids.length > 1 || maxAges.length > 1) throw new S3Error('MalformedXML');
    const allowedMethods = methods.map((method) => {
      if (!isCorsMethod(method)) throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`);
      return method;
    });
    for (const origin of allowedOrigins) {
      if (countStars(origin) > 1) throw new S3Error('InvalidRequest', `AllowedOrigin "${origin}" can not have more than one wildcard.`);
    }
    for (const header of allowedHeaders) {
      if (countStars(header) > 1) throw new S3Error('InvalidRequest', `AllowedHeader "${header}" can not have more than one wildcard.`);
    }
    for (const header of exposeHeaders) {
      if (header.includes('*')) throw new S3Error('InvalidRequest', `ExposeHeader "${header}" contains wildcard. We currently do not support wildcard for ExposeHeader.`);
    }
    let maxAgeSeconds: number | undefined;
    if (maxAges.length === 1) {
      if (!/^[0-9]{1,10}$/.test(maxAges[0])) throw new S3Error('MalformedXML');
      maxAgeSeconds = Number(maxAges[0]);
    }
    if (ids.length === 1 && ids[0].length > MAX_RULE_ID_LENGTH) throw new S3Error('InvalidArgument', `The ID of a CORS rule can be at most ${MAX_RULE_ID_LENGTH} characters.`);
    return {
      ...(ids.length === 1 && ids[0] !== '' ? { id: ids[0] } : {}),
      allowedOrigins,
      allowedMethods,
      allowedHeaders,
      exposeHeaders,
      ...(maxAgeSeconds === undefined ? {} : { maxAgeSeconds }),
    };
  });
}

/** GetBucketCors's document, elements in AWS's order. */
export function renderCorsConfiguration(rules: readonly CorsRule[]): string {
  return document(
    'CORSConfiguration',
    rules.map((rule) =>
      node(
        'CORSRule',
        opt('ID', rule.id),
        rule.allowedHeaders.map((header) => text('AllowedHeader', header)),
        rule.allowedMethods.map((method) => text('AllowedMethod', method)),
        rule.allowedOrigins.map((origin) => text('AllowedOrigin', origin)),
        rule.exposeHeaders.map((header) => text('ExposeHeader', header)),
        opt('MaxAgeSeconds', rule.maxAgeSeconds),
      ),
    ),
  );
}

/** The stored `buckets.cors` value as rules (it was validated by `parseCorsConfiguration` before it was stored). */
export function storedCorsRules(stored: unknown[] | null | undefined): readonly CorsRule[] | undefined {
  return stored && stored.length > 0 ? (stored as CorsRule[]) : undefined;
}

/** A pattern with at most one `*` (any run of characters, possibly empty); no regex per request. */
function wildcardMatch(pattern: string, value: string): boolean {
  const star = pattern.indexOf('*');
  if (star === -1) return pattern === value;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return value.length >= prefix.length + suffix.length && value.startsWith(prefix) && value.endsWith(suffix);
}

/** Origins compare case-sensitively, as S3 does; header names case-insensitively. */
function originAllowed(rule: CorsRule, origin: string): boolean {
  for (const pattern of rule.allowedOrigins) if (wildcardMatch(pattern, origin)) return true;
  return false;
}

function headerAllowed(rule: CorsRule, header: string): boolean {
  for (const pattern of rule.allowedHeaders) if (wildcardMatch(pattern.toLowerCase(), header)) return true;
  return false;
}

/** The first rule allowing `origin`, `method` and every one of `requestHeaders` (lowercase names). */
export function findCorsRule(rules: readonly CorsRule[], origin: string, method: string, requestHeaders: readonly string[] = []): CorsRule | undefined {
  for (const rule of rules) {
    if (!(rule.allowedMethods as readonly string[]).includes(method) || !originAllowed(rule, origin)) continue;
    if (requestHeaders.every((header) => headerAllowed(rule, header))) return rule;
  }
  return undefined;
}

const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

/**
 * The headers a matching rule grants: the origin echoed (or `*` for a rule allowing any origin,
 * as AWS answers; credentials are then not allowed), the rule's methods, exposed headers and max age.
 */
function grantHeaders(rule: CorsRule, origin: string): Record<string, string> {
  const anyOrigin = rule.allowedOrigins.includes('*');
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': anyOrigin ? '*' : origin,
    'Access-Control-Allow-Methods': rule.allowedMethods.join(', '),
    Vary: VARY,
  };
  if (!anyOrigin) headers['Access-Control-Allow-Credentials'] = 'true';
  if (rule.exposeHeaders.length > 0) headers['Access-Control-Expose-Headers'] = rule.exposeHeaders.join(', ');
  if (rule.maxAgeSeconds !== undefined) headers['Access-Control-Max-Age'] = String(rule.maxAgeSeconds);
  return headers;
}

/**
 * Sets the CORS headers of an actual (non-preflight) response on `outgoing`, so they go out with
 * whatever is written next: an XML reply, a streamed object, an error document. Nothing when no
 * rule matches: the browser then withholds the response from the page.
 */
export function applyCorsHeaders(outgoing: ServerResponse, rules: readonly CorsRule[] | undefined, origin: string, method: string): void {
  if (!rules) return;
  const rule = findCorsRule(rules, origin, method);
  if (!rule) return;
  const headers = grantHeaders(rule, origin);
  for (const name in headers) outgoing.setHeader(name, headers[name]);
}

const NOT_ALLOWED =
  "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `Access-Control-Request-Headers` as lowercase names, empty entries dropped. */
function requestedHeaders(value: string | undefined): string[] {
  if (!value) return [];
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '') names.push(name);
  }
  return names;
}

/**
 * Answers a preflight `OPTIONS` from `rules` (the bucket's configuration, undefined when none
 * applies); it carries no credentials, so nothing else is consulted. 400 without `Origin` or with
 * a method CORS cannot allow; 403 AccessForbidden when no rule matches or there is no configuration.
 */
export function preflightReply(rules: readonly CorsRule[] | undefined, headers: IncomingHttpHeaders, onObject: boolean): S3Reply {
  const origin = single(headers.origin);
  if (origin === undefined || origin === '') throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.');
  const method = single(headers['access-control-request-method']) ?? '';
  if (!isCorsMethod(method)) throw new S3Error('BadRequest', `Invalid Access-Control-Request-Method: ${method}`);
  const asked = requestedHeaders(single(headers['access-control-request-headers']));
  const rule = rules ? findCorsRule(rules, origin, method, asked) : undefined;
  if (!rule) throw new S3Error('AccessForbidden', NOT_ALLOWED, { details: { Method: method, ResourceType: onObject ? 'OBJECT' : 'BUCKET' } });
  const granted = grantHeaders(rule, origin);
  // The requested headers are echoed (all of them matched the rule), as S3 does.
  if (asked.length > 0) granted['Access-Control-Allow-Headers'] = asked.join(', ');
  return emptyResponse(200, granted);
}

/** What the CORS paths need of the buckets use cases: the caller's (cached) resolution and the credential-less lookup. */
type CorsBuckets = Pick<BucketsUsecases, 'resolve' | 'corsForPreflight'>;

/** Preflight `OPTIONS /bucket[/key]`: no credentials, so the bucket is chosen by name alone (`corsForPreflight`). */
export async function corsPreflight(buckets: CorsBuckets, target: Pick<RequestTarget, 'bucket' | 'key'>, headers: IncomingHttpHeaders): Promise<S3Reply> {
  const rules = target.bucket ? storedCorsRules(await buckets.corsForPreflight(target.bucket)) : undefined;
  return preflightReply(rules, headers, target.key !== undefined);
}

/**
 * The CORS headers of an actual request carrying `Origin`: from the caller's own bucket of that
 * name when the caller is known (`userId`), else (anonymous, or failed before authentication)
 * from the bucket a preflight would use. Only called for requests with `Origin`.
 */
export async function applyRequestCors(
  buckets: CorsBuckets,
  userId: string | undefined,
  bucket: string | undefined,
  origin: string,
  method: string,
  outgoing: ServerResponse,
): Promise<void> {
  if (!bucket) return;
  let stored: unknown[] | null | undefined;
  if (userId === undefined) stored = await buckets.corsForPreflight(bucket);
  else {
    const resolution = await buckets.resolve(userId, bucket);
    stored = resolution.kind === 'owned' ? resolution.bucket.cors : undefined;
  }
  applyCorsHeaders(outgoing, storedCorsRules(stored), origin, method);
}
