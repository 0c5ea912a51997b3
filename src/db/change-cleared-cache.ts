import type { ChangeWatcher } from './change-watcher.ts';

/**
 * A bounded cache of answers read from the metadata database, dropped whenever the database
 * changes (this process's writes, another process's seen through the change watcher). A hit
 * costs a Map lookup and no query, so the hot path (every S3 request resolves its bucket) stays in
 * memory whichever database holds the rows. A load that was in flight when a change arrived is returned to its
 * caller but not cached: it may have read the state from before the change.
 */
export function createChangeClearedCache<V>(options: { changes: ChangeWatcher; load: (key: string) => Promise<V>; maxEntries: number }): {
  get(key: string): Promise<V>;
} {
  let entries = new Map<string, V>();
  let generation = 0;
  const clear = () => {
    entries = new Map();
    generation++;
  };
  options.changes.subscribe(clear);
  const load = async (key: string): Promise<V> => {
    const startedIn = generation;
    const value = await options.load(key);
    if (startedIn === generation) {
      if (entries.size >= options.maxEntries) entries = new Map();
      entries.set(key, value);
    }
    return value;
  };
  return {
    get(key) {
      const hit = entries.get(key);
      // `has` only tells a cached "none" (undefined) from a miss.
      if (hit !== undefined || entries.has(key)) return Promise.resolve(hit as V);
      return load(key);
    },
  };
}
