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
  const running = new Map<string, number>();
  return {
    maxPerAccount,
    tryAcquire(accountId) {
      const current = running.get(accountId) ?? 0;
      if (maxPerAccount > 0 && current >= maxPerAccount) return undefined;
      running.set(accountId, current + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (running.get(accountId) ?? 1) - 1;
        if (left > 0) running.set(accountId, left);
        else running.delete(accountId);
      };
    },
    inProgress: (accountId) => running.get(accountId) ?? 0,
  };
}
