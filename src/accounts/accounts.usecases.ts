import type { EventOrigin } from '../events/domain-event.ts';
import { z } from 'zod';
import type { BucketsUsecases } from '../buckets/buckets.usecases.ts';
import { hashPassword } from '../crypto/passwords.ts';
import { newId } from '../ids.ts';
import type { KeysUsecases } from '../keys/keys.usecases.ts';
import { accountNotFoundError, emailTakenError, invalidEmailError, weakPasswordError } from './accounts.errors.ts';
import type { AccountsRepository } from './accounts.repository.ts';

export type AccountsUsecases = ReturnType<typeof createAccountsUsecases>;

export const DEFAULT_BUCKET_NAME = 'default';
export const MIN_PASSWORD_LENGTH = 8;

const emailSchema = z.email();

export function createAccountsUsecases(deps: {
  accountsRepository: AccountsRepository;
  keysUsecases: KeysUsecases;
  bucketsUsecases: BucketsUsecases;
  hashPassword?: (password: string) => Promise<string>;
}) {
  const { accountsRepository, keysUsecases, bucketsUsecases } = deps;
  const hash = deps.hashPassword ?? hashPassword;

  return {
    /** A new account comes with its first access key and a bucket named `default`. */
    /** `origin`: who the account's first key and bucket events name (default: the CLI); a function gets the new account's id (sign-up). */
    async createAccount(input: { email: string; password: string; isAdmin?: boolean; origin?: EventOrigin | ((userId: string) => EventOrigin) }) {
      const email = input.email.trim().toLowerCase();
      if (!emailSchema.safeParse(email).success) throw invalidEmailError();
      if (input.password.length < MIN_PASSWORD_LENGTH) throw weakPasswordError();
      if (await accountsRepository.findByEmail(email)) throw emailTakenError();
      const passwordHash = await hash(input.password);
      let user;
      try {
        user = await accountsRepository.insert({ id: newId(), email, passwordHash, isAdmin: input.isAdmin ?? false });
      } catch (error) {
        if (await accountsRepository.findByEmail(email).catch(() => undefined)) throw emailTakenError();
        throw error;
      }
      const origin = typeof input.origin === 'function' ? input.origin(user.id) : input.origin;
      const key = await keysUsecases.create(user.id, 'default', {}, origin);
      const bucket = await bucketsUsecases.create(user.id, DEFAULT_BUCKET_NAME, origin);
      return { user, key, bucket };
    },

    async requireByEmail(email: string) {
      const user = await accountsRepository.findByEmail(email.trim());
      if (!user) throw accountNotFoundError();
      return user;
    },
  };
}
