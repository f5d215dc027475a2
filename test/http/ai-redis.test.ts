import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { Client, createSecondApp, createTestApp, signedIn } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  startSilentServer,
  testPrefix,
} from '../helpers/redis.js';
import { parseSse, textOf } from '../helpers/sse.js';

// Two Inkstone instances (two apps, one database, one Redis, one model server) behind an
// imaginary load balancer: one browser session whose requests alternate between them.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let fake: FakeModelServer;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  fake = await startFakeModelServer({ interTokenMs: 1 });
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  fake.resetStats();
});
afterAll(async () => {
  await fake?.close();
});

/** Instance A from createTestApp, and B over the same database and configuration. */
async function twoInstances(env: Record<string, string>) {
  const full = {
    AI_PROVIDER: 'ollama',
    AI_BASE_URL: fake.url,
    AI_RETRY_MAX_DELAY_MS: '100',
    REDIS_PREFIX: testPrefix(),
    ...env,
  };
  const first = await createTestApp('sqlite', full);
  cleanup.push(() => first.close());
  const b = await createSecondApp(first, full);
  cleanup.push(() => b.close());
  const { user, client: onA } = await signedIn(first.app, 'author');
  const onB = new Client(b);
  for (const [name, value] of onA.cookies) onB.cookies.set(name, value);
  return { a: first.app, b, onA, onB, user, prefix: full.REDIS_PREFIX };
}

const write = (client: Client, text: string) =>
  client.api('POST', '/api/v1/ai/write', { kind: 'titles', text, stream: false });

