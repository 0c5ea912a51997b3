import { isLimitsUnavailable } from './errors.ts';

/**
 * Runs `op`; if it fails because the account is unsynced and a `loadUsage` is configured, loads the
 * usage (one load per account at a time, however many requests are waiting), initialises the
 * store with it if still absent, and runs `op` once more.
 */
export function createUsageLoader(loadUsage: ((accountId: string) => Promise<number>) | undefined, initIfAbsent: (accountId: string, usedBytes: number) => Promise<void>) {
  const loading = new Map<string, Promise<void>>();
  const load = (accountId: string): Promise<void> => {
    let pending = loading.get(accountId);
    if (!pending) {
      pending = (async () => {
        const used = await loadUsage!(accountId);
        await initIfAbsent(accountId, used);
      })().finally(() => loading.delete(accountId));
      loading.set(accountId, pending);
    }
    return pending;
  };
  return async function withUsage<T>(accountId: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (!loadUsage || !isLimitsUnavailable(error, 'unsynced')) throw error;
      await load(accountId);
      return op();
    }
  };
}
