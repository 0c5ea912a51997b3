import { createAccountCounter } from './account-counter.ts';

/**
 * Caps the uploads one account has in progress at once (S3 PutObject and UploadPart, file API
 * uploads): each holds a socket, a temp file or backend connection and a quota reservation, so
 * one tenant opening hundreds must not exhaust the process's file descriptors for everyone.
 *
 * The count is exact within this process (a synchronous check-and-increment). Gateways running
 * as several processes each apply the cap to their own uploads: an account can have up to
 * (processes × cap) uploads in flight in total.
 */
export interface UploadGate {
  /** Takes a slot for `accountId`, or returns undefined when it already has `max` uploads running. The release function is idempotent. */
  tryAcquire(accountId: string): (() => void) | undefined;
  /** Uploads `accountId` has in progress (for tests and diagnostics). */
  inProgress(accountId: string): number;
  readonly maxPerAccount: number;
}

/** `maxPerAccount` 0 disables the cap. */
export function createUploadGate(maxPerAccount: number): UploadGate {
  const running = createAccountCounter();
  return {
    maxPerAccount,
    tryAcquire(accountId) {
      if (maxPerAccount > 0 && running.get(accountId) >= maxPerAccount) return undefined;
      return running.add(accountId);
    },
    inProgress: running.get,
  };
}
