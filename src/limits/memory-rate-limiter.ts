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
  /** When the key is full again, i.e. forgettable. */
  expiresAt: number;
}

/**
 * Single-process rate limiter with the same contract (and the same GCRA arithmetic) as the Redis
 * one. Memory is bounded: a key whose bucket has refilled is equivalent to an absent key and is
 * swept (amortised: one full pass per `size` calls, so O(1) per call), and `maxKeys` caps the rest.
 */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): MemoryRateLimiter {
  const clock = options.clock ?? systemClock;
  const maxKeys = options.maxKeys ?? 100_000;
  // Map iteration order is insertion order; entries are re-inserted on every update, so the first
  // entry is the least recently used one.
  const entries = new Map<string, Entry>();
  let callsSinceSweep = 0;

  const sweep = (now: number) => {
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
    callsSinceSweep = 0;
  };

  return {
    get size() {
      return entries.size;
    },
    async check(userKey: string, rule: RateLimitRule): Promise<RateLimitResult> {
      validateRule(rule);
      // The rule is part of the key: state is in rule-specific units, and a changed rule starts fresh.
      const key = `${rule.limit}/${rule.windowMs}:${userKey}`;
      const now = clock.now().getTime();
      if (++callsSinceSweep >= Math.max(1_000, entries.size)) sweep(now);
      const current = entries.get(key);
      const state = current && current.expiresAt > now ? current : undefined;
      const step = gcraStep(state, now, rule);
      if (step.next) {
        entries.delete(key);
        entries.set(key, { ...step.next, expiresAt: step.next.anchorMs + step.ttlMs });
      } else if (state) {
        // Denied: unchanged, but most recently used (a key being hammered is the last to forget).
        entries.delete(key);
        entries.set(key, state);
      }
      if (entries.size > maxKeys) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      return step.result;
    },
    async close() {
      entries.clear();
    },
  };
}
