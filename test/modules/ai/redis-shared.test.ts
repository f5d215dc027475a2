import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/clock.js';
import type { CachedGeneration } from '../../../src/modules/ai/cache.js';
import { MemoryUsageLimiter, type UsageLimits } from '../../../src/modules/ai/limiter.js';
import { RedisGenerationCache } from '../../../src/modules/ai/redis-cache.js';
import { RedisUsageLimiter } from '../../../src/modules/ai/redis-limiter.js';
import { closeRedis } from '../../../src/plugins/redis.js';
import { connectTestRedis, deleteKeys, redisAvailable, testPrefix } from '../../helpers/redis.js';

// Two limiters or two caches on one Redis stand for two Inkstone instances: each has a
// client (a connection) of its own, as separate processes would.

const NOON = Date.UTC(2026, 0, 15, 12, 0, 0);

function steppingClock(start = NOON) {
  let now = start;
  const clock: Clock = { now: () => new Date(now) };
  return { clock, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

function answer(text: string): CachedGeneration {
  return {
    tokens: text.split(/(?= )/),
    model: 'glm4',
    provider: 'main',
    alias: 'default',
    usage: { promptTokens: 12, completionTokens: 5 },
    finishReason: 'stop',
  } as CachedGeneration;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!(await redisAvailable()))('AI limits and cache shared through Redis', () => {
  let one: Redis;
  let two: Redis;
  let prefix: string;

  beforeAll(async () => {
    one = await connectTestRedis();
    two = await connectTestRedis();
  });
  beforeEach(() => {
    prefix = testPrefix();
  });
  afterEach(async () => {
    await deleteKeys(one, prefix);
  });
  afterAll(async () => {
    await Promise.all([one && closeRedis(one), two && closeRedis(two)]);
  });

  function limiters(limits: UsageLimits, clock: Clock) {
    return [
      new RedisUsageLimiter(one, limits, clock, prefix),
      new RedisUsageLimiter(two, limits, clock, prefix),
    ] as const;
  }

  it("two instances draw one user's requests per minute from one bucket, with the same RateLimit headers", async () => {
    const { clock, advance } = steppingClock();
    const [a, b] = limiters({ requestsPerMinute: 4, tokensPerDay: 1000 }, clock);
    const decisions = [];
    for (const limiter of [a, b, a, b, a, b]) decisions.push(await limiter.take('user:1'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false, false]);
    expect(decisions.map((d) => d.headers['ratelimit-remaining'])).toEqual(['3', '2', '1', '0', '0', '0']);
    expect(decisions[0]!.headers).toEqual({
      'ratelimit-limit': '4',
      'ratelimit-remaining': '3',
      'ratelimit-reset': '15',
    });
    // Four a minute: one request back every 15 s.
    expect(decisions[4]).toMatchObject({
      retryAfterSeconds: 15,
      reason: 'At most 4 AI requests a minute; try again in 15 s.',
    });
    expect(decisions[5]).toEqual(decisions[4]);

    // Another user has a bucket of its own.
    expect((await b.take('user:2')).allowed).toBe(true);

    advance(15_000);
    expect(await b.take('user:1')).toMatchObject({ allowed: true, headers: { 'ratelimit-remaining': '0' } });
    expect((await a.take('user:1')).allowed).toBe(false);
  });

  it('answers exactly as MemoryUsageLimiter does, request for request', async () => {
    const { clock, advance } = steppingClock(NOON + 86_400_000 - 30_000);
    const limits = { requestsPerMinute: 7, tokensPerDay: 500 };
    const [a, b] = limiters(limits, clock);
    const memory = new MemoryUsageLimiter(limits, clock);
    // A fixed, irregular walk: bursts, waits of odd lengths, tokens used, and midnight.
    const steps = [0, 0, 0, 0, 0, 0, 0, 0, 3_000, 8_571, 0, 1, 20_000, 0, 0, 45_000, 0, 0, 0, 0];
    for (const [i, wait] of steps.entries()) {
      advance(wait);
      const redis = await (i % 2 ? a : b).take('user:1');
      expect(redis, `step ${i}`).toEqual(await memory.take('user:1'));
      if (i % 3 === 0) {
        await (i % 2 ? b : a).record('user:1', 90);
        await memory.record('user:1', 90);
      }
    }
  });

  it("counts a day's tokens from every instance, and a new UTC day starts afresh", async () => {
    const { clock, set } = steppingClock();
    const [a, b] = limiters({ requestsPerMinute: 100, tokensPerDay: 50 }, clock);
    expect((await a.take('user:1')).allowed).toBe(true);
    await a.record('user:1', 30);
    expect((await b.take('user:1')).allowed).toBe(true);
    await b.record('user:1', 25);
    const refused = await a.take('user:1');
    expect(refused).toMatchObject({
      allowed: false,
      reason: "You have used today's 50 AI tokens.",
      retryAfterSeconds: 12 * 3600,
    });
    expect((await b.take('user:1')).allowed).toBe(false);
    // The counter cleans itself away after its day.
    const ttl = await one.ttl(`${prefix}ai:limit:user:1:tokens:2026-01-15`);
    expect(ttl).toBeGreaterThan(24 * 3600);
    expect(ttl).toBeLessThanOrEqual(25 * 3600);

    set(Date.UTC(2026, 0, 16, 0, 0, 1));
    expect((await b.take('user:1')).allowed).toBe(true);
  });

  it('takes atomically: 60 requests at once through two instances get exactly the bucket', async () => {
    const { clock } = steppingClock();
    const [a, b] = limiters({ requestsPerMinute: 25, tokensPerDay: 1000 }, clock);
    const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).take('user:1')));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(25);
    const remaining = decisions.filter((d) => d.allowed).map((d) => Number(d.headers['ratelimit-remaining']));
    expect(remaining.sort((x, y) => y - x)).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));
  });

  it('keeps its keys under the prefix, and a bucket left alone expires within a minute', async () => {
    const { clock } = steppingClock();
    const [a] = limiters({ requestsPerMinute: 5, tokensPerDay: 100 }, clock);
    await a.take('user:7');
    await a.record('user:7', 3);
    const keys = await one.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([
      `${prefix}ai:limit:user:7:bucket`,
      `${prefix}ai:limit:user:7:tokens:2026-01-15`,
    ]);
    const ttl = await one.pttl(`${prefix}ai:limit:user:7:bucket`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('a hit on one instance is a hit on the other', async () => {
    const a = new RedisGenerationCache(one, { ttlMs: 60_000 }, prefix);
    const b = new RedisGenerationCache(two, { ttlMs: 60_000 }, prefix);
    expect(await b.get('k1')).toBeUndefined();
    await a.set('k1', answer('Green tea at home'));
    expect(await b.get('k1')).toEqual(answer('Green tea at home'));
    expect(await one.keys(`${prefix}*`)).toEqual([`${prefix}ai:cache:k1`]);
  });

  it('Redis expires an entry after the TTL', async () => {
    const a = new RedisGenerationCache(one, { ttlMs: 150 }, prefix);
    const b = new RedisGenerationCache(two, { ttlMs: 150 }, prefix);
    await a.set('k2', answer('Brief'));
    const pttl = await one.pttl(`${prefix}ai:cache:k2`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(150);
    expect(await b.get('k2')).toBeDefined();
    await sleep(200);
    expect(await b.get('k2')).toBeUndefined();
  });

  it('does not store an answer over the size bound, nor anything with a TTL of 0', async () => {
    const bounded = new RedisGenerationCache(one, { ttlMs: 60_000, maxBytes: 1024 }, prefix);
    await bounded.set('big', answer('word '.repeat(500)));
    await bounded.set('small', answer('word '.repeat(10)));
    expect(await bounded.get('big')).toBeUndefined();
    expect(await bounded.get('small')).toBeDefined();

    const off = new RedisGenerationCache(one, { ttlMs: 0 }, prefix);
    await off.set('off', answer('x'));
    expect(await one.exists(`${prefix}ai:cache:off`)).toBe(0);
  });

  it('reads a value that is not an answer as a miss', async () => {
    const cache = new RedisGenerationCache(one, { ttlMs: 60_000 }, prefix);
    await one.set(`${prefix}ai:cache:junk`, 'not json', 'PX', 60_000);
    await one.set(`${prefix}ai:cache:other`, '{"text":"a"}', 'PX', 60_000);
    expect(await cache.get('junk')).toBeUndefined();
    expect(await cache.get('other')).toBeUndefined();
  });
});
