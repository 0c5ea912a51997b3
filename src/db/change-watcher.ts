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

export function createChangeWatcher(deps: { dataVersion: () => number; pollIntervalMs?: number }): ChangeWatcher {
  const listeners: (() => void)[] = [];
  let seenVersion = deps.dataVersion();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const timer = setInterval(() => {
    const version = deps.dataVersion();
    if (version !== seenVersion) {
      seenVersion = version;
      notify();
    }
  }, deps.pollIntervalMs ?? 250);
  timer.unref();
  return {
    subscribe: (listener) => void listeners.push(listener),
    notify,
    close: () => clearInterval(timer),
  };
}
