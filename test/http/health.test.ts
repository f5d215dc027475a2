import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/index.js';
import { CHECK_TIMEOUT_MS } from '../../src/http/health.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import { startFakeModelServer } from '../fakes/model-server.js';
import { createTestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';

// /healthz (alive, asks nothing) and /readyz (database, Redis, model provider, each with a
// deadline), the response timing headers, and request ids from traceparent.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function app(env: Record<string, string> = {}) {
  const t = await createTestApp('sqlite', { AI_PROVIDER: 'none', ...env });
  cleanup.push(() => t.close());
  return t.app;
}

/** A TCP server that accepts connections and never answers: a hung dependency. */
async function blackHole(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

describe('/healthz and /readyz', () => {
  it('is ready with the database alone when neither Redis nor AI is configured', async () => {
    const a = await app();
    const health = await a.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    expect(health.headers['cache-control']).toBe('no-store');

    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    const body = ready.json();
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks)).toEqual(['db']);
    expect(body.checks.db).toMatchObject({ ok: true });
    expect(body.checks.db.ms).toBeGreaterThanOrEqual(0);
    expect(ready.headers['cache-control']).toBe('no-store');
  });

  it('with the database gone: /healthz still 200 (it asks nothing), /readyz 503 naming the database', async () => {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'postgres://postgres@127.0.0.1:9/gone' });
    const handle = createDb(config.database);
    const a = await buildApp({ config, database: handle, logger: false });
    cleanup.push(() => handle.close());
    cleanup.push(() => a.close());
    expect((await a.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().status).toBe('not_ready');
    expect(ready.json().checks.db.ok).toBe(false);
    expect(ready.json().checks.db.error).toMatch(/\S/);
  });

  it('checks the model provider through its model list, never a generation, and fails when it is down', async () => {
    const fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1 });
    let closed = false;
    cleanup.push(async () => {
      if (!closed) await fake.close();
    });
    const a = await app({ AI_PROVIDER: 'ollama', AI_BASE_URL: fake.url });
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.ai).toMatchObject({ ok: true });
    // The check listed models; it did not ask for a single token.
    expect(fake.stats.requests.filter((r) => /chat|generate|completions/.test(r.path ?? ''))).toEqual([]);

    await fake.close();
    closed = true;
    const down = await a.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.db.ok).toBe(true);
    expect(down.json().checks.ai.ok).toBe(false);
    expect(down.json().checks.ai.error).toMatch(/main/);
  });

  it('answers within the deadline when the model server hangs', async () => {
    const a = await app({
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: await blackHole(),
      AI_CONNECT_TIMEOUT_MS: '10000',
    });
    const started = performance.now();
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    const took = performance.now() - started;
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.ai.error).toMatch(/no answer within/);
    expect(took).toBeGreaterThanOrEqual(CHECK_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(CHECK_TIMEOUT_MS + 1000);
  });

  it('checks Redis when it is configured', async () => {
    if (!(await redisAvailable())) return;
    const a = await app({ REDIS_URL, REDIS_PREFIX: testPrefix() });
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.redis).toMatchObject({ ok: true });
    a.redis!.disconnect();
    const down = await a.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.redis.ok).toBe(false);
  });

  it('is never shed under overload, like /healthz', async () => {
    const database = await createTestDatabase('sqlite');
    cleanup.push(() => database.destroy());
    const config = loadConfig({ NODE_ENV: 'test', AI_PROVIDER: 'none' });
    config.database = database.config;
    const state = { healthy: true };
    const a = await buildApp({
      config,
      database: database.handle,
      overrides: { passwordHasher: scryptHasher(2 ** 10) },
      logger: false,
      healthy: () => state.healthy,
    });
    await a.ready();
    cleanup.push(() => a.close());
    state.healthy = false;
    await expect.poll(() => a.isOverloaded(), { timeout: 5000, interval: 20 }).toBe(true);
    // The control: an API read is shed at this moment.
    expect((await a.inject({ method: 'GET', url: '/api/v1/posts' })).statusCode).toBe(503);
    expect((await a.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await a.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('response headers', () => {
  it('carries Server-Timing and X-Process-Time measuring the request', async () => {
    const a = await app();
    const response = await a.inject({ method: 'GET', url: '/api/v1/posts' });
    expect(response.statusCode).toBe(200);
    const timing = String(response.headers['server-timing']);
    expect(timing).toMatch(/^total;dur=\d+\.\d{3}$/);
    const ms = Number(timing.split('=')[1]);
    expect(ms).toBeGreaterThan(0);
    const seconds = String(response.headers['x-process-time']);
    expect(seconds).toMatch(/^\d+\.\d{6}$/);
    expect(Number(seconds)).toBeCloseTo(ms / 1000, 5);
    // Errors carry them too.
    const missing = await a.inject({ method: 'GET', url: '/api/v1/posts/no-such-post' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['server-timing']).toMatch(/^total;dur=/);
  });

  it('takes the request id from X-Request-Id, else from traceparent, else makes one', async () => {
    const a = await app();
    const get = (headers: Record<string, string>) =>
      a.inject({ method: 'GET', url: '/healthz', headers }).then((r) => r.headers['x-request-id']);
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(await get({ 'x-request-id': 'given-1', traceparent: `00-${trace}-00f067aa0ba902b7-01` })).toBe(
      'given-1',
    );
    expect(await get({ traceparent: `00-${trace}-00f067aa0ba902b7-01` })).toBe(trace);
    // Invalid trace contexts are ignored: an all-zero trace id, version ff, upper case.
    for (const bad of [
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `ff-${trace}-00f067aa0ba902b7-01`,
      `00-${trace.toUpperCase()}-00f067aa0ba902b7-01`,
    ]) {
      const id = await get({ traceparent: bad });
      expect(id, bad).toMatch(/^[0-9a-f-]{36}$/);
    }
    const made = await get({});
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    expect(await get({})).not.toBe(made);
  });
});