describe.skipIf(!(await redisAvailable()))('two Inkstone instances on one Redis', () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  it("count one user's requests per minute on both, with one set of RateLimit headers", async () => {
    const { onA, onB, prefix } = await twoInstances({ REDIS_URL, AI_REQUESTS_PER_MINUTE: '4' });
    cleanup.push(() => deleteKeys(direct, prefix));
    const answers = [];
    for (const [i, client] of [onA, onB, onA, onB, onA, onB].entries()) {
      answers.push(await write(client, `Post number ${i} about tea`));
    }
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 429, 429]);
    expect(answers.map((r) => r.headers['ratelimit-remaining'])).toEqual(['3', '2', '1', '0', '0', '0']);
    expect(answers[5]!.headers['retry-after']).toBe('15');
    expect(answers[5]!.json().error.code).toBe('rate_limited');
    expect(fake.stats.requests).toHaveLength(4);
  });

  it('refuse on one instance the tokens a user spent today on the other', async () => {
    const { onA, onB, user, prefix } = await twoInstances({ REDIS_URL, AI_TOKENS_PER_DAY: '10' });
    cleanup.push(() => deleteKeys(direct, prefix));
    expect((await write(onA, 'A long post about oolong')).statusCode).toBe(200);
    // The tokens are counted just after the answer's last event.
    const day = `${prefix}ai:limit:user:${user.id}:tokens:${new Date().toISOString().slice(0, 10)}`;
    for (let i = 0; i < 50 && (await direct.get(day)) === null; i++) await sleep(20);
    const refused = await write(onB, 'Another post');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.message).toBe("You have used today's 10 AI tokens.");
  });

  it('replay on one instance an answer the other generated', async () => {
    const { onA, onB, prefix } = await twoInstances({ REDIS_URL });
    cleanup.push(() => deleteKeys(direct, prefix));
    const body = { kind: 'summarize', text: 'Brewing green tea at home, step by step.' };
    const first = parseSse((await onA.api('POST', '/api/v1/ai/write', body)).body);
    const second = parseSse((await onB.api('POST', '/api/v1/ai/write', body)).body);
    expect(fake.stats.requests).toHaveLength(1);
    expect(first[0]!.data.cached).toBe(false);
    expect(second[0]!.data.cached).toBe(true);
    expect(second.filter((e) => e.event === 'token')).toEqual(first.filter((e) => e.event === 'token'));
  });

  it('send identical requests arriving on both to the model once, and give every caller the whole answer', async () => {
    const { onA, onB, prefix } = await twoInstances({ REDIS_URL });
    cleanup.push(() => deleteKeys(direct, prefix));
    // Slow enough that all twenty arrive while the first is still being written.
    fake.set({ ttftMs: 200, interTokenMs: 5 });
    cleanup.push(async () => fake.set({ ttftMs: 0, interTokenMs: 1 }));
    const body = { kind: 'summarize', text: 'Twenty readers ask for the same summary at once.' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? onB : onA).api('POST', '/api/v1/ai/write', body)),
    );
    expect(fake.stats.requests).toHaveLength(1);
    const texts = answers.map((r) => textOf(parseSse(r.body)));
    expect(texts[0]).toMatch(/^Echo: .*The end\.$/s);
    expect(new Set(texts)).toEqual(new Set([texts[0]]));
    for (const answer of answers) expect(parseSse(answer.body).at(-1)!.event).toBe('done');
  });

  it('keep generating on the first instance when its reader leaves while a reader on the other follows', async () => {
    const { a, b, user, prefix } = await twoInstances({ REDIS_URL });
    cleanup.push(() => deleteKeys(direct, prefix));
    fake.set({ ttftMs: 100, interTokenMs: 10 });
    cleanup.push(async () => fake.set({ ttftMs: 0, interTokenMs: 1 }));
    const actor = { id: user.id, username: user.username, displayName: user.displayName, role: user.role };
    const input = { text: 'One reader leaves, the other stays.' };
    const first = await a.services.ai.write('summarize', input, actor);
    const second = await b.services.ai.write('summarize', input, actor);
    const followed: string[] = [];
    const reading = (async () => {
      for await (const event of second.broadcast.subscribe()) {
        if (event.type === 'token') followed.push(event.text);
        if (event.type === 'done' || event.type === 'error') return event.type;
      }
    })();
    // A's only reader reads one token and goes.
    for await (const event of first.broadcast.subscribe()) if (event.type === 'token') break;
    expect(await reading).toBe('done');
    expect(followed.join('')).toMatch(/The end\.$/);
    expect(fake.stats.requests).toHaveLength(1);
    expect(fake.stats.requests[0]!.aborted).toBe(false);
  });

  it('end a follower with an error when the instance writing the answer goes silent', async () => {
    const { a, b, user, prefix } = await twoInstances({
      REDIS_URL,
      AI_CONNECT_TIMEOUT_MS: '200',
      AI_FIRST_TOKEN_TIMEOUT_MS: '300',
    });
    cleanup.push(() => deleteKeys(direct, prefix));
    fake.set({ ttftMs: 100, interTokenMs: 5 });
    cleanup.push(async () => fake.set({ ttftMs: 0, interTokenMs: 1 }));
    const actor = { id: user.id, username: user.username, displayName: user.displayName, role: user.role };
    const input = { text: 'Nobody writes this one.' };
    const first = await a.services.ai.write('summarize', input, actor);
    // The claim now names a generation that no instance writes: as if its owner had died.
    const [flight] = await direct.keys(`${prefix}ai:flight:*`);
    expect(flight).toBeDefined();
    await direct.set(flight!, 'a-generation-nobody-writes', 'PX', 60_000);
    const started = performance.now();
    const second = await b.services.ai.write('summarize', input, actor);
    const events = [];
    for await (const event of second.broadcast.subscribe()) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'ai_unavailable', status: 503 });
    // After connect + first-token timeouts (500 ms), not the idle or total ones.
    expect(performance.now() - started).toBeLessThan(2000);
    expect(fake.stats.requests).toHaveLength(1);
    for await (const event of first.broadcast.subscribe()) void event;
  });

  it("resume on one instance an editor's stream that the other is writing, after Last-Event-ID", async () => {
    const { a, onB, user, prefix } = await twoInstances({ REDIS_URL });
    cleanup.push(() => deleteKeys(direct, prefix));
    fake.set({ ttftMs: 50, interTokenMs: 10 });
    cleanup.push(async () => fake.set({ ttftMs: 0, interTokenMs: 1 }));
    const actor = { id: user.id, username: user.username, displayName: user.displayName, role: user.role };
    const generation = await a.services.ai.write('summarize', { text: 'Resumed elsewhere.' }, actor);
    // Another caller of the same answer reads on to the end on A (without any reader left,
    // the call would stop: a client that goes away cancels its model call).
    const other = (async () => {
      const events = [];
      for await (const event of generation.broadcast.subscribe()) events.push(event);
      return events;
    })();
    // This reader on A sees the start and two tokens, then its connection drops.
    const seen = [];
    const reading = new AbortController();
    for await (const event of generation.broadcast.subscribe(reading.signal)) {
      seen.push(event);
      if (seen.length === 3) break;
    }
    expect(seen.map((e) => e.type)).toEqual(['start', 'token', 'token']);
    const resumed = await onB.get(`/api/v1/ai/generations/${generation.id}/events`, {
      'last-event-id': '2',
    });
    expect(resumed.statusCode).toBe(200);
    const rest = parseSse(resumed.body);
    expect(rest[0]!.id).toBe('3');
    expect(rest.at(-1)!.event).toBe('done');
    const whole = seen.flatMap((e) => (e.type === 'token' ? [e.text] : [])).join('') + textOf(rest);
    expect(whole).toMatch(/^Echo: .*The end\.$/s);
    expect(fake.stats.requests).toHaveLength(1);
    expect((await other).at(-1)?.type).toBe('done');
    // Every generation is relayed: its copy in Redis goes two minutes after the end.
    const relayed = `${prefix}ai:events:${generation.id}`;
    await expect.poll(() => direct.ttl(relayed)).toBeLessThanOrEqual(120);
    expect(await direct.ttl(relayed)).toBeGreaterThan(0);
    const unknown = await onB.get('/api/v1/ai/generations/00000000-0000-4000-8000-000000000000/events');
    expect(unknown.statusCode).toBe(404);
  });

  it('answer per instance while Redis is down, and share again once it is back, without a restart', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const { a, b, onA, onB } = await twoInstances({ REDIS_URL: own.url, AI_REQUESTS_PER_MINUTE: '4' });
    expect((await write(onA, 'first')).headers['ratelimit-remaining']).toBe('3');

    await own.stop();
    const started = performance.now();
    const during = await write(onB, 'while Redis is down');
    const waited = performance.now() - started;
    expect(during.statusCode).toBe(200);
    // B's own bucket, full: Redis's count is not reachable.
    expect(during.headers['ratelimit-remaining']).toBe('3');
    expect(waited).toBeLessThan(1000);

    await own.start();
    await untilShared([a, b], [onA, onB]);
    const after = [await write(onA, 'after 1'), await write(onB, 'after 2')];
    // The restarted Redis is empty; the probes took two, and the count goes on across both.
    expect(after.map((r) => r.headers['ratelimit-remaining'])).toEqual(['1', '0']);
  });
});

