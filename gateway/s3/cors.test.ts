import { describe, expect, it } from 'vitest';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { findCorsRule, parseCorsConfiguration, preflightReply, renderCorsConfiguration, type CorsRule } from './cors.ts';

const config = (...rules: string[]) => `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules.join('')}</CORSConfiguration>`;
const rule = (inner: string) => `<CORSRule>${inner}</CORSRule>`;

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof S3Error) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an S3Error');
}

describe('parseCorsConfiguration', () => {
  it('keeps every element of a rule and renders it back in AWS order', () => {
    const rules = parseCorsConfiguration(
      config(
        rule(
          '<ID>web</ID><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedOrigin>http://localhost:3000</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>Content-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds>',
        ),
        rule('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>'),
      ),
    );
    expect(rules).toEqual([
      {
        id: 'web',
        allowedOrigins: ['https://*.example.com', 'http://localhost:3000'],
        allowedMethods: ['PUT', 'GET'],
        allowedHeaders: ['Content-*'],
        exposeHeaders: ['ETag'],
        maxAgeSeconds: 3000,
      },
      { allowedOrigins: ['*'], allowedMethods: ['GET'], allowedHeaders: [], exposeHeaders: [] },
    ]);
    const rendered = renderCorsConfiguration(rules);
    expect(rendered).toContain(
      '<CORSRule><ID>web</ID><AllowedHeader>Content-*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedOrigin>http://localhost:3000</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>',
    );
    expect(parseCorsConfiguration(rendered)).toEqual(rules);
  });

  it('refuses structurally bad documents with MalformedXML', () => {
    const origin = '<AllowedOrigin>*</AllowedOrigin>';
    const get = '<AllowedMethod>GET</AllowedMethod>';
    for (const body of [
      '',
      'not xml <',
      '<Other/>',
      config(),
      config(rule(get)), // no AllowedOrigin
      config(rule(origin)), // no AllowedMethod
      config(rule(`${origin}${get}<MaxAgeSeconds>-1</MaxAgeSeconds>`)),
      config(rule(`${origin}${get}<MaxAgeSeconds>soon</MaxAgeSeconds>`)),
      config(rule(`${origin}<AllowedMethod><Nested/></AllowedMethod>`)),
      config(...Array.from({ length: 101 }, () => rule(`${origin}${get}`))),
    ]) {
      expect(refusal(() => parseCorsConfiguration(body)).code, body.slice(0, 80)).toBe('MalformedXML');
    }
    expect(parseCorsConfiguration(config(...Array.from({ length: 100 }, () => rule(`${origin}${get}`))))).toHaveLength(100);
  });

  it("refuses values S3 refuses with InvalidRequest and AWS's message", () => {
    expect(refusal(() => parseCorsConfiguration(config(rule('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>'))))).toEqual({
      code: 'InvalidRequest',
      message: 'Found unsupported HTTP method in CORS config. Unsupported method is PATCH',
    });
    expect(refusal(() => parseCorsConfiguration(config(rule('<AllowedOrigin>https://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>'))))).toEqual({
      code: 'InvalidRequest',
      message: 'AllowedOrigin "https://*.*.com" can not have more than one wildcard.',
    });
    expect(refusal(() => parseCorsConfiguration(config(rule('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader>')))).code).toBe(
      'InvalidRequest',
    );
    expect(refusal(() => parseCorsConfiguration(config(rule('<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader>')))).code).toBe(
      'InvalidRequest',
    );
  });
});

describe('rule matching', () => {
  const rules: CorsRule[] = [
    { allowedOrigins: ['https://*.example.com'], allowedMethods: ['PUT'], allowedHeaders: ['content-*', 'X-Amz-Meta-Owner'], exposeHeaders: ['ETag'], maxAgeSeconds: 60 },
    { allowedOrigins: ['*'], allowedMethods: ['GET', 'HEAD'], allowedHeaders: [], exposeHeaders: [] },
  ];

  it('takes the first rule whose origin, method and every requested header match', () => {
    expect(findCorsRule(rules, 'https://app.example.com', 'PUT', ['content-type', 'x-amz-meta-owner'])).toBe(rules[0]);
    // `*` matches any run, even an empty one, but the literal parts must be there.
    expect(findCorsRule(rules, 'https://.example.com', 'PUT')).toBe(rules[0]);
    expect(findCorsRule(rules, 'https://example.com', 'PUT')).toBeUndefined();
    expect(findCorsRule(rules, 'http://app.example.com', 'PUT')).toBeUndefined();
    expect(findCorsRule(rules, 'https://app.example.com', 'PUT', ['x-other'])).toBeUndefined();
    expect(findCorsRule(rules, 'https://app.example.com', 'GET')).toBe(rules[1]);
    expect(findCorsRule(rules, 'https://anything.test', 'DELETE')).toBeUndefined();
  });

  it('answers a preflight with the granted headers, or refuses it', () => {
    const reply = preflightReply(
      rules,
      { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'Content-Type, X-Amz-Meta-Owner' },
      true,
    );
    expect(reply.status).toBe(200);
    expect(reply.headers).toEqual({
      'Access-Control-Allow-Origin': 'https://app.example.com',
      'Access-Control-Allow-Methods': 'PUT',
      'Access-Control-Allow-Headers': 'content-type, x-amz-meta-owner',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': 'ETag',
      'Access-Control-Max-Age': '60',
      Vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
    });
    expect(preflightReply(rules, { origin: 'https://x.test', 'access-control-request-method': 'GET' }, false).headers['Access-Control-Allow-Origin']).toBe('*');
    expect(refusal(() => preflightReply(rules, { origin: 'https://x.test', 'access-control-request-method': 'PUT' }, true)).code).toBe('AccessForbidden');
    expect(refusal(() => preflightReply(undefined, { origin: 'https://x.test', 'access-control-request-method': 'GET' }, true)).code).toBe('AccessForbidden');
    expect(refusal(() => preflightReply(rules, { 'access-control-request-method': 'GET' }, true)).code).toBe('BadRequest');
    expect(refusal(() => preflightReply(rules, { origin: 'https://x.test', 'access-control-request-method': 'PATCH' }, true)).code).toBe('BadRequest');
  });
});
