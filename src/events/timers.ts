/** Injected wherever something runs later (the relay's safety-net timer, subscriber retries), so tests fire timers on demand. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a pending retry or safety-net tick never keeps a process (the CLI) alive. */
export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Timers that fire only when a test says so: `pending()` lists the delays asked for, `fireAll()` runs the due callbacks. */
export function manualTimers() {
  let next = 1;
  const scheduled = new Map<number, { callback: () => void; ms: number }>();
  return {
    setTimeout(callback: () => void, ms: number): unknown {
      const id = next++;
      scheduled.set(id, { callback, ms });
      return id;
    },
    clearTimeout(handle: unknown): void {
      scheduled.delete(handle as number);
    },
    /** Delays of the timers armed and not yet fired, oldest first. */
    pending(): number[] {
      return [...scheduled.values()].map((timer) => timer.ms);
    },
    /** Fires every timer armed so far (timers they arm wait for the next call). */
    fireAll(): void {
      const due = [...scheduled.entries()];
      for (const [id] of due) scheduled.delete(id);
      for (const [, timer] of due) timer.callback();
    },
  } satisfies Timers & Record<string, unknown>;
}
