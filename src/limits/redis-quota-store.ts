import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { commandBound, createOutageReporter, isLimitsUnavailable, LimitsUnavailableError, silentLogger } from './errors.ts';
import { assertBytes, assertQuota, DEFAULT_RESERVATION_TTL_MS, type QuotaStore, type QuotaStoreCommonOptions, type QuotaUsage, type ReserveResult } from './quota-store.ts';
import type { QuotaOrder, QuotaTicket, RateCheck, SettleResult } from './quota-store.ts';
import type { RateLimitResult } from './rate-limiter.ts';
import { defineScripts } from './redis-scripts.ts';
import { DEFAULT_EXPIRY_SLACK_MS, GCRA_LUA_FUNCTION, gcraResult, rateLimitRedisKey } from './redis-rate-limiter.ts';
import { createUsageLoader } from './usage-loader.ts';

/*
 * Keys per account (one hash tag, so a Redis Cluster keeps them on one slot):
 *   KEYS[1] `${prefix}quota:{acct}`         hash  used (absent = unsynced), reserved; epoch, seq (the
 *                                                 last ticket given), setAt (the ticket of the figure in used)
 *   KEYS[2] `${prefix}quota:{acct}:expiry`  zset  reservationId → expiresAtMs
 *   KEYS[3] `${prefix}quota:{acct}:bytes`   hash  reservationId → bytes
 * Expired reservations are reclaimed inside the scripts (at most 500 per call; the rest next time),
 * using the caller's clock. Empty zsets/hashes vanish by themselves.
 */
const PRELUDE = `
-- Numbers go to Redis as '%d' strings: a Lua -0 would be sent as "-0", which HINCRBY refuses.
local function adjustReserved(delta)
  delta = tonumber(delta)
  if delta == 0 then return end
  if redis.call('HINCRBY', KEYS[1], 'reserved', string.format('%d', delta)) < 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
end
local function reclaim(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 500)
  if #expired == 0 then return end
  local sizes = redis.call('HMGET', KEYS[3], unpack(expired))
  local freed = 0
  for i = 1, #sizes do
    if sizes[i] then freed = freed + tonumber(sizes[i]) end
  end
  redis.call('ZREM', KEYS[2], unpack(expired))
  redis.call('HDEL', KEYS[3], unpack(expired))
  if freed ~= 0 then adjustReserved(-freed) end
end
local function endReservation(id)
  local bytes = redis.call('HGET', KEYS[3], id)
  if not bytes then return end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  adjustReserved(-tonumber(bytes))
end
-- Sets used and recounts reserved from the live reservations (resync, and the end of a write).
local function setUsed(used)
  local reserved = 0
  for _, bytes in ipairs(redis.call('HVALS', KEYS[3])) do reserved = reserved + tonumber(bytes) end
  redis.call('HSET', KEYS[1], 'used', used, 'reserved', string.format('%d', reserved))
end
-- The order of figures (QuotaTicket): seq moves on with every ticket, settle, resync, commit and
-- adjust (whatever changes used or ends a committed write's reservation); setAt is the ticket
-- (or the seq) of the figure in used. A ticket of another life of this hash (Redis restarted or
-- the key was evicted since) never sets: this life's figures were all read after it.
-- seq only grows: one more than the last, and never below the server's clock in microseconds, so
-- a Redis restored from an older snapshot (or a lagging replica promoted) still hands out tickets
-- above every one given before the rollback, whose figures may be older than its own. Written
-- with '%d': a Lua number that large would be sent as '1.8e+15'.
local function bump()
  local time = redis.call('TIME')
  local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') + 1
  if clock > seq then seq = clock end
  redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq))
  return seq
end
local function position(epochCandidate)
  redis.call('HSETNX', KEYS[1], 'epoch', epochCandidate)
  local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
  return state[1], tonumber(state[2] or '0')
end
-- The next ticket {epoch, seq}: ends every mark handed out before it.
local function takeTicket(epochCandidate)
  local epoch = position(epochCandidate)
  return {epoch, bump()}
end
-- kind '' (none): always; 't': no figure with a later ticket was set (then this one is the latest).
local function claimFigure(kind, epoch, seq)
  if kind == '' then return true end
  local state = redis.call('HMGET', KEYS[1], 'epoch', 'setAt')
  if state[1] ~= epoch then return false end
  seq = tonumber(seq)
  if state[2] and tonumber(state[2]) >= seq then return false end
  redis.call('HSET', KEYS[1], 'setAt', string.format('%d', seq))
  return true
end
local function addUsed(delta)
  if redis.call('HEXISTS', KEYS[1], 'used') == 0 then return end
  delta = tonumber(delta)
  if delta == 0 then return end
  if redis.call('HINCRBY', KEYS[1], 'used', string.format('%d', delta)) < 0 then redis.call('HSET', KEYS[1], 'used', 0) end
end
`;