/**
 * Waits until both instances count in Redis again: the first probe after ioredis has
 * reconnected (its backoff tops out at 2 s; a probe goes at most every 2 s).
 */
async function untilShared(apps: FastifyInstance[], clients: Client[]) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ready = apps.every((app) => app.redis?.status === 'ready');
    if (ready) {
      // A request through each lets its probe through (the probe interval has passed).
      await sleep(2100);
      for (const client of clients) await write(client, `probe ${Math.random()}`);
      return;
    }
    if (Date.now() > deadline) throw new Error('Redis did not come back within 10 s');
    await sleep(100);
  }
}

describe('an instance whose REDIS_URL does not answer at start', () => {
  it('refuses to start when nothing listens, naming the URL and the cause', async () => {
    const database = await createTestDatabase('sqlite');
    cleanup.push(() => database.destroy());
    const url = `redis://:secret@127.0.0.1:${await freePort()}/0`;
    const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: url });
    config.database = database.config;
    const started = performance.now();
    await expect(buildApp({ config, database: database.handle, logger: false })).rejects.toThrow(
      /^Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/0 is unreachable: connect ECONNREFUSED .*Start it, or unset REDIS_URL/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses to start when the server accepts and never answers, after the connect deadline', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const database = await createTestDatabase('sqlite');
    cleanup.push(() => database.destroy());
    const config = loadConfig({ NODE_ENV: 'test', REDIS_URL: silent.url });
    config.database = database.config;
    await expect(buildApp({ config, database: database.handle, logger: false })).rejects.toThrow(
      /is unreachable: no answer within 5000 ms/,
    );
  });
});
