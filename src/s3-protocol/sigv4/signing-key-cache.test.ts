import { describe, expect, it } from 'vitest';
import { createSigningKeyCache, deriveSigningKey } from './signing-key-cache.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

describe('signing key derivation', () => {
  it('matches the AWS general reference example (iam, 20150830)', () => {
    // From the SigV4 docs: signing key for 20150830/us-east-1/iam.
    expect(deriveSigningKey(SECRET, '20150830', 'us-east-1', 'iam').toString('hex')).toBe('c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
  });
});

describe('createSigningKeyCache', () => {
  it('returns the cached key for the same tuple and secret', () => {
    const cache = createSigningKeyCache({ maxEntries: 10 });
    const a = cache.get('AK', SECRET, '20240101', 'us-east-1', 's3');
    const b = cache.get('AK', SECRET, '20240101', 'us-east-1', 's3');
    expect(b).toBe(a);
    expect(a.equals(deriveSigningKey(SECRET, '20240101', 'us-east-1', 's3'))).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('never hands out a key derived from another secret (rotation)', () => {
    const cache = createSigningKeyCache({ maxEntries: 10 });
    const old = cache.get('AK', 'old-secret', '20240101', 'us-east-1', 's3');
    const rotated = cache.get('AK', 'new-secret', '20240101', 'us-east-1', 's3');
    expect(rotated.equals(old)).toBe(false);
    expect(rotated.equals(deriveSigningKey('new-secret', '20240101', 'us-east-1', 's3'))).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('separates date, region and service', () => {
    const cache = createSigningKeyCache({ maxEntries: 10 });
    const keys = [
      cache.get('AK', SECRET, '20240101', 'us-east-1', 's3'),
      cache.get('AK', SECRET, '20240102', 'us-east-1', 's3'),
      cache.get('AK', SECRET, '20240101', 'eu-west-1', 's3'),
      cache.get('AK', SECRET, '20240101', 'us-east-1', 'iam'),
    ];
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(4);
  });

  it('is bounded and evicts the least recently used entry', () => {
    const cache = createSigningKeyCache({ maxEntries: 2 });
    const a = cache.get('A', 's', '20240101', 'r', 's3');
    cache.get('B', 's', '20240101', 'r', 's3');
    cache.get('A', 's', '20240101', 'r', 's3'); // A is now most recent
    cache.get('C', 's', '20240101', 'r', 's3'); // evicts B
    expect(cache.size).toBe(2);
    expect(cache.get('A', 's', '20240101', 'r', 's3')).toBe(a);
  });

  it('invalidates by access key', () => {
    const cache = createSigningKeyCache({ maxEntries: 10 });
    cache.get('A', 's', '20240101', 'r', 's3');
    cache.get('A', 's', '20240102', 'r', 's3');
    cache.get('B', 's', '20240101', 'r', 's3');
    cache.invalidate('A');
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
  });
});
