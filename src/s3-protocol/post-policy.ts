/**
 * S3 POST Object (browser form uploads): the policy document and its SigV4 form signature.
 *
 * A form carries its own credentials: `policy` (base64 JSON: `expiration` and `conditions`) and
 * `x-amz-signature`, the SigV4 HMAC of the base64 policy text under the signing key of
 * `x-amz-credential` (`<akid>/<yyyymmdd>/<region>/s3/aws4_request`); or, Signature Version 2
 * (what boto3 presigns for us-east-1), `AWSAccessKeyId` and `signature`, the base64 HMAC-SHA1 of
 * the policy under the secret. The signature proves the policy; the policy bounds what the form
 * may do: every form field but `file`, `policy`, the signature's own fields and `x-ignore-*` must
 * be named by a condition, and every condition must hold.
 * Messages are AWS's, so tools that show them read as they do against S3.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from '../errors/s3-errors.ts';
import { deriveSigningKey, type SigningKeyCache } from './sigv4/signing-key-cache.ts';
import { ALGORITHM } from './sigv4/verify.ts';

export type PolicyCondition =
  | { kind: 'eq'; field: string; value: string; text: string }
  | { kind: 'starts-with'; field: string; prefix: string; text: string }
  | { kind: 'content-length-range'; min: number; max: number; text: string };

export interface PostPolicy {
  /** Epoch ms after which the policy is refused. */
  expiresAt: number;
  conditions: PolicyCondition[];
}

/** Form fields by lower-case name (S3 matches field names case-insensitively, values exactly). */
export type FormFields = ReadonlyMap<string, string>;

/** Fields a policy need not name (AWS's list; `signatureFields` are the signature version's own). */
function exemptFromPolicy(name: string, signatureFields: readonly string[]): boolean {
  return name === 'policy' || name === 'file' || name.startsWith('x-ignore-') || signatureFields.includes(name);
}

const invalidPolicy = (message: string) => new S3Error('InvalidPolicyDocument', `Invalid Policy: ${message}`);
const policyRefusal = (message: string) => new S3Error('AccessDenied', `Invalid according to Policy: ${message}`);

/** `2026-11-30T12:00:00Z` or with fractional seconds: ISO 8601 in UTC, as S3 requires. */
const EXPIRATION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** A condition's field operand: `$key` names the form field `key` (any case). */
function fieldOperand(operand: unknown): string | undefined {
  return typeof operand === 'string' && operand.startsWith('$') && operand.length > 1 ? operand.slice(1).toLowerCase() : undefined;
}

function lengthBound(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

/** A condition as AWS quotes it in refusals: `["starts-with", "$key", "user/"]`. */
const conditionText = (items: unknown[]): string => `[${items.map((item) => JSON.stringify(item)).join(', ')}]`;

function parseCondition(raw: unknown): PolicyCondition[] {
  // `{"bucket": "photos"}`: exact matches, one per property.
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    return Object.entries(raw).map(([name, value]) => {
      if (typeof value !== 'string') throw invalidPolicy(`Invalid Simple-Condition: value must be a string.`);
      return { kind: 'eq', field: name.toLowerCase(), value, text: conditionText(['eq', `$${name}`, value]) };
    });
  }
  if (!Array.isArray(raw) || raw.length !== 3 || typeof raw[0] !== 'string')
    throw invalidPolicy('Invalid Condition: each condition must be an object or a list of three elements.');
  const operator = raw[0].toLowerCase();
  const text = conditionText(raw);
  if (operator === 'content-length-range') {
    const min = lengthBound(raw[1]);
    const max = lengthBound(raw[2]);
    if (min === undefined || max === undefined || min > max) throw invalidPolicy('Invalid content-length-range: expecting two non-negative integers, minimum first.');
    return [{ kind: 'content-length-range', min, max, text }];
  }
  const field = fieldOperand(raw[1]);
  if (field === undefined || typeof raw[2] !== 'string') throw invalidPolicy(`Invalid Condition: ${text}`);
  if (operator === 'eq') return [{ kind: 'eq', field, value: raw[2], text }];
  if (operator === 'starts-with') return [{ kind: 'starts-with', field, prefix: raw[2], text }];
  throw invalidPolicy(`Unknown condition operator: ${raw[0]}`);
}

