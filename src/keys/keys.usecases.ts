import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { newAccessKeyId, newId, newSecretAccessKey } from '../ids.ts';
import { keyNotFoundError } from './keys.errors.ts';
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

export function createKeysUsecases(deps: { keysRepository: KeysRepository; secretBox: SecretBox; clock: Clock; onChange?: () => void }) {
  const { keysRepository, secretBox } = deps;
  return {
    create(userId: string, name = ''): CreatedKey {
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
    listForUser(userId: string) {
      return keysRepository.listForUser(userId).map(({ id, name, accessKeyId, createdAt }) => ({ id, name, accessKeyId, createdAt }));
    },
  };
}
