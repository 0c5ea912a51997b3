import { systemClock, type Clock } from '../clock.ts';
import { gcraStep, validateRule, type GcraState, type RateLimiter, type RateLimitResult, type RateLimitRule } from './rate-limiter.ts';

export interface MemoryRateLimiterOptions {
  clock?: Clock;
  /**
   * Hard cap on tracked keys. Past it the least recently used key is forgotten (that key starts
   * over with a full burst): memory stays bounded even under a flood of distinct keys.
   */
  maxKeys?: number;
}

export interface MemoryRateLimiter extends RateLimiter {
  /** Keys currently tracked (for tests and metrics). */
  readonly size: number;
}

interface Entry extends GcraState {
  /** The rule the state was counted under (state is in rule-specific units). */
  limit: number;
  windowMs: number;
  /** When the key is full again, i.e. forgettable. */
  expiresAt: number;
}

/**
 * Single-process rate limiter with the same contract (and the same GCRA arithmetic) as the Redis
 * one. Memory is bounded: a key whose bucket has refilled is equivalent to an absent key and is
 * swept (amortised: one full pass per `size` calls, so O(1) per call), and `maxKeys` caps the rest.
 *
 * Every request of a rate-limited server passes here, so a check allocates nothing it can avoid:
 * the caller's key is the map key as is (the state remembers its rule instead of the rule being
 * spelled into a new key string each time), an allowed check updates its entry in place, and a
 * rule object is validated once.
 */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): MemoryRateLimiter {
  const clock = options.clock ?? systemClock;
  const maxKeys = options.maxKeys ?? 100_000;
  // Map iteration order is insertion order; entries are re-inserted when used, so the first entry
  // is the least recently used one.
  const entries = new Map<string, Entry>();
  const validRules = new WeakSet<RateLimitRule>();
  let callsSinceSweep = 0;
  /** The most recently used key: already last in the map, so using it again needs no re-insertion. */
  let newest: string | undefined;

  const sweep = (now: number) => {
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
    callsSinceSweep = 0;
  };

  const touch = (key: string, entry: Entry) => {
    if (newest === key && entries.has(key)) return;
    entries.delete(key);
    entries.set(key, entry);
    newest = key;
  };

  return {
    get size() {
      return entries.size;
    },
    async check(key: string, rule: RateLimitRule): Promise<RateLimitResult> {
      if (!validRules.has(rule)) {
        validateRule(rule);
        validRules.add(rule);
      }
      const now = clock.now().getTime();
      if (++callsSinceSweep >= Math.max(1_000, entries.size)) sweep(now);
      const current = entries.get(key);
      // A changed rule starts from a full bucket, as an absent or refilled key does.
      const state = current !== undefined && current.expiresAt > now && current.limit === rule.limit && current.windowMs === rule.windowMs ? current : undefined;
      const step = gcraStep(state, now, rule);
      if (step.next) {
        const expiresAt = step.next.anchorMs + step.ttlMs;
        if (current !== undefined) {
          current.anchorMs = step.next.anchorMs;
          current.excess = step.next.excess;
          current.limit = rule.limit;
          current.windowMs = rule.windowMs;
          current.expiresAt = expiresAt;
          touch(key, current);
        } else {
          touch(key, { anchorMs: step.next.anchorMs, excess: step.next.excess, limit: rule.limit, windowMs: rule.windowMs, expiresAt });
        }
      } else if (state) {
        // Denied: unchanged, but most recently used (a key being hammered is the last to forget).
        touch(key, state);
      }
      if (entries.size > maxKeys) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      return step.result;
    },
    async close() {
      entries.clear();
      newest = undefined;
    },
  };
}
