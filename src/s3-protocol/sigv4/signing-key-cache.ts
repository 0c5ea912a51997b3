/**
 * Bounded LRU cache of SigV4 signing keys.
 *
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 * costs four HMACs; a key is valid for a whole (accessKeyId, date, region, service), so caching
 * it turns the per-request cost into one HMAC over the string to sign.
 *
 * Entries are keyed by (accessKeyId, date, region, service) and remember the secret they were
 * derived from: a lookup with a different secret (the key was rotated or re-created) recomputes
 * and replaces the entry, so a key derived from an old secret is never handed out.
 */
import { createHmac } from 'node:crypto';

export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secret)
    .update(date)
    .digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

export interface SigningKeyCache {
  /** Signing key for the tuple, derived from `secret` (cached). */
  get(accessKeyId: string, secret: string, date: string, region: string, service: string): Buffer;
  /** Forget every key derived for this access key (call on key deletion / rotation). */
  invalidate(accessKeyId: string): void;
  clear(): void;
  readonly size: number;
}

interface Entry {
  secret: string;
  key: Buffer;
  accessKeyId: string;
}

export function createSigningKeyCache(options: { maxEntries?: number } = {}): SigningKeyCache {
  const maxEntries = Math.max(1, options.maxEntries ?? 1000);
  // Map iteration order is insertion order: re-inserting on hit makes the first entry the LRU.
  const entries = new Map<string, Entry>();

  return {
    get(accessKeyId, secret, date, region, service) {
      const id = accessKeyId + '\u0000' + date + '\u0000' + region + '\u0000' + service;
      const hit = entries.get(id);
      if (hit !== undefined && hit.secret === secret) {
        if (entries.size > 1) {
          entries.delete(id);
          entries.set(id, hit);
        }
        return hit.key;
      }
      const key = deriveSigningKey(secret, date, region, service);
      entries.delete(id);
      entries.set(id, { secret, key, accessKeyId });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
      return key;
    },
    invalidate(accessKeyId) {
      for (const [id, entry] of entries) {
        if (entry.accessKeyId === accessKeyId) entries.delete(id);
      }
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
