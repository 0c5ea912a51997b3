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
  /** Runs on every S3 request (a Map lookup once cached). Undefined for unknown, revoked, expired or deactivated keys. */
  lookup(accessKeyId: string): Promise<ResolvedKey | undefined>;
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
  // A load in flight when a change arrives is answered but not cached: it may predate the change.
  let generation = 0;

  const resolve = (record: ActiveKeyRecord): ResolvedKey => ({
    keyId: record.keyId,
    accessKeyId: record.accessKeyId,
    userId: record.userId,
    secretAccessKey: deps.secretBox.open(record.secretEncrypted),
    scope: scopeOfRecord(record),
  });

  const invalidate = () => {
    cache = new Map();
    generation++;
  };

  deps.changes.subscribe(invalidate);

  const usable = (key: ResolvedKey) => (isScopeExpired(key.scope, deps.clock.now()) ? undefined : key);

  return {
    async lookup(accessKeyId) {
      const cached = cache.get(accessKeyId);
      if (cached) return usable(cached);
      const startedIn = generation;
      const record = await deps.keysRepository.findActive(accessKeyId);
      if (!record) return undefined;
      const resolved = resolve(record);
      if (startedIn === generation) cache.set(accessKeyId, resolved);
      return usable(resolved);
    },
    invalidate,
  };
}
