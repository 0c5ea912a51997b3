/**
 * Tells in-memory caches that the database changed. Another process (the admin CLI) committing
 * to the same SQLite file bumps `PRAGMA data_version`, polled here; changes made through this
 * process call `notify()` directly (data_version ignores a connection's own writes).
 */
export interface ChangeWatcher {
  subscribe(listener: () => void): void;
  notify(): void;
  close(): void;
}

/**
 * `pollIntervalMs: 0` watches this process's own changes only (no timer): for a process that
 * lives for one command (the CLI), where another process's commit cannot matter.
 */
export function createChangeWatcher(deps: { dataVersion: () => number; pollIntervalMs?: number }): ChangeWatcher {
  const listeners: (() => void)[] = [];
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const pollIntervalMs = deps.pollIntervalMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  if (pollIntervalMs > 0) {
    let seenVersion = deps.dataVersion();
    timer = setInterval(() => {
      const version = deps.dataVersion();
      if (version !== seenVersion) {
        seenVersion = version;
        notify();
      }
    }, pollIntervalMs);
    timer.unref();
  }
  return {
    subscribe: (listener) => void listeners.push(listener),
    notify,
    close: () => clearInterval(timer),
  };
}
