import type { SecretBox } from '../crypto/secret-box.ts';
import type { KeysRepository } from './keys.repository.ts';

export interface ResolvedKey {
  keyId: string;
  accessKeyId: string;
  userId: string;
  secretAccessKey: string;
}

export interface KeyStore {
  /** Synchronous: runs on every S3 request. Undefined for unknown, revoked or deactivated keys. */
  lookup(accessKeyId: string): ResolvedKey | undefined;
  /** Drop cached state now (same-process writes; other processes are seen through dataVersion). */
  invalidate(): void;
  close(): void;
}

/**
 * In-memory view of the usable access keys, so authentication costs a Map lookup, not a query
 * and a decryption. Another process (the CLI) changing the database bumps SQLite's
 * `data_version`, polled every `pollIntervalMs`: a revoked key stops working within that
 * interval. Unknown ids fall through to one indexed query, so a new key works at once.
 */
export function createKeyStore(deps: {
  keysRepository: KeysRepository;
  secretBox: SecretBox;
  dataVersion: () => number;
  pollIntervalMs?: number;
}): KeyStore {
  let cache = new Map<string, ResolvedKey>();
  let seenVersion = deps.dataVersion();

  const resolve = (record: { keyId: string; accessKeyId: string; userId: string; secretEncrypted: string }): ResolvedKey => ({
    keyId: record.keyId,
    accessKeyId: record.accessKeyId,
    userId: record.userId,
    secretAccessKey: deps.secretBox.open(record.secretEncrypted),
  });

  const invalidate = () => {
    cache = new Map();
  };

  const timer = setInterval(() => {
    const version = deps.dataVersion();
    if (version !== seenVersion) {
      seenVersion = version;
      invalidate();
    }
  }, deps.pollIntervalMs ?? 250);
  timer.unref();

  return {
    lookup(accessKeyId) {
      const cached = cache.get(accessKeyId);
      if (cached) return cached;
      const record = deps.keysRepository.findActive(accessKeyId);
      if (!record) return undefined;
      const resolved = resolve(record);
      cache.set(accessKeyId, resolved);
      return resolved;
    },
    invalidate,
    close: () => clearInterval(timer),
  };
}
