import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import { newAccessKeyId, newId, newSecretAccessKey } from '../ids.ts';
import { bucketNameProblem } from '../buckets/bucket-names.ts';
import { scopeOfRecord, type KeyPermission, type KeyScope } from './key-scope.ts';
import { invalidKeyScopeError, keyLimitReachedError, keyNotFoundError } from './keys.errors.ts';
import type { KeysRepository, RevokedKey } from './keys.repository.ts';
import { CLI_ORIGIN, domainEvent, type EventOrigin } from '../events/domain-event.ts';
import type { DomainEvent } from '../events/events.ts';

export type KeysUsecases = ReturnType<typeof createKeysUsecases>;

export interface CreatedKey {
  id: string;
  name: string;
  accessKeyId: string;
  /** Returned once, at creation; only the sealed form is stored. */
  secretAccessKey: string;
  createdAt: Date;
  scope: KeyScope;
}

/** A requested scope; omitted fields are unrestricted (permission: readwrite). */
export interface KeyScopeInput {
  buckets?: string[];
  prefix?: string;
  permission?: KeyPermission;
  expiresAt?: Date;
}

/** S3's limit on key length: a longer prefix could match nothing. */
const MAX_PREFIX_BYTES = 1024;

/** Live (unrevoked) access keys an account may hold at once. */
export const MAX_KEYS_PER_ACCOUNT = 5;

export function createKeysUsecases(deps: {
  keysRepository: KeysRepository;
  secretBox: SecretBox;
  clock: Clock;
  onChange?: () => void;
  /** The event log: `key.created` / `key.revoked` are appended in the key row's transaction. */
  eventLog?: { append(events: DomainEvent[]): Promise<unknown> };
}) {
  const { keysRepository, secretBox } = deps;
  const keyEvent = (type: 'key.created' | 'key.revoked', key: { userId: string; accessKeyId: string; name: string }, origin: EventOrigin) =>
    deps.eventLog?.append([domainEvent(deps.clock, type, key.userId, origin, { detail: { accessKeyId: key.accessKeyId, name: key.name } })]);
  /** Revokes in one transaction with its event; throws keys.not_found when nothing was revoked. */
  const revokeWith = async (revoke: () => Promise<RevokedKey | undefined>, origin: EventOrigin): Promise<void> => {
    const revoked = await keysRepository.transaction(async () => {
      const key = await revoke();
      if (key) await keyEvent('key.revoked', key, origin);
      return key;
    });
    if (!revoked) throw keyNotFoundError();
  };
  return {
    /**
     * Refuses with `keys.limit_reached` when the account already has MAX_KEYS_PER_ACCOUNT live keys
     * (expired keys count until deleted), and with `keys.invalid_scope` for an invalid scope.
     */
    async create(userId: string, name = '', scopeInput: KeyScopeInput = {}, origin: EventOrigin = CLI_ORIGIN): Promise<CreatedKey> {
      const scope = validateScope(scopeInput, deps.clock.now());
      const secretAccessKey = newSecretAccessKey();
      const row = await keysRepository.transaction(async () => {
        // Count and insert in one transaction holding the account's lock: two concurrent creations
        // (on any gateway) cannot both see room for one more key.
        await keysRepository.lockAccountKeys(userId);
        if ((await keysRepository.countLiveForUser(userId)) >= MAX_KEYS_PER_ACCOUNT) throw keyLimitReachedError(MAX_KEYS_PER_ACCOUNT);
        const inserted = await keysRepository.insert({
          id: newId(),
          userId,
          accessKeyId: newAccessKeyId(),
          secretEncrypted: secretBox.seal(secretAccessKey),
          name,
          scopeBuckets: scope.buckets ? [...scope.buckets] : null,
          scopePrefix: scope.prefix ?? null,
          permission: scope.permission,
          expiresAt: scope.expiresAt ?? null,
        });
        await keyEvent('key.created', inserted, origin);
        return inserted;
      });
      deps.onChange?.();
      return { id: row.id, name: row.name, accessKeyId: row.accessKeyId, secretAccessKey, createdAt: row.createdAt, scope: scopeOfRecord(row) };
    },
    async revoke(accessKeyId: string, origin: EventOrigin = CLI_ORIGIN): Promise<void> {
      await revokeWith(() => keysRepository.revoke(accessKeyId, deps.clock.now()), origin);
      deps.onChange?.();
    },
    /**
     * Revokes one of `userId`'s keys by its id. Another account's key, an unknown id and an
     * already revoked key all answer `keys.not_found`, and nothing is touched.
     */
    async revokeById(userId: string, id: string, origin: EventOrigin = CLI_ORIGIN): Promise<void> {
      await revokeWith(() => keysRepository.revokeOwned(userId, id, deps.clock.now()), origin);
      // Drops the key store's cache now: the gateway refuses the key on its next request.
      deps.onChange?.();
    },
    /** Live keys with their scopes (expired ones included, so they can be seen and deleted); never secrets. */
    async listForUser(userId: string) {
      return (await keysRepository.listForUser(userId)).map((row) => ({
        id: row.id,
        name: row.name,
        accessKeyId: row.accessKeyId,
        createdAt: row.createdAt,
        scope: scopeOfRecord(row),
      }));
    },
  };
}

/**
 * Bucket names must be valid S3 names but need not exist yet: like a B2 key naming a bucket, the
 * key simply has nothing to touch until the account creates it, and names are per account, so
 * no other account's bucket can ever be reached through it.
 */
function validateScope(input: KeyScopeInput, now: Date): KeyScope {
  const scope: KeyScope = { permission: input.permission ?? 'readwrite' };
  if (input.buckets !== undefined) {
    if (input.buckets.length === 0) throw invalidKeyScopeError('buckets must name at least one bucket; omit it for a key that can use every bucket.');
    for (const bucket of input.buckets) {
      const problem = bucketNameProblem(bucket);
      if (problem) throw invalidKeyScopeError(`Invalid bucket name in buckets: ${JSON.stringify(bucket)}. ${problem}`);
    }
    scope.buckets = [...new Set(input.buckets)];
  }
  if (input.prefix !== undefined && input.prefix !== '') {
    if (Buffer.byteLength(input.prefix) > MAX_PREFIX_BYTES) throw invalidKeyScopeError(`prefix must be at most ${MAX_PREFIX_BYTES} bytes.`);
    scope.prefix = input.prefix;
  }
  if (input.expiresAt !== undefined) {
    if (Number.isNaN(input.expiresAt.getTime()) || input.expiresAt.getTime() <= now.getTime()) throw invalidKeyScopeError('expiresAt must be a date-time in the future.');
    scope.expiresAt = input.expiresAt;
  }
  return scope;
}
