/**
 * A count per account of things in progress in this process, each added with a release function
 * that takes it back exactly once (a second call is a no-op, so `finally` blocks and error paths
 * may both release). The upload gate and the quota's count gates hold their claims in one.
 */
export function createAccountCounter() {
  const counts = new Map<string, number>();
  return {
    get: (accountId: string): number => counts.get(accountId) ?? 0,
    add(accountId: string): () => void {
      counts.set(accountId, (counts.get(accountId) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(accountId) ?? 1) - 1;
        if (left > 0) counts.set(accountId, left);
        else counts.delete(accountId);
      };
    },
  };
}