const RESERVE = `
local state = redis.call('HMGET', KEYS[1], 'used', 'reserved')
if not state[1] then return {-1, 0, 0} end
local used = tonumber(state[1])
local reserved = tonumber(state[2] or '0')
local bytes = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
if bytes > 0 and quota >= 0 and used + reserved + bytes > quota then return {0, used, reserved} end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[2])
adjustReserved(ARGV[2])
-- The mark: the reservation id is a fresh random, a fine epoch if this hash has none yet.
local epoch, seq = position(ARGV[4])
return {1, used, reserved + bytes, epoch, seq}`;

const SCRIPTS = {
  // ARGV: nowMs, bytes, quotaBytes (-1 = unlimited), reservationId, expiresAtMs → {status 1|0|-1 unsynced, used, reserved[, markEpoch, markSeq]}
  quotaReserve: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
reclaim(ARGV[1])
${RESERVE}`,
  },
  // The rate-limit check of the same request first (KEYS[4], the rate limiter's key; ARGV[6..8]:
  // limit, windowMs, expirySlackMs), then the reservation: an upload's two checks in one round
  // trip. → {status, used, reserved, allowed, remaining, resetMs, retryAfterMs}; a denied rate
  // check reserves nothing (status 0). The mark (epoch, seq) comes last, on success.
  quotaReserveRated: {
    numberOfKeys: 4,
    lua: `${PRELUDE}
${GCRA_LUA_FUNCTION}
local rate = gcra(KEYS[4], ARGV[1], ARGV[6], ARGV[7], ARGV[8])
if rate[1] == 0 then return {0, 0, 0, rate[1], rate[2], rate[3], rate[4]} end
reclaim(ARGV[1])
local function reserve()
${RESERVE}
end
local result = reserve()
return {result[1], result[2], result[3], rate[1], rate[2], rate[3], rate[4], result[4], result[5]}`,
  },
  // ARGV: nowMs, usedBytes, order ('' none | 't' ticket | 'm' mark), its epoch, its seq, a fresh
  // epoch (kept if the hash has none), reservationId… → the end of a write: drops its
  // reservations, sets used and recounts reserved (release for each, then resync) in one round
  // trip, as the order allows (QuotaTicket). → {1}, or when a mark was passed by, nothing done but
  // a ticket taken: {0, epoch, seq}.
  quotaSettle: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
local kind = ARGV[3]
if kind == 'm' then
  local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
  if state[1] ~= ARGV[4] or tonumber(state[2] or '0') ~= tonumber(ARGV[5]) then
    local ticket = takeTicket(ARGV[6])
    return {0, ticket[1], ticket[2]}
  end
end
for i = 7, #ARGV do endReservation(ARGV[i]) end
reclaim(ARGV[1])
local now = bump()
if kind == 'm' then
  redis.call('HSET', KEYS[1], 'setAt', string.format('%d', now))
  setUsed(ARGV[2])
elseif claimFigure(kind, ARGV[4], ARGV[5]) then
  setUsed(ARGV[2])
end
return {1}`,
  },
  // ARGV: a fresh epoch, kept if this hash has none yet → {epoch, seq}: the next ticket.
  quotaTicket: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
