import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsSnapshot } from '../../src/modules/admin/metrics-snapshot.js';
import { type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { type Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { writePost } from '../http/fixtures.js';

// GET /admin/metrics.json after real traffic through one app (the cluster's is in
// admin-metrics-cluster.test.ts): the totals move by what was sent, and only admins read them.

describe('/admin/metrics and its JSON', () => {
  let fake: FakeModelServer;
  let t: TestApp;
  let app: FastifyInstance;
  let admin: Client;

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 30, interTokenMs: 2, parallel: 2 });
    t = await createTestApp('sqlite', {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '1000',
      PAGE_CACHE_TTL_SECONDS: '60',
    });
    app = t.app;
    ({ client: admin } = await signedIn(app, 'admin'));
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const read = async (): Promise<MetricsSnapshot> => {
    const response = await admin.get('/admin/metrics.json', { accept: 'application/json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    return response.json<MetricsSnapshot>();
  };

  it('moves with the traffic: requests, errors, latency, cache, active users, AI time to first token', async () => {
    const before = await read();
    const author = await createUser(app, 'author');
    const post = await writePost(app, author, { title: 'Counting on the live page' });
    for (let i = 0; i < 5; i++) expect((await app.inject(post.url)).statusCode).toBe(200);
    expect((await app.inject('/nowhere-at-all')).statusCode).toBe(404);
    const { client: writer } = await signedIn(app, 'author');
    const write = await writer.api('POST', '/api/v1/ai/write', { kind: 'titles', text: 'Tea at dawn.' });
    expect(write.statusCode).toBe(200);
    const after = await read();

    expect(after.workers).toBe(1);
    expect(after.at).toBeGreaterThanOrEqual(before.at);
    // 5 reads, the 404, the sign-in, the AI call, the reading of `before` itself (at least).
    expect(after.http.requests - before.http.requests).toBeGreaterThanOrEqual(9);
    // Every answer is timed, the front door's too.
    expect(after.http.latency.count - before.http.latency.count).toBe(
      after.http.requests - before.http.requests,
    );
    expect(after.http.latency.bounds.length).toBeGreaterThan(5);
    expect(after.http.latency.counts.at(-1)).toBeLessThanOrEqual(after.http.latency.count);
    // Anonymous reads of one post: after the first, the page cache (or its front door) answers.
    const cacheReads = (s: MetricsSnapshot) => s.cache.l1.hits + s.cache.frontDoor;
    expect(cacheReads(after) - cacheReads(before)).toBeGreaterThanOrEqual(4);
    // The admin and the writer were seen.
    expect(after.activeUsers).toBeGreaterThanOrEqual(2);
    expect(after.ai.ttft.count - before.ai.ttft.count).toBe(1);
    expect(after.ai.ttft.sum - before.ai.ttft.sum).toBeGreaterThanOrEqual(0.025);
    expect(after.ai.tokensPerSecond.count - before.ai.tokensPerSecond.count).toBe(1);
    // No REDIS_URL: no BullMQ queue to report.
    expect(after.queue).toBeNull();
  });

  it('counts 5xx answers as errors', async () => {
    const before = await read();
    // The fake's model server failing on every call: the write answers 502/503.
    fake.set({ fault: { type: 'status503' } });
    try {
      const { client } = await signedIn(app, 'author');
      const failed = await client.api('POST', '/api/v1/ai/write', {
        kind: 'titles',
        text: 'Fails.',
        stream: false,
      });
      expect(failed.statusCode, failed.body).toBeGreaterThanOrEqual(500);
    } finally {
      fake.set({ fault: null });
    }
    const after = await read();
    expect(after.http.errors - before.http.errors).toBe(1);
  });

  it('is for admins: 403 for an author or editor, 401 for a visitor (a sign-in page in a browser)', async () => {
    for (const role of ['author', 'editor'] as const) {
      const { client } = await signedIn(app, role);
      expect((await client.get('/admin/metrics.json', { accept: 'application/json' })).statusCode).toBe(403);
      expect((await client.get('/admin/metrics')).statusCode).toBe(403);
    }
    const json = await app.inject({ url: '/admin/metrics.json', headers: { accept: 'application/json' } });
    expect(json.statusCode).toBe(401);
    expect(json.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const page = await app.inject({ url: '/admin/metrics', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(401);
    expect(page.body).toContain('href="/login');
  });

  it('renders the page with its charts and uPlot served by the app itself (no CDN), and is linked from /admin', async () => {
    const page = await admin.get('/admin/metrics');
    expect(page.statusCode).toBe(200);
    for (const chart of ['requests', 'latency', 'errors', 'cache', 'users', 'ttft', 'tokens', 'queue']) {
      expect(page.body).toContain(`data-chart="${chart}"`);
    }
    expect(page.body).toContain('data-every-ms="5000"');
    expect(page.body).not.toMatch(/<script[^>]+src="https?:/);
    const uplot = /src="(\/static\/uPlot\.iife\.min\.[0-9a-f]{10}\.js)"/.exec(page.body)?.[1];
    expect(uplot).toBeDefined();
    const asset = await app.inject(uplot!);
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect(asset.headers['cache-control']).toContain('immutable');
    const require = createRequire(import.meta.url);
    expect(asset.rawPayload.equals(readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')))).toBe(true);
    const css = /href="(\/static\/uPlot\.min\.[0-9a-f]{10}\.css)"/.exec(page.body)?.[1];
    expect((await app.inject(css!)).statusCode).toBe(200);
    for (const script of ['admin-metrics-math', 'admin-metrics']) {
      const src = new RegExp(`src="(/static/${script}\\.[0-9a-f]{10}\\.js)"`).exec(page.body)?.[1];
      expect((await app.inject(src!)).statusCode).toBe(200);
    }

    expect((await admin.get('/admin/metrics?every=2')).body).toContain('data-every-ms="2000"');
    const bad = await admin.get('/admin/metrics?every=0', { accept: 'application/json' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('every');

    expect((await admin.get('/admin')).body).toContain('href="/admin/metrics"');
  });
});
