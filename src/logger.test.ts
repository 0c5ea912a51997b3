import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from './logger.ts';

describe('log redaction', () => {
  it('replaces the values of SigV4 and SigV2 query auth parameters and Authorization header parts', () => {
    expect(redactSecrets('/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Security-Token=tok&X-Amz-Signature=abc123&x-id=PutObject')).toBe(
      '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20250101T000000Z&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&x-id=PutObject',
    );
    expect(redactSecrets('/b/k?AWSAccessKeyId=AKID&Expires=1700000000&Signature=a%2Bb%3D')).toBe('/b/k?AWSAccessKeyId=REDACTED&Expires=1700000000&Signature=REDACTED');
    expect(redactSecrets('AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=deadbeef')).toBe(
      'AWS4-HMAC-SHA256 Credential=REDACTED, SignedHeaders=host;x-amz-date, Signature=REDACTED',
    );
    // Lookalikes are left alone.
    expect(redactSecrets('/b/MySignature=1?x-signature=2&prefix=Credential')).toBe('/b/MySignature=1?x-signature=2&prefix=Credential');
  });

  it('redacts every line the logger writes, whichever field or message carries the URL', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (line) => lines.push(line));
    logger.error('failed GET /b/k?X-Amz-Signature=s1', { url: '/b/k?X-Amz-Credential=c1&X-Amz-Signature=s2', error: 'Error: at /b/k?Signature=s3' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/s1|c1|s2|s3/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', url: '/b/k?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED' });
  });
});
