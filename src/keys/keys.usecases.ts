import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { newAccessKeyId, newId, newSecretAccessKey } from '../ids.ts';
import { keyLimitReachedError, keyNotFoundError } from './keys.errors.ts';
import type { KeysRepository } from './keys.repository.ts';

export type KeysUsecases = ReturnType<typeof createKeysUsecases>;

export interface CreatedKey {
  id: string;
  name: string;
  accessKeyId: string;
  /** Returned once, at creation; only the sealed form is stored. */
  secretAccessKey: string;
  createdAt: Date;
}

/** Live (unrevoked) access keys an account may hold at once. */
export const MAX_KEYS_PER_ACCOUNT = 5;

export function createKeysUsecases(deps: { keysRepository: KeysRepository; secretBox: SecretBox; clock: Clock; onChange?: () => void }) {
  const { keysRepository, secretBox } = deps;
  return {
    /** Refuses with `keys.limit_reached` when the account already has MAX_KEYS_PER_ACCOUNT live keys. */
    create(userId: string, name = ''): CreatedKey {
      // Count and insert run back to back with no await: better-sqlite3 is synchronous in this process.
      if (keysRepository.countLiveForUser(userId) >= MAX_KEYS_PER_ACCOUNT) throw keyLimitReachedError(MAX_KEYS_PER_ACCOUNT);
      const secretAccessKey = newSecretAccessKey();
      const row = keysRepository.insert({
        id: newId(),
        userId,
        accessKeyId: newAccessKeyId(),
        secretEncrypted: secretBox.seal(secretAccessKey),
        name,
      });
      deps.onChange?.();
      return { id: row.id, name: row.name, accessKeyId: row.accessKeyId, secretAccessKey, createdAt: row.createdAt };
    },
    revoke(accessKeyId: string): void {
      if (!keysRepository.revoke(accessKeyId, deps.clock.now())) throw keyNotFoundError();
      deps.onChange?.();
    },
    /**
     * Revokes one of `userId`'s keys by its id. Another account's key, an unknown id and an
     * already revoked key all answer `keys.not_found`, and nothing is touched.
     */
    revokeById(userId: string, id: string): void {
      if (!keysRepository.revokeOwned(userId, id, deps.clock.now())) throw keyNotFoundError();
      // Drops the key store's cache now: the gateway refuses the key on its next request.
      deps.onChange?.();
    },
    listForUser(userId: string) {
      return keysRepository.listForUser(userId).map(({ id, name, accessKeyId, createdAt }) => ({ id, name, accessKeyId, createdAt }));
    },
  };
}
