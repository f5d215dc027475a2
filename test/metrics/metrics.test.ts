import type { FastifyInstance } from 'fastify';
import { request as http } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModelServer, type FakeModelServer } from '../fakes/model-server.js';
import { createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  testPrefix,
} from '../helpers/redis.js';
import { writePost } from '../http/fixtures.js';
import { havePromtool, labelValues, promtoolCheck, samples, value } from './scrape.js';

// Real traffic through an app, then a scrape: the series must have moved, by the amounts sent.

const TOKEN = 'metrics-token-0123456789';

async function scrape(app: FastifyInstance): Promise<string> {
  const response = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.body;
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function start(env: Record<string, string> = {}): Promise<TestApp> {
  const t = await createTestApp('sqlite', { METRICS_TOKEN: TOKEN, PAGE_CACHE_TTL_SECONDS: '60', ...env });
  cleanup.push(() => t.close());
  return t;
}

describe('metrics after real traffic', () => {
  it('counts requests by route pattern (never the raw URL), with a latency histogram', async () => {
    const { app } = await start();
    const author = await createUser(app, 'author');
    const post = await writePost(app, author, { title: 'Counting readers' });
    for (let i = 0; i < 3; i++) expect((await app.inject(post.url)).statusCode).toBe(200);
    const missing = `/posts/no-such-post-${Math.random().toString(36).slice(2)}`;
    expect((await app.inject(missing)).statusCode).toBe(404);
    const unknown = `/nowhere-${Math.random().toString(36).slice(2)}`;
    expect((await app.inject(unknown)).statusCode).toBe(404);
    const refused = await app.inject({ method: 'DELETE', url: '/api/v1/posts/12345' });
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);

    const text = await scrape(app);
    const route = { method: 'GET', route: '/posts/:slug' };
    expect(value(text, 'http_requests_total', { ...route, status: '200' })).toBe(3);
    expect(value(text, 'http_requests_total', { ...route, status: '404' })).toBe(1);
    expect(value(text, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    const status = String(refused.statusCode);
    expect(value(text, 'http_requests_total', { method: 'DELETE', route: '/api/v1/posts/:id', status })).toBe(
      1,
    );
    expect(value(text, 'http_request_duration_seconds_count', route)).toBe(4);
    expect(value(text, 'http_request_duration_seconds_bucket', { ...route, le: '+Inf' })).toBe(4);
    expect(value(text, 'http_request_duration_seconds_sum', route)).toBeGreaterThan(0);
    // Bounded labels: route patterns only; no slug, no raw path anywhere in the scrape.
    expect(text).not.toContain(post.slug);
    expect(text).not.toContain(missing);
    expect(text).not.toContain(unknown);
    for (const pattern of labelValues(text, 'http_requests_total', 'route')) {
      expect(pattern === 'unmatched' || pattern === 'page-cache' || pattern.startsWith('/')).toBe(true);
    }
  });

  it('counts posts created, registrations, active users, DB queries, pool and cache hits', async () => {
    const { app } = await start();
    const { user, client } = await signedIn(app, 'author');
    await createUser(app, 'reader');
    for (const title of ['One', 'Two']) {
      const created = await client.api('POST', '/api/v1/posts', {
        title,
        body: 'Text.',
        status: 'published',
      });
      expect(created.statusCode).toBe(201);
    }
    const post = await writePost(app, user, { title: 'Three' });
    // The first read fills the page cache, the next two are hits.
    for (let i = 0; i < 3; i++) await app.inject(post.url);

    const text = await scrape(app);
    expect(value(text, 'inkstone_posts_created_total')).toBe(3);
    expect(value(text, 'inkstone_user_registrations_total')).toBe(2);
    expect(value(text, 'inkstone_active_users')).toBe(1);
    expect(
      value(text, 'inkstone_db_query_duration_seconds_count', { dialect: 'sqlite', outcome: 'ok' }),
    ).toBeGreaterThan(5);
    expect(value(text, 'inkstone_db_pool_connections', { state: 'max' })).toBe(1);
    expect(
      value(text, 'inkstone_cache_hits_total', { layer: 'l1', namespace: 'pages' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value(text, 'inkstone_cache_misses_total', { layer: 'l1', namespace: 'pages' }),
    ).toBeGreaterThanOrEqual(1);
    // prom-client's process series: memory, GC, event-loop lag.
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(value(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds');
    // No user id or name is a label value.
    expect(text).not.toContain(user.username);
  });

  it('counts front-door hits (answered before Fastify) under route="page-cache"', async () => {
    const { app } = await start();
    const author = await createUser(app, 'author');
    const post = await writePost(app, author, { title: 'Through the front door' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    const url = `http://127.0.0.1:${address.port}${post.url}`;
    const first = await http(url);
    await first.body.dump();
    const etag = String(first.headers.etag);
    for (let i = 0; i < 4; i++) await (await http(url)).body.dump();
    const notModified = await http(url, { headers: { 'if-none-match': etag } });
    await notModified.body.dump();
    expect(notModified.statusCode).toBe(304);

    const text = await scrape(app);
    expect(value(text, 'http_requests_total', { route: 'page-cache', status: '200' })).toBe(4);
    expect(value(text, 'http_requests_total', { route: 'page-cache', status: '304' })).toBe(1);
    expect(value(text, 'http_request_duration_seconds_count', { route: 'page-cache', method: 'GET' })).toBe(
      5,
    );
    expect(value(text, 'http_requests_total', { route: '/posts/:slug', status: '200' })).toBe(1);
    const bucket = { route: 'page-cache', method: 'GET' };
    expect(value(text, 'http_request_duration_seconds_bucket', { ...bucket, le: '+Inf' })).toBe(5);
    expect(value(text, 'http_request_duration_seconds_bucket', { ...bucket, le: '10' })).toBe(5);
    expect(value(text, 'http_request_duration_seconds_sum', bucket)).toBeGreaterThan(0);
    // Counted once: a second scrape adds nothing the front door did not answer since.
    await (await http(url)).body.dump();
    const again = await scrape(app);
    expect(value(again, 'http_requests_total', { route: 'page-cache', status: '200' })).toBe(5);
    expect(value(again, 'http_request_duration_seconds_count', bucket)).toBe(6);
    if (havePromtool) expect(await promtoolCheck(again)).toBe('');
  });
});

describe.each(await availableDialects())('database metrics on %s', (dialect) => {
  it('times queries by dialect and reports the pool', async () => {
    const t = await createTestApp(dialect, { METRICS_TOKEN: TOKEN });
    cleanup.push(() => t.close());
    await createUser(t.app, 'author');
    const before = value(await scrape(t.app), 'inkstone_db_query_duration_seconds_count', { dialect });
    expect((await t.app.inject('/api/v1/posts')).statusCode).toBe(200);
    const text = await scrape(t.app);
    expect(
      value(text, 'inkstone_db_query_duration_seconds_count', { dialect, outcome: 'ok' }),
    ).toBeGreaterThan(before);
    expect(value(text, 'inkstone_db_pool_connections', { state: 'max' })).toBe(
      t.app.database.poolStats().max,
    );
    if (dialect === 'sqlite') expect(value(text, 'inkstone_db_pool_connections', { state: 'max' })).toBe(1);
    expect(value(text, 'inkstone_db_pool_connections', { state: 'waiting' })).toBe(0);
  });
});

describe.skipIf(!(await redisAvailable()))('metrics with Redis', () => {
  it('times Redis commands by name, and reads L2 cache hits', async () => {
    const prefix = testPrefix();
    const { app } = await start({ REDIS_URL, REDIS_PREFIX: prefix });
    cleanup.push(async () => {
      const client = await connectTestRedis();
      await deleteKeys(client, prefix);
      client.disconnect();
    });
    const author = await createUser(app, 'author');
    const post = await writePost(app, author, { title: 'Over Redis' });
    for (let i = 0; i < 2; i++) expect((await app.inject(post.url)).statusCode).toBe(200);
    await app.redis!.ping();
    const text = await scrape(app);
    expect(
      value(text, 'inkstone_redis_command_duration_seconds_count', { command: 'ping' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(text, 'inkstone_redis_command_duration_seconds_count')).toBeGreaterThan(1);
    expect(
      value(text, 'inkstone_cache_misses_total', { layer: 'l2', namespace: 'pages' }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('/metrics access', () => {
  it('refuses the main port without the METRICS_TOKEN, and is absent without one', async () => {
    const { app } = await start();
    expect((await app.inject('/metrics')).statusCode).toBe(401);
    const wrong = await app.inject({
      url: '/metrics',
      headers: { authorization: 'Bearer not-the-token-at-all' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain('http_requests_total');
    expect((await app.inject({ url: '/metrics', headers: { authorization: TOKEN } })).statusCode).toBe(401);
    expect(await scrape(app)).toContain('# TYPE http_requests_total counter');

    const { app: plain } = await start({ METRICS_TOKEN: '' });
    expect((await plain.inject('/metrics')).statusCode).toBe(404);
  });

  it('serves METRICS_PORT on a second server, with no token, and the scrape passes promtool', async () => {
    const port = await freePort();
    const { app } = await start({ METRICS_PORT: String(port), METRICS_TOKEN: '' });
    await app.inject('/');
    const response = await http(`http://127.0.0.1:${port}/metrics`);
    expect(response.statusCode).toBe(200);
    const text = await response.body.text();
    expect(value(text, 'http_requests_total', { route: '/', status: '200' })).toBe(1);
    const other = await http(`http://127.0.0.1:${port}/`);
    await other.body.dump();
    expect(other.statusCode).toBe(404);
    if (!havePromtool) {
      if (process.env.CI) throw new Error('promtool is missing in CI (Debian package prometheus)');
      console.warn('promtool not installed: skipping `promtool check metrics`');
      return;
    }
    expect(await promtoolCheck(text)).toBe('');
  });
});

describe('AI metrics against the fake model server', () => {
  let fake: FakeModelServer;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 20, interTokenMs: 2, parallel: 4 });
    t = await createTestApp('sqlite', {
      METRICS_TOKEN: TOKEN,
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('reports TTFT, generation time, tokens, outcomes, inferences and cache hits', async () => {
    const { client } = await signedIn(t.app, 'author');
    const body = { kind: 'titles', text: 'A post about brewing green tea at home.' };
    expect((await client.api('POST', '/api/v1/ai/write', body)).statusCode).toBe(200);
    expect((await client.api('POST', '/api/v1/ai/write', body)).statusCode).toBe(200);

    const text = await scrape(t.app);
    const model = { provider: 'main', model: 'glm4' };
    expect(value(text, 'inkstone_ai_requests_total', { ...model, outcome: 'ok' })).toBe(1);
    expect(value(text, 'inkstone_ai_requests_total', { outcome: 'cached' })).toBe(1);
    expect(value(text, 'inkstone_ai_cache_hits_total')).toBe(1);
    expect(value(text, 'inkstone_inference_total', { provider: 'main' })).toBe(1);
    expect(value(text, 'inkstone_ai_time_to_first_token_seconds_count', model)).toBe(1);
    expect(value(text, 'inkstone_ai_time_to_first_token_seconds_sum', model)).toBeGreaterThanOrEqual(0.015);
    expect(value(text, 'inkstone_ai_generation_duration_seconds_count', model)).toBe(1);
    expect(value(text, 'inkstone_ai_generation_duration_seconds_bucket', { ...model, le: '60' })).toBe(1);
    expect(value(text, 'inkstone_ai_tokens_total', { ...model, direction: 'out' })).toBeGreaterThan(0);
    expect(value(text, 'inkstone_ai_tokens_total', { ...model, direction: 'in' })).toBeGreaterThan(0);
    expect(value(text, 'inkstone_ai_tokens_per_second_count', model)).toBe(1);
    expect(value(text, 'inkstone_ai_queue_wait_seconds_count', { provider: 'main' })).toBe(1);
    expect(value(text, 'inkstone_ai_queue_depth')).toBe(0);
    expect(samples(text, 'inkstone_ai_generations_running')).toEqual([0]);

    // While one waits for its first token: one generation running, one call in flight.
    fake.set({ ttftMs: 400 });
    const slow = client.api('POST', '/api/v1/ai/write', { kind: 'titles', text: 'A slow one, please.' });
    await expect
      .poll(async () => value(await scrape(t.app), 'inkstone_ai_generations_running'), { interval: 20 })
      .toBe(1);
    expect(value(await scrape(t.app), 'inkstone_ai_in_flight', { provider: 'main' })).toBe(1);
    expect((await slow).statusCode).toBe(200);
    fake.set({ ttftMs: 20 });
    // Over once its record is written, just after the last event.
    await expect
      .poll(async () => value(await scrape(t.app), 'inkstone_ai_generations_running'), { interval: 20 })
      .toBe(0);
    expect(value(text, 'inkstone_ai_in_flight', { provider: 'main' })).toBe(0);
    expect(value(text, 'inkstone_ai_circuit_state', { provider: 'main' })).toBe(0);
  });
});

describe('AI failure metrics against the fake model server', () => {
  let fake: FakeModelServer;
  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 1, interTokenMs: 1, parallel: 4 });
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('counts retries, failures by code, an open circuit, coalesced and rate-limited requests', async () => {
    const { app } = await start({
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_RETRIES: '1',
      AI_RETRY_MAX_DELAY_MS: '100',
      AI_BREAKER_FAILURES: '2',
      AI_REQUESTS_PER_MINUTE: '5',
    });
    const { client } = await signedIn(app, 'author');
    const write = (text: string) => client.api('POST', '/api/v1/ai/write', { kind: 'titles', text });

    fake.set({ faults: [{ type: 'status500Once' }] });
    await write('A first post about tea, retried once.');
    let text = await scrape(app);
    expect(value(text, 'inkstone_ai_retries_total', { provider: 'main' })).toBe(1);
    expect(value(text, 'inkstone_inference_total', { provider: 'main' })).toBe(2);
    expect(value(text, 'inkstone_ai_requests_total', { provider: 'main', outcome: 'ok' })).toBe(1);

    // Two identical requests at once: one reaches the model, the other joins it.
    fake.set({ faults: [], ttftMs: 50 });
    await Promise.all([write('Joined twice.'), write('Joined twice.')]);
    text = await scrape(app);
    expect(value(text, 'inkstone_ai_coalesced_total')).toBe(1);

    // Every call fails: the retry fails too, the generation fails, and the circuit opens.
    fake.set({ fault: { type: 'status503' }, ttftMs: 1 });
    await write('This one will not be answered.');
    text = await scrape(app);
    expect(value(text, 'inkstone_ai_requests_total', { provider: 'main', outcome: 'ai_unavailable' })).toBe(
      1,
    );
    expect(value(text, 'inkstone_ai_circuit_state', { provider: 'main' })).toBe(2);

    // The fifth request of the minute is the last allowed; the sixth is refused before the model.
    await write('Fifth.');
    expect((await write('Sixth.')).statusCode).toBe(429);
    text = await scrape(app);
    expect(value(text, 'inkstone_ai_rejected_total', { reason: 'rate_limited' })).toBe(1);
    fake.set({ fault: null });
  });
});
