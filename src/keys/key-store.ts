import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { ChangeWatcher } from '../db/change-watcher.ts';
import { isScopeExpired, scopeOfRecord, type KeyScope } from './key-scope.ts';
import type { ActiveKeyRecord, KeysRepository } from './keys.repository.ts';

export interface ResolvedKey {
  keyId: string;
  accessKeyId: string;
  userId: string;
  secretAccessKey: string;
  /** What the key may do; every caller (S3 gateway, file API) enforces it with `scopeAllows`. */
  scope: KeyScope;
}

export interface KeyStore {
  /** Synchronous: runs on every S3 request. Undefined for unknown, revoked, expired or deactivated keys. */
  lookup(accessKeyId: string): ResolvedKey | undefined;
  /** Drop cached state now. */
  invalidate(): void;
}

/**
 * In-memory view of the usable access keys, so authentication costs a Map lookup, not a query
 * and a decryption. Any database change (this process's, or the CLI's seen through the change
 * watcher's poll) drops the cache: a revoked key stops working within the poll interval.
 * Unknown ids fall through to one indexed query, so a new key works at once. Expiry is checked
 * against the clock on every lookup, cached or not: no database change marks the moment a key
 * expires.
 */
export function createKeyStore(deps: { keysRepository: KeysRepository; secretBox: SecretBox; changes: ChangeWatcher; clock: Clock }): KeyStore {
  let cache = new Map<string, ResolvedKey>();

  const resolve = (record: ActiveKeyRecord): ResolvedKey => ({
    keyId: record.keyId,
    accessKeyId: record.accessKeyId,
    userId: record.userId,
    secretAccessKey: deps.secretBox.open(record.secretEncrypted),
    scope: scopeOfRecord(record),
  });

  const invalidate = () => {
    cache = new Map();
  };

  deps.changes.subscribe(invalidate);

  const usable = (key: ResolvedKey) => (isScopeExpired(key.scope, deps.clock.now()) ? undefined : key);

  return {
    lookup(accessKeyId) {
      const cached = cache.get(accessKeyId);
      if (cached) return usable(cached);
      const record = deps.keysRepository.findActive(accessKeyId);
      if (!record) return undefined;
      const resolved = resolve(record);
      cache.set(accessKeyId, resolved);
      return usable(resolved);
    },
    invalidate,
  };
}
