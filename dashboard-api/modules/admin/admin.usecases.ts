import type { EventOrigin } from '../../../src/events/domain-event.ts';
import type { AccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import { MIN_PASSWORD_LENGTH, type AccountsUsecases } from '../../../src/accounts/accounts.usecases.ts';
import { weakPasswordError } from '../../../src/accounts/accounts.errors.ts';
import { hashPassword } from '../../../src/crypto/passwords.ts';
import type { UserRow } from '../../../src/db/schema.ts';
import { keyNotFoundError } from '../../../src/keys/keys.errors.ts';
import type { KeysUsecases } from '../../../src/keys/keys.usecases.ts';
import type { QuotasUsecases } from '../../../src/quotas/quotas.usecases.ts';
import type { SessionsRepository } from '../auth/sessions.repository.ts';
import { cannotDeactivateSelfError, invalidCursorError, userNotFoundError } from './admin.errors.ts';
import type { AdminKeyRow, AdminRepository, KeyStatusFilter, UserWithCounts } from './admin.repository.ts';

export type AdminUsecases = ReturnType<typeof createAdminUsecases>;

/** A user as the admin sees it: state, quota and usage, never the password hash. */
export interface AdminUser {
  id: string;
  email: string;
  isAdmin: boolean;
  status: UserRow['status'];
  createdAt: Date;
  /** The quota the account is held to (its own, or DEFAULT_QUOTA_BYTES). */
  quotaBytes: number;
  /** True when the account has no quota of its own and follows DEFAULT_QUOTA_BYTES. */
  defaultQuota: boolean;
  /** Stored object bytes plus multipart uploads in progress: what the quota counts. */
  usedBytes: number;
  /** Live (unrevoked) access keys. */
  keyCount: number;
  bucketCount: number;
}

export interface AdminKey {
  id: string;
  name: string;
  accessKey: string;
  userId: string;
  userEmail: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface UserChanges {
  /** null: back to DEFAULT_QUOTA_BYTES. */
  quotaBytes?: number | null;
  status?: UserRow['status'];
  password?: string;
}

const toAdminKey = (row: AdminKeyRow): AdminKey => ({
  id: row.id,
  name: row.name,
  accessKey: row.accessKeyId,
  userId: row.userId,
  userEmail: row.userEmail,
  createdAt: row.createdAt,
  revokedAt: row.revokedAt,
});

/**
 * Administration of every account: the same shared use cases as sign-up, the CLI and the S3
 * gateway (account creation, key revocation, quotas), plus account state. Whatever takes access
 * away (deactivation, password reset, key revocation) applies from the next request: sessions
 * are deleted or refused, and `onAccessChanged` drops the gateway's cache of usable keys.
 */
export function createAdminUsecases(deps: {
  adminRepository: AdminRepository;
  accountsRepository: AccountsRepository;
  accountsUsecases: AccountsUsecases;
  keysUsecases: KeysUsecases;
  quotasUsecases: QuotasUsecases;
  sessionsRepository: SessionsRepository;
  /** Drops cached key resolutions (the KeyStore), so a deactivated account's keys fail at once. */
  onAccessChanged: () => void;
  hashPassword?: (password: string) => Promise<string>;
}) {
  const { adminRepository, accountsRepository, accountsUsecases, keysUsecases, quotasUsecases, sessionsRepository } = deps;
  const hash = deps.hashPassword ?? hashPassword;

  async function toAdminUser({ user, keyCount, bucketCount }: UserWithCounts): Promise<AdminUser> {
    return {
      id: user.id,
      email: user.email,
      isAdmin: user.isAdmin,
      status: user.status,
      createdAt: user.createdAt,
      quotaBytes: await quotasUsecases.quotaOf(user.id),
      defaultQuota: user.quotaBytes === null,
      usedBytes: await quotasUsecases.usedBytes(user.id),
      keyCount,
      bucketCount,
    };
  }

  async function getUser(id: string): Promise<AdminUser> {
    const found = await adminRepository.findUser(id);
    if (!found) throw userNotFoundError();
    return toAdminUser(found);
  }

  /** Reads one row more than asked to learn whether another page follows. */
  function paginate<R extends { id: string }>(rows: R[], limit: number): { rows: R[]; nextCursor: string | null } {
    if (rows.length <= limit) return { rows, nextCursor: null };
    const page = rows.slice(0, limit);
    return { rows: page, nextCursor: page[page.length - 1]!.id };
  }

  return {
    async listUsers(options: { limit: number; cursor?: string }): Promise<Page<AdminUser>> {
      if (options.cursor !== undefined && !(await adminRepository.userExists(options.cursor))) throw invalidCursorError();
      const found = await adminRepository.listUsers({ limit: options.limit + 1, after: options.cursor });
      const { rows, nextCursor } = paginate(
        found.map((row) => ({ ...row, id: row.user.id })),
        options.limit,
      );
      return { items: await Promise.all(rows.map(toAdminUser)), nextCursor };
    },

    getUser,

    /**
     * Creates an account exactly as sign-up does (first key, `default` bucket; SIGNUP_ENABLED does
     * not apply to admins), optionally as an admin and with its own quota. No session is started.
     */
    async createUser(input: { email: string; password: string; isAdmin?: boolean; quotaBytes?: number }, origin?: EventOrigin) {
      const { user, key, bucket } = await accountsUsecases.createAccount({ email: input.email, password: input.password, isAdmin: input.isAdmin ?? false, origin });
      if (input.quotaBytes !== undefined) await quotasUsecases.setQuota(user.id, input.quotaBytes);
      return { user: await getUser(user.id), key, bucket: bucket.name };
    },

    /**
     * Applies quota, status and password changes together, after validating all of them (a weak
     * password does not leave a half-applied change behind). Deactivation and a password reset
     * end the account's sessions; reactivation does not revive them (sign in again).
     */
    async updateUser(actorId: string, userId: string, changes: UserChanges): Promise<AdminUser> {
      const user = await accountsRepository.findById(userId);
      if (!user) throw userNotFoundError();
      if (changes.status === 'deactivated' && userId === actorId) throw cannotDeactivateSelfError();
      if (changes.password !== undefined && changes.password.length < MIN_PASSWORD_LENGTH) throw weakPasswordError();
      const passwordHash = changes.password === undefined ? undefined : await hash(changes.password);

      // One transaction: a password reset or a deactivation and the end of the sessions go together.
      const statusChanged = changes.status !== undefined && changes.status !== user.status;
      await accountsRepository.transaction(async () => {
        if (passwordHash !== undefined) {
          await accountsRepository.setPasswordHash(userId, passwordHash);
          await sessionsRepository.deleteAllForUser(userId);
        }
        if (statusChanged) {
          await accountsRepository.setStatus(userId, changes.status!);
          if (changes.status === 'deactivated') await sessionsRepository.deleteAllForUser(userId);
        }
      });
      // Key stores cache resolved keys: drop them (every gateway's, through the change feed) so the
      // gateways and the files API see the new status now.
      if (statusChanged) deps.onAccessChanged();
      // The CLI's `user set-quota` path: the next upload's reservation reads the new quota.
      if (changes.quotaBytes !== undefined) await quotasUsecases.setQuota(userId, changes.quotaBytes);
      return getUser(userId);
    },

    async listKeys(options: { limit: number; cursor?: string; userId?: string; status: KeyStatusFilter }): Promise<Page<AdminKey>> {
      if (options.cursor !== undefined && !(await adminRepository.keyExists(options.cursor))) throw invalidCursorError();
      const found = await adminRepository.listKeys({ limit: options.limit + 1, after: options.cursor, userId: options.userId, status: options.status });
      const { rows, nextCursor } = paginate(found, options.limit);
      return { items: rows.map(toAdminKey), nextCursor };
    },

    /** Revokes any account's key; an unknown or already revoked key is `keys.not_found`, as on /api/keys. */
    async revokeKey(id: string, origin?: EventOrigin): Promise<AdminKey> {
      const key = await adminRepository.findKey(id);
      if (!key) throw keyNotFoundError();
      // The owner's own revocation path: it notifies the change watcher, so the gateway refuses the key now.
      await keysUsecases.revokeById(key.userId, id, origin);
      return toAdminKey((await adminRepository.findKey(id))!);
    },
  };
}
