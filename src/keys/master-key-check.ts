import { ConfigError } from '../config/config.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { KeysRepository } from './keys.repository.ts';

/**
 * Refuses to start with a master key that cannot open the secrets already stored. Every gateway
 * sharing a database must use the same MASTER_KEY; one started with another key would accept
 * connections and then fail every signature of every account. Checked on the newest key (a
 * database with no key yet has nothing to check).
 */
export async function assertMasterKeyOpens(keysRepository: KeysRepository, secretBox: SecretBox): Promise<void> {
  const sealed = await keysRepository.newestSealedSecret();
  if (sealed === undefined) return;
  try {
    secretBox.open(sealed);
  } catch {
    throw new ConfigError(
      'MASTER_KEY cannot decrypt the access-key secrets stored in the metadata database: every server sharing the database must be started with the MASTER_KEY that stored them.',
    );
  }
}
