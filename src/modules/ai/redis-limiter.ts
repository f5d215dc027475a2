import type { Redis } from 'ioredis';
import type { Clock } from '../../clock.js';
import { decide, type LimitDecision, type UsageLimiter, type UsageLimits } from './limiter.js';

// The token bucket in one script, so that two instances taking from one user's bucket at
// the same moment cannot both take its last token. It refills exactly as refill() in
// limiter.ts and returns the refilled bucket before the take, which decide() then reads
// the same way MemoryUsageLimiter does; '%.17g' keeps every bit of the double, so both
// sides compare the very same number.
//
// Time comes from the caller's clock (the instances' clocks, as MemoryUsageLimiter's; tests
// step a fake one). A caller whose clock is behind the last take's refills nothing rather
// than drains the bucket.
//
// KEYS: bucket hash, the day's token counter. ARGV: now (ms), requests per minute, tokens per day.
// Returns: 1 or 0 (taken), the bucket after its refill and before the take, the day's tokens.
const TAKE = `
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local perDay = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * (capacity / 60000))
  at = now
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local taken = 0
if used < perDay and tokens >= 1 then taken = 1 end
local left = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', left), 'at', string.format('%d', at))
-- An untouched bucket is full again within a minute, the same as no bucket at all.
redis.call('PEXPIRE', KEYS[1], 60000)
return {taken, string.format('%.17g', tokens), used}
`;

// Day counters are named by their UTC date, so one is never read after its day; the TTL
// only clears them away, with an hour to spare for clocks that disagree.
const DAY_KEY_TTL_SECONDS = 25 * 3600;

interface LimiterCommands {
  inkstoneTakeAiLimit(
    bucketKey: string,
    dayKey: string,
    now: number,
    requestsPerMinute: number,
    tokensPerDay: number,
  ): Promise<[number, string, number]>;
}

/**
 * MemoryUsageLimiter's rules, counted in Redis so that every instance draws on one
 * allowance per user. Keys: `<prefix>ai:limit:<user>:bucket` and `…:tokens:<YYYY-MM-DD>`.
 * Redis errors are thrown; redis-fallback.ts decides what to do about them.
 */
export class RedisUsageLimiter implements UsageLimiter {
  private readonly redis: Redis & LimiterCommands;

  constructor(
    redis: Redis,
    private readonly limits: UsageLimits,
    private readonly clock: Clock,
    private readonly prefix = 'inkstone:',
  ) {
    // The command sends EVALSHA, and the script itself when Redis answers NOSCRIPT (after a
    // restart), so a Redis that comes back needs nothing from us.
    redis.defineCommand('inkstoneTakeAiLimit', { numberOfKeys: 2, lua: TAKE });
    this.redis = redis as Redis & LimiterCommands;
  }

  async take(user: string): Promise<LimitDecision> {
    const now = this.clock.now().getTime();
    const [, tokens, used] = await this.redis.inkstoneTakeAiLimit(
      this.key(user, 'bucket'),
      this.dayKey(user, now),
      now,
      this.limits.requestsPerMinute,
      this.limits.tokensPerDay,
    );
    // The script took the token exactly when decide() allows, from the same numbers.
    return decide(this.limits, Number(tokens), used, now);
  }

  async record(user: string, tokens: number): Promise<void> {
    if (tokens <= 0) return;
    const key = this.dayKey(user, this.clock.now().getTime());
    await this.redis.multi().incrby(key, tokens).expire(key, DAY_KEY_TTL_SECONDS).exec();
  }

  private dayKey(user: string, now: number): string {
    return this.key(user, `tokens:${new Date(now).toISOString().slice(0, 10)}`);
  }

  private key(user: string, what: string): string {
    return `${this.prefix}ai:limit:${user}:${what}`;
  }
}
