import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { CachedGeneration } from '../../../src/modules/ai/cache.js';
import { createSharedAiState } from '../../../src/modules/ai/redis-fallback.js';
import { closeRedis, createRedisClient } from '../../../src/plugins/redis.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  startFreezableProxy,
  startOwnRedis,
  startSilentServer,
  testPrefix,
} from '../../helpers/redis.js';

// Redis refused, silent, frozen mid-use and killed: AI requests are answered from this
// instance's memory without waiting on Redis (beyond one deadline), with one warning, and
// sharing resumes on its own when Redis answers again. The shared 6379 is never stopped:
// a proxy in front of it freezes, and the kill test runs a redis-server of its own.

const TIMEOUT_MS = 200;
const PROBE_MS = 300;
const LIMITS = { requestsPerMinute: 3, tokensPerDay: 1000, maxQueue: 10, perUser: 3 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function answer(text: string): CachedGeneration {
  return {
    tokens: [text],
    model: 'glm4',
    provider: 'main',
    alias: 'default',
    usage: { promptTokens: 3, completionTokens: 1 },
    finishReason: 'stop',
  };
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** An instance's limiter and cache on this client, with a warning log to read. */
function instance(client: Redis, prefix = testPrefix()) {
  const warnings: string[] = [];
  const state = createSharedAiState(client, systemClock, {
    limits: LIMITS,
    cache: { ttlMs: 60_000, maxEntries: 100 },
    prefix,
    log: { warn: (_, message) => warnings.push(message) },
    timeoutMs: TIMEOUT_MS,
    probeIntervalMs: PROBE_MS,
  });
  return { ...state, warnings, prefix };
}

/** A client that has not connected (and keeps trying, as after a lost connection). */
function unconnectedClient(url: string): Redis {
  const client = createRedisClient(url);
  client.on('error', () => {});
  client.connect().catch(() => {});
  cleanup.push(async () => client.disconnect());
  return client;
}

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}

describe('when Redis is away, AI limits and the cache fall back to memory', () => {
  it('nothing listening: every call is answered from memory at once, with one warning', async () => {
    const ai = instance(unconnectedClient(`redis://127.0.0.1:${await freePort()}`));
    const takes = [];
    for (let i = 0; i < 5; i++) takes.push(await timed(() => ai.limiter.take('user:1')));
    // Still limited, by this instance's own count: three a minute.
    expect(takes.map((t) => t.value.allowed)).toEqual([true, true, true, false, false]);
    for (const take of takes) expect(take.ms).toBeLessThan(TIMEOUT_MS / 2);
    await ai.cache.set('k', answer('kept here'));
    expect(await ai.cache.get('k')).toEqual(answer('kept here'));
    expect(ai.warnings).toEqual([expect.stringMatching(/^Redis is not answering/)]);
    expect(ai.gate.shared).toBe(false);
  });

  it('a server that accepts and never answers: no call waits on it', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const ai = instance(unconnectedClient(silent.url));
    await sleep(50);
    for (let i = 0; i < 10; i++) {
      const { value, ms } = await timed(() => ai.limiter.take('user:1'));
      expect(value.headers['ratelimit-limit']).toBe('3');
      expect(ms).toBeLessThan(TIMEOUT_MS + 100);
    }
    expect(ai.warnings).toHaveLength(1);
  });
});