return takeTicket(ARGV[1])`,
  },
  // ARGV: reservationId, deltaBytes
  quotaCommit: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
endReservation(ARGV[1])
addUsed(ARGV[2])
bump()
return 1`,
  },
  // ARGV: reservationId
  quotaRelease: { numberOfKeys: 3, lua: `${PRELUDE}\nendReservation(ARGV[1])\nreturn 1` },
  // ARGV: deltaBytes
  quotaAdjust: { numberOfKeys: 3, lua: `${PRELUDE}\naddUsed(ARGV[1])\nbump()\nreturn 1` },
  // ARGV: nowMs → {status 1|-1, used, reserved}
  quotaUsage: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
reclaim(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'used', 'reserved')
if not state[1] then return {-1, 0, 0} end
return {1, tonumber(state[1]), tonumber(state[2] or '0')}`,
  },
  // ARGV: nowMs, usedBytes, onlyIfAbsent (1|0), order ('' none | 't' ticket), its epoch, its seq.
  // Sets used and recounts reserved from the live reservations.
  quotaResync: {
    numberOfKeys: 3,
    lua: `${PRELUDE}
reclaim(ARGV[1])
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], 'used') == 1 then return 0 end
if not claimFigure(ARGV[4], ARGV[5], ARGV[6]) then return 0 end
bump()
setUsed(ARGV[2])
return 1`,
  },
} as const;

/** An order as script arguments: kind ('' none, 't' ticket, 'm' mark), epoch, seq. */
const orderArgs = (order: QuotaOrder | undefined): [string, string, number] => {
  if (!order) return ['', '', 0];
  if ('ticket' in order) return ['t', order.ticket.epoch, order.ticket.seq];
  return ['m', order.mark.epoch, order.mark.seq];
};

export interface RedisQuotaStoreOptions extends QuotaStoreCommonOptions {
  redis: Redis;
  clock?: Clock;
  logger?: Logger;
  /** Prepended to every key (e.g. `cs:`). */
  keyPrefix?: string;
  /** Upper bound per call on top of the client's `commandTimeout`. Default 100 ms. */
  timeoutMs?: number;
}

/**
 * Quota store shared by every gateway process through Redis. Each operation is one atomic Lua
 * script (one round trip); failures and timeouts throw `LimitsUnavailableError('unavailable')`.
 * The injected client is not closed by `close()`.
 */
export function createRedisQuotaStore(options: RedisQuotaStoreOptions): QuotaStore {
  const clock = options.clock ?? systemClock;
  const prefix = options.keyPrefix ?? '';
  const ttlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
  const timeoutMs = options.timeoutMs ?? 100;
  const outage = createOutageReporter(options.logger ?? silentLogger, clock, 'quota store');
  const scripts = defineScripts(options.redis, SCRIPTS);
  const bounded = commandBound(options.redis, timeoutMs);

  const keys = (accountId: string) => {
    const base = `${prefix}quota:{${accountId}}`;
    return [base, `${base}:expiry`, `${base}:bytes`];
  };

  const run = async <T>(name: keyof typeof SCRIPTS, accountId: string, args: (string | number)[], extraKeys: string[] = []): Promise<T> => {
    try {
      const reply = (await bounded(scripts[name](...keys(accountId), ...extraKeys, ...args), `quota ${name}`)) as T;
      outage.success();
      return reply;
    } catch (error) {
      outage.failure(error);
      if (isLimitsUnavailable(error)) throw error;
      throw new LimitsUnavailableError('unavailable', `quota: Redis ${name} failed: ${(error as Error).message}`, { cause: error });
    }
  };
  const unsynced = (accountId: string) => new LimitsUnavailableError('unsynced', `quota: no usage known for account ${accountId}`);

  const withUsage = createUsageLoader(options.loadUsage, async (accountId, usedBytes) => {
    assertBytes(usedBytes, 'usedBytes');
    await run('quotaResync', accountId, [clock.now().getTime(), usedBytes, 1, '', '', 0]);
  });

  return {
    async reserve(accountId: string, bytes: number, quotaBytes: number, rate?: RateCheck): Promise<ReserveResult> {
      assertBytes(bytes, 'bytes');
      assertQuota(quotaBytes);
      // An unsynced account is loaded and the reservation retried: the rate check ran (and counted) in the first attempt.
      let pendingRate = rate;
      let rateResult: RateLimitResult | undefined;
      return withUsage(accountId, async () => {
        const withRate = pendingRate;
        pendingRate = undefined;
        const now = clock.now().getTime();
        const reservationId = randomUUID();
        const quotaArg = quotaBytes === Infinity ? -1 : quotaBytes;
        const args = [now, bytes, quotaArg, reservationId, now + ttlMs];
        const reply = withRate
          ? await run<number[]>(
              'quotaReserveRated',
              accountId,
              [...args, withRate.rule.limit, withRate.rule.windowMs, DEFAULT_EXPIRY_SLACK_MS],
              [rateLimitRedisKey(prefix, withRate.key, withRate.rule)],
            )
          : await run<number[]>('quotaReserve', accountId, args);
        if (withRate) rateResult = gcraResult(withRate.rule, reply.slice(3, 7));
        if (rateResult && !rateResult.allowed) return { ok: false, usedBytes: 0, reservedBytes: 0, quotaBytes, rate: rateResult };
        const [status, used, reserved] = reply;
        if (status === -1) throw unsynced(accountId);
        if (status === 1) {
          const [epoch, seq] = withRate ? reply.slice(7) : reply.slice(3);
          return { ok: true, reservationId, mark: { epoch: String(epoch), seq: Number(seq) }, rate: rateResult };
        }
        return { ok: false, usedBytes: used!, reservedBytes: reserved!, quotaBytes, rate: rateResult };
      });
    },
    async settle(accountId: string, usedBytes: number, reservationIds: string[], order?: QuotaOrder): Promise<SettleResult> {
      assertBytes(usedBytes, 'usedBytes');
      // The fresh epoch is only used for a ticket the settle hands out: a passed-by mark on a hash that lost its state.
      const [done, epoch, seq] = await run<[number, string?, number?]>('quotaSettle', accountId, [
        clock.now().getTime(),
        usedBytes,
        ...orderArgs(order),
        randomUUID(),
        ...reservationIds,
      ]);
      return done === 1 ? true : { epoch: String(epoch), seq: Number(seq) };
    },
    async ticket(accountId: string): Promise<QuotaTicket> {
      const [epoch, seq] = await run<[string, number]>('quotaTicket', accountId, [randomUUID()]);
      return { epoch, seq };
    },
    async commit(accountId: string, reservationId: string, actualDeltaBytes: number): Promise<void> {
      assertBytes(actualDeltaBytes, 'actualDeltaBytes', { allowNegative: true });
      await run('quotaCommit', accountId, [reservationId, actualDeltaBytes]);
    },
    async release(accountId: string, reservationId: string): Promise<void> {
      await run('quotaRelease', accountId, [reservationId]);
    },
    async adjust(accountId: string, deltaBytes: number): Promise<void> {
      assertBytes(deltaBytes, 'deltaBytes', { allowNegative: true });
      await run('quotaAdjust', accountId, [deltaBytes]);
    },
    async usage(accountId: string): Promise<QuotaUsage> {
      return withUsage(accountId, async () => {
        const [status, used, reserved] = await run<number[]>('quotaUsage', accountId, [clock.now().getTime()]);
        if (status === -1) throw unsynced(accountId);
        return { usedBytes: used, reservedBytes: reserved };
      });
    },
    async resync(accountId: string, usedBytes: number, ticket?: QuotaTicket): Promise<void> {
      assertBytes(usedBytes, 'usedBytes');
      await run('quotaResync', accountId, [clock.now().getTime(), usedBytes, 0, ...orderArgs(ticket && { ticket })]);
    },
    async close() {},
  };
}