/** Decodes and validates a `policy` field; a malformed document is InvalidPolicyDocument (400). */
export function parsePostPolicy(base64: string): PostPolicy {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions } = document as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  if (typeof expiration !== 'string' || !EXPIRATION.test(expiration) || Number.isNaN(Date.parse(expiration)))
    throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  if (conditions === undefined) throw invalidPolicy('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw invalidPolicy("Invalid 'conditions' value: must be a List.");
  return { expiresAt: Date.parse(expiration), conditions: conditions.flatMap(parseCondition) };
}

/**
 * Checks the form against the policy (the signature was checked first): not expired, every
 * condition holds, no field left unnamed. `bucket` is the bucket the request addresses, whatever
 * the form says. Answers the byte range the file must fall in, when the policy sets one.
 */
export function checkPostPolicy(
  policy: PostPolicy,
  fields: FormFields,
  bucket: string,
  nowMs: number,
  signatureFields: readonly string[] = SIGV4_FIELDS,
): { min: number; max: number } | undefined {
  if (nowMs > policy.expiresAt) throw policyRefusal('Policy expired.');
  const fieldValue = (field: string) => (field === 'bucket' ? bucket : (fields.get(field) ?? ''));
  const named = new Set<string>();
  let range: { min: number; max: number } | undefined;
  for (const condition of policy.conditions) {
    if (condition.kind === 'content-length-range') {
      // Several ranges: the file must satisfy each of them.
      range = range ? { min: Math.max(range.min, condition.min), max: Math.min(range.max, condition.max) } : { min: condition.min, max: condition.max };
      continue;
    }
    named.add(condition.field);
    const value = fieldValue(condition.field);
    const holds =
      condition.kind === 'eq'
        ? value === condition.value
        : // S3 applies a Content-Type prefix to each of a comma-separated list of types.
          condition.field === 'content-type' && value.includes(',')
          ? value.split(',').every((part) => part.trim().startsWith(condition.prefix))
          : value.startsWith(condition.prefix);
    if (!holds) throw policyRefusal(`Policy Condition failed: ${condition.text}`);
  }
  // The bucket is the URL's: a `bucket` field adds nothing a condition could miss.
  const extra = [...fields.keys()].filter((name) => !exemptFromPolicy(name, signatureFields) && name !== 'bucket' && !named.has(name));
  if (extra.length > 0) throw policyRefusal(`Extra input fields: ${extra.join(', ')}`);
  return range;
}

/** Fields that carry the signature itself, which the policy cannot name. */
const SIGV4_FIELDS: readonly string[] = ['x-amz-signature'];
const SIGV2_FIELDS: readonly string[] = ['awsaccesskeyid', 'signature'];

export interface PostCredential {
  accessKeyId: string;
  /** The signature's own fields, exempt from the policy (pass to checkPostPolicy). */
  signatureFields: readonly string[];
}

export interface PostSignatureVerifier {
  /** Checks the SigV4 form fields; answers who signed. Throws S3 errors as AWS answers them. */
  verify(fields: FormFields): PostCredential;
}

function missingField(name: string): S3Error {
  return new S3Error('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, {
    details: { ArgumentName: name, ArgumentValue: '' },
  });
}

function parseCredential(value: string): { accessKeyId: string; date: string; region: string; service: string } | undefined {
  const parts = value.split('/');
  if (parts.length < 5 || parts[parts.length - 1] !== 'aws4_request') return undefined;
  const [service, region, date] = [parts[parts.length - 2]!, parts[parts.length - 3]!, parts[parts.length - 4]!];
  const accessKeyId = parts.slice(0, parts.length - 4).join('/');
  if (accessKeyId === '' || region === '' || !/^\d{8}$/.test(date)) return undefined;
  return { accessKeyId, date, region, service };
}

