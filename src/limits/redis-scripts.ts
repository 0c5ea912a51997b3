import type { Redis } from 'ioredis';

export type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Registers Lua scripts as ioredis custom commands and returns callers for them. ioredis sends a
 * script with EVAL the first time on each connection and with EVALSHA afterwards, so every call is
 * exactly one command / round trip, also right after a reconnect to a restarted (empty) server.
 */
export function defineScripts<Names extends string>(redis: Redis, scripts: Record<Names, { numberOfKeys?: number; lua: string }>): Record<Names, ScriptCall> {
  const callers = {} as Record<Names, ScriptCall>;
  const target = redis as unknown as Record<string, ScriptCall | undefined>;
  for (const name of Object.keys(scripts) as Names[]) {
    const command = `cloudstorage_${name}`;
    // Without numberOfKeys, each call passes its key count first.
    if (typeof target[command] !== 'function') redis.defineCommand(command, scripts[name]);
    callers[name] = (...args) => (target[command] as ScriptCall).apply(redis, args);
  }
  return callers;
}
