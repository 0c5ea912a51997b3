import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isS3Error } from '../errors/s3-errors.ts';
import { checkPostPolicy, createPostSignatureVerifier, parsePostPolicy } from './post-policy.ts';

const NOW = Date.parse('2026-11-30T08:00:00Z');
const encode = (policy: unknown) => Buffer.from(JSON.stringify(policy)).toString('base64');
const policyOf = (conditions: unknown[], expiration = '2026-11-30T09:00:00.000Z') => parsePostPolicy(encode({ expiration, conditions }));
const fields = (entries: Record<string, string>) => new Map(Object.entries(entries).map(([name, value]) => [name.toLowerCase(), value]));

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (isS3Error(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('POST policy documents', () => {
  it('accepts eq, starts-with (empty prefix: anything), the object form and content-length-range, and answers the range', () => {
    const policy = policyOf([
      { bucket: 'photos' },
      ['starts-with', '$key', 'user/'],
      ['eq', '$x-amz-meta-kind', 'cat'],
      ['starts-with', '$Content-Type', ''],
      ['content-length-range', 10, 100],
    ]);
    const range = checkPostPolicy(
      policy,
      fields({ key: 'user/a.jpg', 'x-amz-meta-kind': 'cat', 'Content-Type': 'image/jpeg', policy: 'p', 'x-amz-signature': 's', file: '' }),
      'photos',
      NOW,
    );
    expect(range).toEqual({ min: 10, max: 100 });
  });

  it("refuses each failed condition with AWS's message, quoting the condition", () => {
    const policy = policyOf([{ bucket: 'photos' }, ['starts-with', '$key', 'user/'], ['eq', '$x-amz-meta-kind', 'cat']]);
    expect(refusal(() => checkPostPolicy(policy, fields({ key: 'other/a', 'x-amz-meta-kind': 'cat' }), 'photos', NOW))).toEqual({
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/"]',
    });
    expect(refusal(() => checkPostPolicy(policy, fields({ key: 'user/a', 'x-amz-meta-kind': 'dog' }), 'photos', NOW)).message).toBe(
      'Invalid according to Policy: Policy Condition failed: ["eq", "$x-amz-meta-kind", "cat"]',
    );
    // The bucket is the one the request addresses, whatever a `bucket` field claims.
    expect(refusal(() => checkPostPolicy(policy, fields({ key: 'user/a', 'x-amz-meta-kind': 'cat', bucket: 'photos' }), 'other', NOW)).message).toBe(
      'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "photos"]',
    );
  });

  it('refuses a field no condition names (extra input fields), but not policy, x-amz-signature, file or x-ignore-*', () => {
    const policy = policyOf([['starts-with', '$key', '']]);
    expect(refusal(() => checkPostPolicy(policy, fields({ key: 'a', 'x-amz-meta-sneaky': '1' }), 'b', NOW)).message).toBe(
      'Invalid according to Policy: Extra input fields: x-amz-meta-sneaky',
    );
    expect(checkPostPolicy(policy, fields({ key: 'a', policy: 'x', 'X-Amz-Signature': 'y', file: 'z', 'x-ignore-anything': '1' }), 'b', NOW)).toBeUndefined();
  });

  it('refuses an expired policy and a malformed one', () => {
    expect(refusal(() => checkPostPolicy(policyOf([], '2026-11-30T07:59:59Z'), fields({}), 'b', NOW))).toEqual({
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy expired.',
    });
    expect(refusal(() => parsePostPolicy(encode({ conditions: [] }))).code).toBe('InvalidPolicyDocument');
    expect(refusal(() => parsePostPolicy(encode({ expiration: 'tomorrow', conditions: [] }))).code).toBe('InvalidPolicyDocument');
    expect(refusal(() => parsePostPolicy(encode({ expiration: '2026-11-30T09:00:00Z', conditions: {} }))).code).toBe('InvalidPolicyDocument');
    expect(refusal(() => parsePostPolicy(encode({ expiration: '2026-11-30T09:00:00Z', conditions: [['matches', '$key', '.*']] }))).code).toBe('InvalidPolicyDocument');
    expect(refusal(() => parsePostPolicy(encode({ expiration: '2026-11-30T09:00:00Z', conditions: [['content-length-range', 10, 1]] }))).code).toBe('InvalidPolicyDocument');
    expect(refusal(() => parsePostPolicy('not base64 json')).code).toBe('InvalidPolicyDocument');
  });
});

describe('POST form signatures (SigV4)', () => {
  const secret = 'secret-key';
  const verifier = createPostSignatureVerifier({ lookupSecret: (id) => (id === 'AKID' ? secret : undefined), region: 'eu-central-1', regionStrict: true });
  const sign = (policy: string, date = '20261130', region = 'eu-central-1') => {
    let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
    for (const part of [region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    return createHmac('sha256', key).update(policy).digest('hex');
  };
  const form = (overrides: Record<string, string> = {}) =>
    fields({
      policy: 'cG9saWN5',
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-credential': 'AKID/20261130/eu-central-1/s3/aws4_request',
      'x-amz-date': '20261130T080000Z',
      'x-amz-signature': sign('cG9saWN5'),
      ...overrides,
    });

  it('accepts the HMAC of the base64 policy under the credential’s signing key', () => {
    expect(verifier.verify(form())).toEqual({ accessKeyId: 'AKID', signatureFields: ['x-amz-signature'] });
  });

  it('refuses a wrong signature, an unknown key, a missing field, another service, region or date', () => {
    expect(refusal(() => verifier.verify(form({ 'x-amz-signature': sign('other') }))).code).toBe('SignatureDoesNotMatch');
    expect(refusal(() => verifier.verify(form({ 'x-amz-signature': 'zz' }))).code).toBe('SignatureDoesNotMatch');
    expect(refusal(() => verifier.verify(form({ policy: 'cG9saWN6' }))).code).toBe('SignatureDoesNotMatch');
    expect(refusal(() => verifier.verify(form({ 'x-amz-credential': 'NOPE/20261130/eu-central-1/s3/aws4_request' }))).code).toBe('InvalidAccessKeyId');
    const missing = fields({ policy: 'cG9saWN5', 'x-amz-algorithm': 'AWS4-HMAC-SHA256', 'x-amz-date': '20261130T080000Z', 'x-amz-signature': 'x' });
    expect(refusal(() => verifier.verify(missing))).toMatchObject({ code: 'InvalidArgument', message: expect.stringContaining("'X-Amz-Credential'") });
    expect(refusal(() => verifier.verify(form({ 'x-amz-credential': 'AKID/20261130/eu-central-1/sts/aws4_request' }))).code).toBe('InvalidArgument');
    expect(refusal(() => verifier.verify(form({ 'x-amz-credential': 'AKID/20261130/us-east-1/s3/aws4_request' }))).code).toBe('InvalidArgument');
    expect(refusal(() => verifier.verify(form({ 'x-amz-date': '20261201T080000Z' }))).code).toBe('InvalidArgument');
    expect(refusal(() => verifier.verify(form({ 'x-amz-algorithm': 'AWS4-HMAC-SHA1' }))).code).toBe('InvalidArgument');
  });
});

describe('POST form signatures (SigV2, boto3 in us-east-1)', () => {
  const lookupSecret = (id: string) => (id === 'AKID' ? 'secret-key' : undefined);
  const signature = createHmac('sha1', 'secret-key').update('cG9saWN5').digest('base64');
  const form = fields({ policy: 'cG9saWN5', AWSAccessKeyId: 'AKID', signature });

  it('accepts the base64 HMAC-SHA1 of the policy; its fields are exempt from the policy; refused when S3_SIGV2 is off', () => {
    const verifier = createPostSignatureVerifier({ lookupSecret, region: 'us-east-1', regionStrict: false, sigV2: true });
    const credential = verifier.verify(form);
    expect(credential).toEqual({ accessKeyId: 'AKID', signatureFields: ['awsaccesskeyid', 'signature'] });
    expect(checkPostPolicy(policyOf([['starts-with', '$key', '']]), fields({ key: 'a', AWSAccessKeyId: 'AKID', signature }), 'b', NOW, credential.signatureFields)).toBeUndefined();
    expect(refusal(() => verifier.verify(fields({ policy: 'cG9saWN6', AWSAccessKeyId: 'AKID', signature }))).code).toBe('SignatureDoesNotMatch');
    const off = createPostSignatureVerifier({ lookupSecret, region: 'us-east-1', regionStrict: false, sigV2: false });
    expect(refusal(() => off.verify(form)).code).toBe('InvalidRequest');
  });
});