describe.skipIf(!(await redisAvailable()))('when a working Redis stops answering', () => {
  const clients: Redis[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => closeRedis(client)));
  });

  async function client(url: string): Promise<Redis> {
    const connected = await connectTestRedis(url);
    clients.push(connected);
    return connected;
  }

  it('hangs mid-use: one call waits the deadline, the rest none, and sharing resumes when it answers', async () => {
    const proxy = await startFreezableProxy(REDIS_URL);
    cleanup.push(() => proxy.close());
    const direct = await client(REDIS_URL);
    const ai = instance(await client(proxy.url));
    cleanup.push(() => deleteKeys(direct, ai.prefix));
    const bucket = `${ai.prefix}ai:limit:user:1:bucket`;

    expect((await ai.limiter.take('user:1')).allowed).toBe(true);
    expect(Number(await direct.hget(bucket, 'tokens'))).toBeCloseTo(2, 3);

    proxy.freeze();
    const first = await timed(() => ai.limiter.take('user:1'));
    expect(first.value.allowed).toBe(true);
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(first.ms).toBeLessThan(TIMEOUT_MS + 150);
    const rest = [];
    for (let i = 0; i < 10; i++) rest.push(await timed(() => ai.cache.get('nothing')));
    expect(Math.max(...rest.map((r) => r.ms))).toBeLessThan(TIMEOUT_MS / 2);
    expect(ai.warnings).toEqual([expect.stringMatching(/^Redis is not answering/)]);

    // Still frozen after the probe interval: the probe waits the deadline and fails.
    await sleep(PROBE_MS);
    const probe = await timed(() => ai.limiter.take('user:1'));
    expect(probe.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(ai.gate.shared).toBe(false);

    proxy.thaw();
    await sleep(PROBE_MS);
    await ai.limiter.take('user:1');
    expect(ai.gate.shared).toBe(true);
    expect(ai.warnings).toEqual([
      expect.stringMatching(/^Redis is not answering/),
      expect.stringMatching(/^Redis answers again/),
    ]);
    // Counted in Redis again. The two takes Redis received while frozen arrived with the
    // thaw and were counted too: a request the deadline gave up on still costs the user.
    const tokens = Number(await direct.hget(bucket, 'tokens'));
    expect(tokens).toBeLessThan(1);
  });

  it('does not take a stalled event loop for a Redis outage when the answer is already there', async () => {
    const ai = instance(await client(REDIS_URL));
    const take = ai.limiter.take('user:1');
    // Longer than the deadline, synchronously: the answer arrives meanwhile, unread.
    const until = performance.now() + TIMEOUT_MS + 100;
    while (performance.now() < until);
    expect((await take).allowed).toBe(true);
    expect(ai.gate.shared).toBe(true);
    expect(ai.warnings).toEqual([]);
    await deleteKeys(clients[0]!, ai.prefix);
  });

  it('killed and restarted: falls back, and two instances share again without a new client', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const prefix = testPrefix();
    const a = instance(await client(own.url), prefix);
    const b = instance(await client(own.url), prefix);
    expect((await a.limiter.take('user:1')).headers['ratelimit-remaining']).toBe('2');
    expect((await b.limiter.take('user:1')).headers['ratelimit-remaining']).toBe('1');

    await own.stop();
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await timed(() => a.limiter.take('user:1')));
    // Per instance now: this one's own bucket, full at the outage.
    expect(during.map((d) => d.value.allowed)).toEqual([true, true, true, false]);
    expect(Math.max(...during.map((d) => d.ms))).toBeLessThan(TIMEOUT_MS + 100);
    expect(a.warnings).toEqual([expect.stringMatching(/^Redis is not answering/)]);

    await own.start();
    // ioredis reconnects on its own (backoff up to 2 s); the next probe finds it.
    const deadline = Date.now() + 8000;
    while (!(a.gate.shared && b.gate.shared) && Date.now() < deadline) {
      await sleep(100);
      await a.limiter.take('user:2');
      await b.limiter.take('user:2');
    }
    expect(a.gate.shared && b.gate.shared).toBe(true);
    expect(a.warnings.at(-1)).toMatch(/^Redis answers again/);
    // The restarted Redis is empty: both instances count one fresh bucket together again.
    expect((await a.limiter.take('user:1')).headers['ratelimit-remaining']).toBe('2');
    expect((await b.limiter.take('user:1')).headers['ratelimit-remaining']).toBe('1');
  });
});
