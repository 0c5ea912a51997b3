import { beforeAll, expect, test } from 'vitest';
import { type AccountsRepository, createAccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import { type OpenDatabase, uniqueId } from '../../../src/db/contracts/contract-support.ts';
import { isUniqueViolation } from '../../../src/db/database-errors.ts';
import { createSessionsRepository, type SessionsRepository } from './sessions.repository.ts';

/** The dashboard sessions repository's contract, run on SQLite and PostgreSQL by test/contracts/repositories.contract.test.ts. */
export function sessionsRepositoryContract(open: OpenDatabase) {
  let sessions: SessionsRepository;
  let accounts: AccountsRepository;
  beforeAll(async () => {
    const database = await open();
    sessions = createSessionsRepository({ database });
    accounts = createAccountsRepository({ database });
  });
  const newAccount = async () => {
    const id = uniqueId('user');
    return accounts.insert({ id, email: `${id}@example.com`, passwordHash: 'x', isAdmin: false });
  };
  const T = 1_767_225_600_000;
  const newSession = (userId: string, expiresAt: number, createdAt = T) =>
    sessions.insert({ id: uniqueId('s'), userId, tokenHash: uniqueId('hash'), createdAt: new Date(createdAt), expiresAt: new Date(expiresAt) });

  test('insert round-trips Dates to the millisecond; the active lookup answers session and user until (not at) expiry', async () => {
    const user = await newAccount();
    const session = await newSession(user.id, T + 86_400_123, T + 7);
    expect(session.createdAt.getTime()).toBe(T + 7);
    expect(session.expiresAt.getTime()).toBe(T + 86_400_123);
    const found = await sessions.findActiveByTokenHash(session.tokenHash, new Date(T + 86_400_122));
    expect(found).toEqual({ session, user });
    expect(await sessions.findActiveByTokenHash(session.tokenHash, new Date(T + 86_400_123))).toBeUndefined();
    expect(await sessions.findActiveByTokenHash('unknown', new Date(T))).toBeUndefined();
  });

  test('a token hash twice is a unique violation', async () => {
    const user = await newAccount();
    const session = await newSession(user.id, T + 1_000);
    const error = await sessions
      .insert({ id: uniqueId('s'), userId: user.id, tokenHash: session.tokenHash, createdAt: new Date(T), expiresAt: new Date(T + 1) })
      .catch((caught: unknown) => caught);
    expect(isUniqueViolation(error)).toBe(true);
  });

  test('deleteByTokenHash, deleteAllForUser and deleteExpired (at or before now) answer what they removed', async () => {
    const user = await newAccount();
    const other = await newAccount();
    const a = await newSession(user.id, T + 10);
    await newSession(user.id, T + 20);
    await newSession(user.id, T + 30);
    const kept = await newSession(other.id, T + 10_000_000_000);
    expect(await sessions.countForUser(user.id)).toBe(3);
    await sessions.deleteByTokenHash(a.tokenHash);
    expect(await sessions.countForUser(user.id)).toBe(2);
    expect(await sessions.deleteExpired(new Date(T + 20))).toBeGreaterThanOrEqual(1);
    expect(await sessions.countForUser(user.id)).toBe(1);
    expect(await sessions.deleteAllForUser(user.id)).toBe(1);
    expect(await sessions.deleteAllForUser(user.id)).toBe(0);
    expect((await sessions.findActiveByTokenHash(kept.tokenHash, new Date(T)))?.session.id).toBe(kept.id);
  });
}
