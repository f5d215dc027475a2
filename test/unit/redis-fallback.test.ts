import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { RedisFallback } from '../../src/modules/ai/redis-fallback.js';

// The gate between Redis and the in-memory stand-ins, with functions in place of Redis.
// The same behaviour against a real Redis (refused, silent, frozen, killed) is in
// test/modules/ai/redis-fallback.test.ts.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function gate(options: { timeoutMs?: number; probeIntervalMs?: number } = {}) {
  const warnings: string[] = [];
  const fallback = new RedisFallback({ warn: (_, message) => warnings.push(message) }, options);
  let redisUp = true;
  let redisCalls = 0;
  const shared = async () => {
    redisCalls++;
    if (!redisUp) throw new Error('ECONNREFUSED');
    return 'redis';
  };
  const local = async () => 'memory';
  return {
    fallback,
    warnings,
    call: () => fallback.run(shared, local),
    setRedis: (up: boolean) => (redisUp = up),
    redisCalls: () => redisCalls,
  };
}

describe('RedisFallback', () => {
  it('answers from Redis while it answers', async () => {
    const g = gate();
    expect(await g.call()).toBe('redis');
    expect(g.fallback.shared).toBe(true);
    expect(g.warnings).toEqual([]);
  });

  it('on a failure answers from memory, warns once, and stops asking Redis until the next probe', async () => {
    const g = gate({ probeIntervalMs: 60_000 });
    g.setRedis(false);
    const answers = await Promise.all(Array.from({ length: 20 }, g.call));
    expect(answers).toEqual(Array(20).fill('memory'));
    for (let i = 0; i < 20; i++) expect(await g.call()).toBe('memory');
    expect(g.warnings).toEqual([expect.stringMatching(/^Redis is not answering/)]);
    // The 20 sent together all reached Redis before the first failure came back; none after.
    expect(g.redisCalls()).toBe(20);
    expect(g.fallback.shared).toBe(false);
  });

  it('answers from memory after the deadline when Redis does not answer at all', async () => {
    const fallback = new RedisFallback(undefined, { timeoutMs: 50 });
    const started = performance.now();
    const answer = await fallback.run(
      () => new Promise<string>(() => {}),
      async () => 'memory',
    );
    const waited = performance.now() - started;
    expect(answer).toBe('memory');
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(500);
  });

  it('probes at most once per interval, one probe at a time, and goes back to Redis when one succeeds', async () => {
    const g = gate({ probeIntervalMs: 100 });
    g.setRedis(false);
    await g.call();
    await g.call();
    expect(g.redisCalls()).toBe(1);
    await sleep(120);
    await Promise.all([g.call(), g.call(), g.call()]);
    // One of the three was the probe; it failed, so the next waits another interval.
    expect(g.redisCalls()).toBe(2);
    await g.call();
    expect(g.redisCalls()).toBe(2);

    g.setRedis(true);
    expect(await g.call()).toBe('memory');
    await sleep(120);
    expect(await g.call()).toBe('redis');
    expect(g.fallback.shared).toBe(true);
    expect(await g.call()).toBe('redis');
    expect(g.warnings).toEqual([
      expect.stringMatching(/^Redis is not answering/),
      expect.stringMatching(/^Redis answers again/),
    ]);
  });

  it('does not come back on a late answer to a call sent before the outage', async () => {
    const fallback = new RedisFallback(undefined, { timeoutMs: 1000, probeIntervalMs: 60_000 });
    let answerSlowCall!: (value: string) => void;
    const slow = fallback.run(
      () => new Promise<string>((resolve) => (answerSlowCall = resolve)),
      async () => 'memory',
    );
    await fallback.run(
      async () => {
        throw new Error('connection lost');
      },
      async () => 'memory',
    );
    answerSlowCall('redis');
    expect(await slow).toBe('redis');
    expect(fallback.shared).toBe(false);
  });
});

describe('Redis configuration', () => {
  it('is off without REDIS_URL, and on with the URL and the default key prefix', () => {
    expect(loadConfig({}).redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/0' }).redis).toEqual({
      url: 'redis://127.0.0.1:6379/0',
      prefix: 'inkstone:',
    });
    expect(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380', REDIS_PREFIX: 'blog2:' }).redis).toEqual({
      url: 'rediss://cache.internal:6380',
      prefix: 'blog2:',
    });
  });

  it('names a URL that is not redis:// without repeating it (it may hold a password)', () => {
    const attempt = () => loadConfig({ REDIS_URL: 'http://:hunter2@127.0.0.1:6379' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/REDIS_URL must be a URL such as redis:\/\/127\.0\.0\.1:6379\/0/);
    expect(attempt).not.toThrow(/hunter2/);
  });
});
