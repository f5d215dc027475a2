import { setTimeout as sleep } from 'node:timers/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { request as http } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSecondApp, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { actorOf, writePost } from './fixtures.js';

// The front door answers anonymous page-cache hits from the hot layer before Fastify runs:
// these tests go over a real socket (app.inject never reaches the server's handler).

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function listening(t: TestApp | FastifyInstance) {
  const app = 'app' in t ? t.app : t;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const response = await http(url, { method, headers });
  const body = Buffer.from(await response.body.arrayBuffer());
  const header = (name: string) => {
    const value = response.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  return { status: response.statusCode, header, body, text: body.toString() };
}

/** Whether bentocache was asked: a front-door hit never reaches the page responder. */
function lookups(app: FastifyInstance) {
  const pageCache = app.services.pageCache;
  if (!pageCache) throw new Error('the page cache is off');
  return vi.spyOn(pageCache, 'get');
}

describe('the front door (hot page layer over a real socket)', () => {
  const start = async (env: Record<string, string> = {}) => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '60', ...env });
    cleanup.push(() => t.close());
    const author = await createUser(t.app, 'author');
    return { t, app: t.app, author, base: await listening(t) };
  };

  it('answers a repeated anonymous GET without Fastify, with the same bytes, ETag, 304 and HEAD', async () => {
    const { app, author, base } = await start();
    const post = await writePost(app, author, { title: 'Jasmine at noon' });
    const first = await get(base + post.url, { 'x-request-id': 'first-1' });
    expect(first.header('x-page-cache')).toBe('miss');
    expect(first.header('x-request-id')).toBe('first-1');

    const spy = lookups(app);
    const hit = await get(base + post.url, { 'x-request-id': 'second-2' });
    expect(hit.status).toBe(200);
    expect(hit.header('x-page-cache')).toBe('hit');
    expect(hit.text).toBe(first.text);
    expect(hit.header('etag')).toBe(first.header('etag'));
    expect(hit.header('content-type')).toBe('text/html; charset=utf-8');
    expect(hit.header('content-length')).toBe(String(first.body.length));
    expect(hit.header('cache-control')).toBe(first.header('cache-control'));
    expect(hit.header('vary')).toBe('Cookie, Accept-Encoding');
    expect(hit.header('x-request-id')).toBe('second-2');
    expect(hit.header('set-cookie')).toBeUndefined();
    const generated = await get(base + post.url);
    expect(generated.header('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // Each hit writes its own id into the page's headers: never the one before it.
    const again = await get(base + post.url);
    expect(again.header('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(again.header('x-request-id')).not.toBe(generated.header('x-request-id'));

    const notModified = await get(base + post.url, {
      'if-none-match': `W/${first.header('etag')}`,
      'x-request-id': 'third-3',
    });
    expect(notModified.status).toBe(304);
    expect(notModified.header('x-request-id')).toBe('third-3');
    expect(notModified.body.length).toBe(0);
    expect(notModified.header('etag')).toBe(first.header('etag'));

    const head = await get(base + post.url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.header('content-length')).toBe(String(first.body.length));
    expect(spy).not.toHaveBeenCalled();
  });

  it("sends a cluster worker's id on hits, 304s and the pages behind them", async () => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '60' }, {}, { worker: '4242' });
    cleanup.push(() => t.close());
    const post = await writePost(t.app, await createUser(t.app, 'author'), { title: 'Which one' });
    const base = await listening(t);
    const miss = await get(base + post.url);
    expect(miss.header('x-page-cache')).toBe('miss');
    const hit = await get(base + post.url);
    expect(hit.header('x-page-cache')).toBe('hit');
    const notModified = await get(base + post.url, { 'if-none-match': hit.header('etag') ?? '' });
    expect(notModified.status).toBe(304);
    const api = await get(`${base}/api/v1/posts`);
    expect(api.status).toBe(200);
    for (const answer of [miss, hit, notModified, api])
      expect(answer.header('x-inkstone-worker')).toBe('4242');
    // Said once, not twice: the front door's array and a header set before it would both send it.
    expect(hit.header('x-inkstone-worker')).not.toContain(',');

    const single = await start();
    const url = single.base + (await writePost(single.app, single.author, { title: 'No worker' })).url;
    await get(url);
    const alone = await get(url);
    expect(alone.header('x-page-cache')).toBe('hit');
    expect(alone.header('x-inkstone-worker')).toBeUndefined();
  });

  it('sends the brotli and gzip copies made once, to clients that accept them', async () => {
    const { app, author, base } = await start();
    const post = await writePost(app, author, { title: 'Pu-erh', body: 'Earthy and deep. '.repeat(200) });
    const first = await get(base + post.url);
    // The compressed copies are made in the background after the page is stored.
    let br = await get(base + post.url, { 'accept-encoding': 'gzip, deflate, br' });
    for (let i = 0; i < 50 && br.header('content-encoding') !== 'br'; i++) {
      await sleep(20);
      br = await get(base + post.url, { 'accept-encoding': 'gzip, deflate, br' });
    }
    expect(br.header('content-encoding')).toBe('br');
    expect(brotliDecompressSync(br.body).toString()).toBe(first.text);
    const brId = await get(base + post.url, { 'accept-encoding': 'br', 'x-request-id': 'br-1' });
    expect(brId.header('x-request-id')).toBe('br-1');
    expect(br.body.length).toBeLessThan(first.body.length / 3);

    const gz = await get(base + post.url, { 'accept-encoding': 'gzip' });
    expect(gz.header('content-encoding')).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(first.text);
    const refused = await get(base + post.url, { 'accept-encoding': 'br;q=0, gzip;q=0' });
    expect(refused.header('content-encoding')).toBeUndefined();
    expect(refused.text).toBe(first.text);
  });

  it('never answers a reader with a session, a flash message or an API token', async () => {
    const { app, author, base } = await start();
    const post = await writePost(app, author, { title: 'Sencha' });
    await get(base + post.url);
    expect((await get(base + post.url)).header('x-page-cache')).toBe('hit');

    const { client, user } = await signedIn(app, 'reader');
    const cookie = `inkstone_session=${client.cookies.get('inkstone_session')}`;
    const mine = await get(base + post.url, { cookie });
    expect(mine.header('x-page-cache')).toBeUndefined();
    expect(mine.header('cache-control')).toBe('private, no-store');
    expect(mine.text).toContain(user.username);

    // A cookie that is not a session (the CSRF one) is still an anonymous reader.
    expect((await get(base + post.url, { cookie: 'inkstone_csrf=abc' })).header('x-page-cache')).toBe('hit');
    const flash = await get(base + post.url, { cookie: 'inkstone_flash=x' });
    expect(flash.header('x-page-cache')).not.toBe('hit');
    const token = await get(base + post.url, { authorization: 'Bearer nope' });
    expect(token.status).toBe(401);
  });

  it('drops hot pages on a write, so the next reader gets the new page', async () => {
    const { app, author, base } = await start();
    const post = await writePost(app, author, { title: 'Genmaicha', tags: ['tea'] });
    for (const url of ['/', post.url, '/tags/tea']) {
      await get(base + url);
      expect((await get(base + url)).header('x-page-cache'), url).toBe('hit');
    }
    await app.services.posts.update(
      post.id,
      { version: post.version, title: 'Genmaicha, toasted' },
      actorOf(author),
    );
    for (const url of ['/', post.url, '/tags/tea']) {
      const page = await get(base + url);
      expect(page.header('x-page-cache'), url).toBe('miss');
      expect(page.text, url).toContain('Genmaicha, toasted');
    }
  });

  it('does not keep a page past a scheduled post going public', async () => {
    const { app, author, base } = await start();
    await writePost(app, author, { title: 'Already out' });
    const at = new Date(Date.now() + 1500).toISOString();
    await writePost(app, author, { title: 'Coming soon', publishedAt: at });
    await get(base + '/');
    const hit = await get(base + '/');
    expect(hit.header('x-page-cache')).toBe('hit');
    expect(hit.header('cache-control')).toMatch(/s-maxage=[01],/);
    expect(hit.text).not.toContain('Coming soon');
    await sleep(Date.parse(at) - Date.now() + 50);
    const after = await get(base + '/');
    expect(after.header('x-page-cache')).toBe('miss');
    expect(after.text).toContain('Coming soon');
  });
});

describe.runIf(await redisAvailable())('the front door with two instances on one Redis', () => {
  it("drops its hot pages when another instance's write invalidates them", async () => {
    const env = { PAGE_CACHE_TTL_SECONDS: '60', REDIS_URL, REDIS_PREFIX: testPrefix() };
    const a = await createTestApp('sqlite', env);
    cleanup.push(() => a.close());
    const b = await createSecondApp(a, env);
    cleanup.unshift(() => b.close());
    const author = await createUser(a.app, 'author');
    const post = await writePost(a.app, author, { title: 'Hojicha' });
    const baseB = await listening(b);
    await get(baseB + post.url);
    expect((await get(baseB + post.url)).header('x-page-cache')).toBe('hit');

    await a.app.services.posts.update(
      post.id,
      { version: post.version, title: 'Hojicha, roasted' },
      actorOf(author),
    );
    // The bus brings A's invalidation to B; no request to B in between.
    let page = await get(baseB + post.url);
    for (let i = 0; i < 50 && !page.text.includes('Hojicha, roasted'); i++) {
      await sleep(20);
      page = await get(baseB + post.url);
    }
    expect(page.text).toContain('Hojicha, roasted');
  });
});
