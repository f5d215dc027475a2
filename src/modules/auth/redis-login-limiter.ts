import type { Redis } from 'ioredis';
import type { RedisFallback } from '../ai/redis-fallback.js';
import type { LoginLimiter, LoginLimiterOptions } from './login-limiter.js';

// Check and count in one script, so that guesses sent to several instances at the same moment
// cannot all read "under the limit" before any of them counts. A window starts with the
// first attempt (INCR to 1 sets its PEXPIRE) and is the key's life, as in MemoryLoginLimiter;
// the window is Redis's clock, the same for every instance.
//
// KEYS: the address's counter, the account's. ARGV: max per address, max per account, window (ms).
// Returns: 0 (counted), or the ms until the fuller key's window ends (refused, not counted).
const TAKE = `
local window = tonumber(ARGV[3])
local function wait(key, max)
  local count = tonumber(redis.call('GET', key) or '0')
  if count < max then return 0 end
  local ttl = redis.call('PTTL', key)
  -- A counter with no expiry (written by hand?) would refuse forever: give it a window.
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return ttl
end
local ms = math.max(wait(KEYS[1], tonumber(ARGV[1])), wait(KEYS[2], tonumber(ARGV[2])))
if ms > 0 then return ms end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], window) end
end
return 0
`;

// A success clears the account and takes its attempt back from the address; DECR keeps the
// key's expiry, and a counter already gone is not brought back at -1 without one.
const SUCCESS = `
redis.call('DEL', KEYS[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

interface LoginCommands {
  inkstoneTakeLogin(
    ipKey: string,
    accountKey: string,
    maxPerIp: number,
    maxPerAccount: number,
    windowMs: number,
  ): Promise<number>;
  inkstoneLoginSucceeded(ipKey: string, accountKey: string): Promise<number>;
}

/**
 * MemoryLoginLimiter's rules counted in Redis, so that failed sign-ins through every
 * instance add up to one limit. Keys: `<prefix>login:ip:<address>` and
 * `<prefix>login:account:<user:id | login:typed name>`. Redis errors are thrown;
 * FallbackLoginLimiter decides what to do about them.
 */
export class RedisLoginLimiter implements LoginLimiter {
  private readonly redis: Redis & LoginCommands;

  constructor(
    redis: Redis,
    private readonly options: LoginLimiterOptions,
    private readonly prefix = 'inkstone:',
  ) {
    // EVALSHA, and the script itself after a NOSCRIPT (a restarted Redis).
    redis.defineCommand('inkstoneTakeLogin', { numberOfKeys: 2, lua: TAKE });
    redis.defineCommand('inkstoneLoginSucceeded', { numberOfKeys: 2, lua: SUCCESS });
    this.redis = redis as Redis & LoginCommands;
  }

  async take(ip: string, account: string): Promise<number> {
    const ms = await this.redis.inkstoneTakeLogin(
      this.key('ip', ip),
      this.key('account', account),
      this.options.maxPerIp,
      this.options.maxPerAccount,
      this.options.windowSeconds * 1000,
    );
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  async recordSuccess(ip: string, account: string): Promise<void> {
    await this.redis.inkstoneLoginSucceeded(this.key('ip', ip), this.key('account', account));
  }

  private key(kind: 'ip' | 'account', name: string): string {
    return `${this.prefix}login:${kind}:${name}`;
  }
}

/**
 * The Redis limiter while Redis answers; this instance's memory while it does not. An
 * outage must neither lock every user out nor let guesses through unlimited: each instance
 * then limits on its own (an attacker gets at most one limit per instance per window), and
 * the gate logs the switch once.
 */
export class FallbackLoginLimiter implements LoginLimiter {
  constructor(
    private readonly shared: LoginLimiter,
    private readonly local: LoginLimiter,
    private readonly gate: RedisFallback,
  ) {}

  take(ip: string, account: string): Promise<number> {
    return this.gate.run(
      () => this.shared.take(ip, account),
      () => this.local.take(ip, account),
    );
  }

  recordSuccess(ip: string, account: string): Promise<void> {
    return this.gate.run(
      () => this.shared.recordSuccess(ip, account),
      () => this.local.recordSuccess(ip, account),
    );
  }
}
