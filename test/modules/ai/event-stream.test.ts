import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AiEvent, type AiEventBody, Broadcast } from '../../../src/modules/ai/broadcast.js';
import { RedisEventStream } from '../../../src/modules/ai/event-stream.js';
import { closeRedis } from '../../../src/plugins/redis.js';
import {
  connectTestRedis,
  deleteKeys,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../../helpers/redis.js';

const available = await redisAvailable();

const DONE: AiEventBody = {
  type: 'done',
  model: 'm',
  provider: 'p',
  alias: 'default',
  usage: { promptTokens: 1, completionTokens: 2 },
  finishReason: 'stop',
  cached: false,
  ttftMs: 1,
  durationMs: 2,
};

async function collect(events: AsyncIterable<AiEvent>): Promise<AiEvent[]> {
  const all: AiEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

describe.skipIf(!available)('RedisEventStream', () => {
  let redis: Redis;
  let prefix: string;
  let stream: RedisEventStream;
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterEach(async () => {
    await deleteKeys(redis, prefix);
  });
  afterAll(async () => {
    if (redis) await closeRedis(redis);
  });
  const fresh = (options: { maxLen?: number } = {}) => {
    prefix = testPrefix();
    stream = new RedisEventStream(redis, { prefix, ...options });
    return stream;
  };

  it('relays a broadcast to readers from the start, after a Last-Event-ID and live, each ending at done', async () => {
    fresh();
    const broadcast = new Broadcast();
    const published = stream.publish('job', broadcast.subscribe());
    const fromStart = collect(stream.subscribe('job'));
    broadcast.push({ type: 'start', generationId: 'g', alias: 'default', cached: false });
    for (const text of ['One', ' two', ' three']) broadcast.push({ type: 'token', text });
    // Joins once three events are in the stream: reads the rest, then follows.
    for (let i = 0; (await stream.lastId('job')) < 2 && i < 100; i++) await Promise.resolve();
    expect(await stream.lastId('job')).toBeGreaterThanOrEqual(2);
    const afterOne = collect(stream.subscribe('job', undefined, 1));
    broadcast.push({ type: 'token', text: ' four' });
    broadcast.push(DONE);
    const { last, lost } = await published;
    expect(last).toMatchObject({ id: 5, type: 'done' });
    expect(lost).toBe(0);
    const all = await fromStart;
    expect(all).toEqual(broadcast.log);
    expect(await afterOne).toEqual(broadcast.log.slice(2));
    // A reader after the end reads what is kept and stops at its end.
    expect(await collect(stream.subscribe('job', undefined, 3))).toEqual(broadcast.log.slice(4));
    expect(await stream.ended('job')).toBe(true);
  });

  it('numbers a second writer on from the last id (a restarted job), so one reader reads across both', async () => {
    fresh();
    const first = new Broadcast();
    first.push({ type: 'start', generationId: 'g1', alias: 'default', cached: false });
    first.push({ type: 'token', text: 'Lost' });
    // The first writer dies without an end: its subscription is left here.
    const reading = new AbortController();
    const dying = stream.publish('job', first.subscribe(reading.signal));
    for (let i = 0; (await stream.lastId('job')) < 1 && i < 100; i++) await Promise.resolve();
    reading.abort();
    await dying;
    expect(await stream.ended('job')).toBe(false);

    const notice = await stream.append('job', [{ type: 'notice', message: 'again' }]);
    expect(notice).toBe(2);
    const second = new Broadcast();
    second.push({ type: 'start', generationId: 'g2', alias: 'default', cached: false });
    second.push({ type: 'token', text: 'Kept' });
    second.push(DONE);
    await stream.publish('job', second.subscribe(), notice + 1);
    const events = await collect(stream.subscribe('job'));
    expect(events.map((e) => e.id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(events.map((e) => e.type)).toEqual(['start', 'token', 'notice', 'start', 'token', 'done']);
    // A reader that had seen the lost token resumes at the notice.
    expect((await collect(stream.subscribe('job', undefined, 1)))[0]).toMatchObject({ type: 'notice' });
  });

  it('keeps a stream bounded: trimmed to about MAXLEN entries, kept a day while open and an hour once ended', async () => {
    fresh({ maxLen: 10 });
    const broadcast = new Broadcast();
    for (let i = 0; i < 500; i++) broadcast.push({ type: 'token', text: `t${i}` });
    // Published from a finished log: one batch after another, as fast as Redis takes them.
    const open = new AbortController();
    const events = broadcast.subscribe(open.signal);
    await stream.publish('job', take(events, 500));
    open.abort();
    // MAXLEN ~ trims whole nodes of Redis's radix tree (100 entries each by default).
    expect(await redis.xlen(stream.key('job'))).toBeLessThan(200);
    expect(await redis.ttl(stream.key('job'))).toBeGreaterThan(3600);
    await stream.append('job', [DONE]);
    const ttl = await redis.ttl(stream.key('job'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('ends a reader blocked on an empty stream as soon as its signal aborts, and closes its connection', async () => {
    fresh();
    const clients = async () =>
      String(await redis.client('LIST'))
        .split('\n')
        .filter(Boolean).length;
    const before = await clients();
    const stop = new AbortController();
    const reading = collect(stream.subscribe('nothing-yet', stop.signal));
    for (let i = 0; (await clients()) === before && i < 200; i++) await new Promise(setImmediate);
    expect(await clients()).toBe(before + 1);
    stop.abort();
    expect(await reading).toEqual([]);
    for (let i = 0; (await clients()) > before && i < 200; i++) await new Promise(setImmediate);
    expect(await clients()).toBe(before);
  });

  it('drops what Redis cannot take while it is away, says how many, and does not wait for it', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    const client = await connectTestRedis(own.url);
    try {
      const away = new RedisEventStream(client, { prefix: testPrefix() });
      await own.stop();
      const broadcast = new Broadcast();
      broadcast.push({ type: 'token', text: 'x' });
      broadcast.push(DONE);
      const started = performance.now();
      expect((await away.publish('job', broadcast.subscribe())).lost).toBe(2);
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

async function* take(events: AsyncIterable<AiEvent>, count: number) {
  let n = 0;
  for await (const event of events) {
    yield event;
    if (++n === count) return;
  }
}
