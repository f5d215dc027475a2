import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import { Client, createUser } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { writePost } from './fixtures.js';

// Overload (src/http/pressure.ts): expensive requests get 503 with Retry-After, while cached
// pages, /healthz and static files are still served.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** An app whose overload a test switches on and off (`state.healthy`), besides the thresholds. */
async function overloadableApp(env: Record<string, string> = {}) {
  const database = await createTestDatabase('sqlite');
  cleanup.push(() => database.destroy());
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  config.database = database.config;
  const state = { healthy: true };
  const app = await buildApp({
    config,
    database: database.handle,
    overrides: { passwordHasher: scryptHasher(2 ** 10) },
    logger: false,
    healthy: () => state.healthy,
  });
  await app.ready();
  cleanup.push(() => app.close());
  return { app, state };
}

const anon = (app: FastifyInstance, url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers });

async function pressure(app: FastifyInstance, on: boolean) {
  await expect.poll(() => app.isOverloaded(), { timeout: 5000, interval: 20 }).toBe(on);
}

function expectShed(response: Awaited<ReturnType<FastifyInstance['inject']>>, retryAfter = '10') {
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBe(retryAfter);
  expect(response.headers['cache-control']).toBe('no-store');
}

describe('load shedding', () => {
  it('refuses API writes, uncached renders and signed-in pages with 503 + Retry-After, and keeps serving cached pages', async () => {
    const { app, state } = await overloadableApp();
    const author = await createUser(app, 'author');
    const warm = await writePost(app, author, { title: 'Warm in the cache' });
    const cold = await writePost(app, author, { title: 'Never read yet' });
    const client = await new Client(app).login(author.username, author.password);
    for (const url of ['/', `/posts/${warm.slug}`]) {
      expect((await anon(app, url)).statusCode).toBe(200);
      expect((await anon(app, url)).headers['x-page-cache'], url).toBe('hit');
    }

    state.healthy = false;
    await pressure(app, true);

    // Cached pages, the probe and static files: served as ever.
    for (const url of ['/', `/posts/${warm.slug}`]) {
      const page = await anon(app, url);
      expect(page.statusCode, url).toBe(200);
      expect(page.body).toContain('Warm in the cache');
    }
    expect((await anon(app, '/healthz')).statusCode).toBe(200);
    expect((await anon(app, '/static/style.css')).statusCode).toBe(200);

    // A page the cache does not hold would be rendered: refused, with a short HTML page.
    const uncached = await anon(app, `/posts/${cold.slug}`, { accept: 'text/html' });
    expectShed(uncached);
    expect(uncached.headers['content-type']).toMatch(/^text\/html/);
    expect(uncached.body).toContain('Busy right now');
    expect(uncached.body).not.toContain('Never read yet');
    expectShed(await anon(app, '/search?q=cache', { accept: 'text/html' }));

    // A signed-in reader's page is never from the cache, so it is a render too.
    const signedIn = await client.get('/');
    expectShed(signedIn);
    expect(signedIn.body).toContain('Busy right now');

    // The API: writes and reads, JSON in the error shape.
    const write = await client.api('POST', '/api/v1/posts', { title: 'Under load', body: 'x' });
    expectShed(write);
    expect(write.json()).toEqual({
      error: { code: 'overloaded', message: 'The server is overloaded; try again in 10 seconds.' },
    });
    expectShed(await anon(app, '/api/v1/posts'));
    expect(await app.services.posts.getBySlug('under-load', null).catch(() => null)).toBeNull();

    state.healthy = true;
    await pressure(app, false);
    expect(
      (await client.api('POST', '/api/v1/posts', { title: 'After the load', body: 'x' })).statusCode,
    ).toBe(201);
    expect((await anon(app, `/posts/${cold.slug}`)).statusCode).toBe(200);
  });

  it('sheds on a configured threshold (resident memory here) with the configured Retry-After', async () => {
    // 1 MiB of RSS: over it from the first sample (once a second).
    const { app } = await overloadableApp({ OVERLOAD_RSS_MB: '1', OVERLOAD_RETRY_AFTER_SECONDS: '7' });
    await pressure(app, true);
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ login: 'someone', password: 'something' }),
    });
    expectShed(login, '7');
    expect(login.json().error.code).toBe('overloaded');
    expect((await anon(app, '/healthz')).statusCode).toBe(200);
  });

  it('sheds while the event loop lags behind (a mean delay over the threshold), and stops after', async () => {
    // Well above what an idle loop shows on a busy machine, well below what the backlog makes.
    const { app } = await overloadableApp({ OVERLOAD_EVENT_LOOP_DELAY_MS: '100' });
    // A backlog, as a flood of renders makes one: each turn of the loop busy for 300 ms.
    const busy = setInterval(() => {
      const until = performance.now() + 300;
      while (performance.now() < until);
    }, 1);
    try {
      await pressure(app, true);
      expect(app.memoryUsage().eventLoopDelay).toBeGreaterThan(100);
      expectShed(await anon(app, '/api/v1/posts'));
    } finally {
      clearInterval(busy);
    }
    await pressure(app, false);
    expect((await anon(app, '/api/v1/posts')).statusCode).toBe(200);
  });

  it('sheds nothing with the production thresholds on an idle process', async () => {
    const { app } = await overloadableApp({
      OVERLOAD_EVENT_LOOP_DELAY_MS: '1000',
      OVERLOAD_HEAP_PERCENT: '90',
    });
    // Past the start's grace and a sample of its own.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    expect(app.memoryUsage().eventLoopDelay).toBeLessThan(1000);
    expect(app.isOverloaded()).toBe(false);
    expect((await anon(app, '/api/v1/posts')).statusCode).toBe(200);
  });

  it('is on by default outside tests, off in tests unless set', () => {
    const production = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32) }).pressure;
    expect(production).toEqual({
      maxEventLoopDelayMs: 1000,
      maxHeapPercent: 90,
      maxRssBytes: 0,
      retryAfterSeconds: 10,
    });
    expect(loadConfig({ NODE_ENV: 'test' }).pressure).toMatchObject({
      maxEventLoopDelayMs: 0,
      maxHeapPercent: 0,
    });
    expect(loadConfig({ NODE_ENV: 'test', OVERLOAD_RSS_MB: '512' }).pressure.maxRssBytes).toBe(
      512 * 1024 * 1024,
    );
  });
});
