import { createHash, randomBytes } from 'node:crypto';
import type { AccountsRepository } from '../../../src/accounts/accounts.repository.ts';
import { MIN_PASSWORD_LENGTH, type AccountsUsecases } from '../../../src/accounts/accounts.usecases.ts';
import { weakPasswordError } from '../../../src/accounts/accounts.errors.ts';
import type { Clock } from '../../../src/clock.ts';
import { hashPassword, verifyPassword } from '../../../src/crypto/passwords.ts';
import type { UserRow } from '../../../src/db/schema.ts';
import { newId } from '../../../src/ids.ts';
import type { RateLimiter, RateLimitRule } from '../../../src/limits/rate-limiter.ts';
import { accountDeactivatedError, invalidCredentialsError, signupDisabledError, unauthenticatedError, wrongPasswordError } from './auth.errors.ts';
import type { SessionsRepository } from './sessions.repository.ts';

export type AuthUsecases = ReturnType<typeof createAuthUsecases>;

/** What the dashboard may show about a user: never the password hash. */
export interface PublicUser {
  id: string;
  email: string;
  isAdmin: boolean;
  createdAt: Date;
}

/** A freshly started session: the token goes into the cookie and is never stored or logged. */
export interface StartedSession {
  token: string;
  expiresAt: Date;
  /** Cookie Max-Age: the session's whole lifetime (computed here, not from a second clock reading). */
  maxAgeSeconds: number;
}

export const toPublicUser = (user: UserRow): PublicUser => ({ id: user.id, email: user.email, isAdmin: user.isAdmin, createdAt: user.createdAt });

/** Sessions are looked up by the SHA-256 of the token: a leaked database holds no usable cookies. */
export const hashSessionToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** 32 random bytes as base64url: 43 characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function createAuthUsecases(deps: {
  accountsRepository: AccountsRepository;
  accountsUsecases: AccountsUsecases;
  sessionsRepository: SessionsRepository;
  clock: Clock;
  sessionTtlMs: number;
  signupEnabled: boolean;
  rateLimiter: RateLimiter;
  /** RATE_LIMIT_LOGIN; undefined when off. */
  loginRule: RateLimitRule | undefined;
  hashPassword?: (password: string) => Promise<string>;
  verifyPassword?: (password: string, stored: string) => Promise<boolean>;
}) {
  const { accountsRepository, accountsUsecases, sessionsRepository, clock } = deps;
  const hash = deps.hashPassword ?? hashPassword;
  const verify = deps.verifyPassword ?? verifyPassword;

  // A hash of a random password with the same parameters: an unknown email still costs one
  // scrypt verification, so response time does not reveal whether an account exists.
  let dummyHash: Promise<string> | undefined;
  const getDummyHash = () => (dummyHash ??= hash(randomBytes(18).toString('base64url')));

  async function startSession(userId: string): Promise<StartedSession> {
    const now = clock.now();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + deps.sessionTtlMs);
    await sessionsRepository.deleteExpired(now);
    await sessionsRepository.insert({ id: newId(), userId, tokenHash: hashSessionToken(token), createdAt: now, expiresAt });
    return { token, expiresAt, maxAgeSeconds: Math.floor(deps.sessionTtlMs / 1000) };
  }

  return {
    /** Computes the dummy hash ahead of the first sign-in attempt (so even that one has the usual timing). */
    async prepare(): Promise<void> {
      await getDummyHash();
    },

    /** Self-service sign-up: the account with its first access key and `default` bucket, signed in. */
    async signup(input: { email: string; password: string }) {
      if (!deps.signupEnabled) throw signupDisabledError();
      // The new account is the actor of its own first key and bucket.
      const { user, key, bucket } = await accountsUsecases.createAccount({
        email: input.email,
        password: input.password,
        origin: (userId) => ({ actor: { kind: 'session', id: userId } }),
      });
      return { user: toPublicUser(user), key, bucket: bucket.name, session: await startSession(user.id) };
    },

    /**
     * Counts one sign-in attempt against every key (the email and the client address) under
     * RATE_LIMIT_LOGIN. All keys are counted even when one already refuses, so spreading attempts
     * over addresses or emails does not help. Returns the wait when any key is over its limit.
     */
    async checkLoginRate(keys: { email: string; clientAddress: string }): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
      const rule = deps.loginRule;
      if (!rule) return { allowed: true };
      const results = await Promise.all([
        deps.rateLimiter.check(`login:email:${keys.email.trim().toLowerCase()}`, rule),
        deps.rateLimiter.check(`login:ip:${keys.clientAddress}`, rule),
      ]);
      const waits = results.flatMap((result) => (result.allowed ? [] : [result.retryAfterSeconds]));
      return waits.length === 0 ? { allowed: true } : { allowed: false, retryAfterSeconds: Math.max(...waits) };
    },

    /** Checks the password first: the account's state is only revealed to someone who knows it. */
    async login(input: { email: string; password: string }) {
      const user = await accountsRepository.findByEmail(input.email.trim());
      if (!user) {
        await verify(input.password, await getDummyHash());
        throw invalidCredentialsError();
      }
      if (!(await verify(input.password, user.passwordHash))) throw invalidCredentialsError();
      if (user.status !== 'active') throw accountDeactivatedError();
      return { user: toPublicUser(user), session: await startSession(user.id) };
    },

    /** The signed-in user of a cookie token, or undefined (unknown, expired, or the account is deactivated). */
    async resolveSession(token: string | undefined): Promise<{ user: PublicUser; tokenHash: string } | undefined> {
      if (!token || !TOKEN_PATTERN.test(token)) return undefined;
      const tokenHash = hashSessionToken(token);
      const found = await sessionsRepository.findActiveByTokenHash(tokenHash, clock.now());
      if (!found || found.user.status !== 'active') return undefined;
      return { user: toPublicUser(found.user), tokenHash };
    },

    async logout(token: string | undefined): Promise<void> {
      if (token && TOKEN_PATTERN.test(token)) await sessionsRepository.deleteByTokenHash(hashSessionToken(token));
    },

    /**
     * Changes the password and ends every session of the account, the caller's included (a stolen
     * cookie dies with the old password); the caller gets a fresh session in return so the
     * dashboard stays signed in.
     */
    async changePassword(userId: string, input: { oldPassword: string; newPassword: string }): Promise<StartedSession> {
      const user = await accountsRepository.findById(userId);
      if (!user || user.status !== 'active') throw unauthenticatedError();
      if (!(await verify(input.oldPassword, user.passwordHash))) throw wrongPasswordError();
      if (input.newPassword.length < MIN_PASSWORD_LENGTH) throw weakPasswordError();
      const passwordHash = await hash(input.newPassword);
      await accountsRepository.transaction(async () => {
        await accountsRepository.setPasswordHash(user.id, passwordHash);
        await sessionsRepository.deleteAllForUser(user.id);
      });
      return startSession(user.id);
    },
  };
}