export function createPostSignatureVerifier(options: {
  lookupSecret: (accessKeyId: string) => string | undefined;
  region: string;
  regionStrict: boolean;
  signingKeyCache?: SigningKeyCache;
  /** Accept Signature Version 2 forms (S3_SIGV2). */
  sigV2?: boolean;
}): PostSignatureVerifier {
  const secretOf = (accessKeyId: string): string => {
    const secret = options.lookupSecret(accessKeyId);
    if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { details: { AWSAccessKeyId: accessKeyId } });
    return secret;
  };

  function verifyV2(fields: FormFields, policy: string, accessKeyId: string): PostCredential {
    if (!options.sigV2) throw new S3Error('InvalidRequest', 'Signature Version 2 is disabled on this server (S3_SIGV2=false); sign the form with AWS4-HMAC-SHA256.');
    const signature = fields.get('signature');
    if (signature === undefined) throw missingField('Signature');
    const expected = createHmac('sha1', secretOf(accessKeyId)).update(policy).digest();
    const provided = Buffer.from(signature, 'base64');
    if (provided.length !== expected.length || !timingSafeEqual(expected, provided))
      throw new S3Error('SignatureDoesNotMatch', undefined, { details: { AWSAccessKeyId: accessKeyId } });
    return { accessKeyId, signatureFields: SIGV2_FIELDS };
  }

  const signingKey = (accessKeyId: string, secret: string, date: string, region: string) =>
    options.signingKeyCache ? options.signingKeyCache.get(accessKeyId, secret, date, region, 's3') : deriveSigningKey(secret, date, region, 's3');
  return {
    verify(fields) {
      const policy = fields.get('policy');
      if (policy === undefined) throw missingField('Policy');
      const v2AccessKeyId = fields.get('awsaccesskeyid');
      if (v2AccessKeyId !== undefined && !fields.has('x-amz-algorithm')) return verifyV2(fields, policy, v2AccessKeyId);
      const algorithm = fields.get('x-amz-algorithm');
      if (algorithm === undefined) throw missingField('X-Amz-Algorithm');
      if (algorithm !== ALGORITHM) {
        throw new S3Error('InvalidArgument', `Unsupported algorithm: ${algorithm}; only ${ALGORITHM} is supported.`, {
          details: { ArgumentName: 'x-amz-algorithm', ArgumentValue: algorithm },
        });
      }
      const credentialField = fields.get('x-amz-credential');
      if (credentialField === undefined) throw missingField('X-Amz-Credential');
      const amzDate = fields.get('x-amz-date');
      if (amzDate === undefined) throw missingField('X-Amz-Date');
      const signature = fields.get('x-amz-signature');
      if (signature === undefined) throw missingField('X-Amz-Signature');
      const credential = parseCredential(credentialField);
      const malformed = (why: string) =>
        new S3Error('InvalidArgument', `Invalid x-amz-credential: ${why}`, { details: { ArgumentName: 'x-amz-credential', ArgumentValue: credentialField } });
      if (!credential) throw malformed('expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
      if (credential.service !== 's3') throw malformed(`incorrect service "${credential.service}". This endpoint belongs to "s3".`);
      if (!amzDate.startsWith(credential.date)) throw malformed('the credential date is not the date of x-amz-date.');
      if (options.regionStrict && credential.region !== options.region) throw malformed(`the region '${credential.region}' is wrong; expecting '${options.region}'.`);
      const secret = secretOf(credential.accessKeyId);
      const expected = createHmac('sha256', signingKey(credential.accessKeyId, secret, credential.date, credential.region))
        .update(policy)
        .digest();
      const provided = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : undefined;
      if (!provided || !timingSafeEqual(expected, provided)) throw new S3Error('SignatureDoesNotMatch', undefined, { details: { AWSAccessKeyId: credential.accessKeyId } });
      return { accessKeyId: credential.accessKeyId, signatureFields: SIGV4_FIELDS };
    },
  };
}
