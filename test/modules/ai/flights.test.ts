import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Broadcast } from '../../../src/modules/ai/broadcast.js';
import { RedisEventStream } from '../../../src/modules/ai/event-stream.js';
import { RedisFlights } from '../../../src/modules/ai/flights.js';
import { RedisFallback } from '../../../src/modules/ai/redis-fallback.js';
import { closeRedis } from '../../../src/plugins/redis.js';
import { connectTestRedis, deleteKeys, redisAvailable, testPrefix } from '../../helpers/redis.js';

// The claim that makes identical requests on several instances one model call: it must
// last as long as its owner runs, and no longer than a short TTL once the owner is gone.

const CLAIM_TTL_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!(await redisAvailable()))('cross-instance claims (RedisFlights)', () => {
  let redis: Redis;
  let prefix: string;
  let flights: RedisFlights;

  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterEach(async () => deleteKeys(redis, prefix));
  afterAll(async () => {
    if (redis) await closeRedis(redis);
  });

  function instance() {
    prefix ??= testPrefix();
    return new RedisFlights(redis, new RedisEventStream(redis, { prefix }), new RedisFallback(undefined), {
      prefix,
      claimTtlMs: CLAIM_TTL_MS,
      readersTtlMs: 60_000,
    });
  }

  it('keeps a running owner’s claim past its TTL, and frees it when the answer is relayed', async () => {
    flights = instance();
    expect(await flights.claim('same-request', 'owner')).toBeNull();
    const broadcast = new Broadcast();
    broadcast.push({ type: 'start', generationId: 'owner', alias: 'default', cached: false });
    const sharing = flights.share('same-request', 'owner', broadcast);
    await sleep(CLAIM_TTL_MS * 3);
    // Still running: a second instance follows it rather than calling the model again.
    expect(await instance().claim('same-request', 'second')).toBe('owner');
    broadcast.push({ type: 'token', text: 'Hello' });
    broadcast.push({
      type: 'done',
      model: 'glm4',
      provider: 'main',
      alias: 'default',
      usage: { promptTokens: 1, completionTokens: 1 },
      finishReason: 'stop',
      cached: false,
      ttftMs: 1,
      durationMs: 2,
    });
    await sharing;
    expect(await instance().claim('same-request', 'third')).toBeNull();
  });

  it('lets a crashed owner’s claim lapse after the TTL, so the request runs again', async () => {
    flights = instance();
    // Claimed, and then nothing: the owner died before it could relay or renew.
    expect(await flights.claim('orphan', 'dead-owner')).toBeNull();
    expect(await instance().claim('orphan', 'second')).toBe('dead-owner');
    await sleep(CLAIM_TTL_MS + 100);
    expect(await instance().claim('orphan', 'third')).toBeNull();
  });
});
