import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPageIndex, PagePurger, RedisPageIndex } from '../../src/cache/purge.js';
import { loadConfig } from '../../src/config.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { createSecondApp, createTestApp, createUser, signedIn } from '../helpers/app.js';
import {
  connectTestRedis,
  deleteKeys,
  freePort,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../helpers/redis.js';
import { actorOf, type TestUser, writePost } from './fixtures.js';

// The purge hook: after a write, a CDN or nginx cache in front is told which of the pages it
// may hold changed, without the write waiting for it or failing with it.

const SITE = 'https://blog.example.com';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A purge endpoint that records what it receives; `answer` decides each reply's status. */
async function purgeEndpoint(answer: (request: Received, index: number) => number = () => 200) {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const entry = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body };
      received.push(entry);
      response.statusCode = answer(entry, received.length - 1);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function recordingLog() {
  const lines: { level: string; object: object; message: string }[] = [];
  const at = (level: string) => (object: object, message: string) => lines.push({ level, object, message });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const anon = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url });

async function warm(app: FastifyInstance, ...urls: string[]) {
  for (const url of urls) expect((await anon(app, url)).statusCode, url).toBe(200);
}

const purger = (app: FastifyInstance) => {
  const found = app.services.pagePurger;
  if (!found) throw new Error('no purger: PAGE_PURGE_URL not applied');
  return found;
};

async function appWith(env: Record<string, string>, log?: ReturnType<typeof recordingLog>['log']) {
  const t = await createTestApp(
    'sqlite',
    { PUBLIC_URL: SITE, PAGE_CACHE_TTL_SECONDS: '60', ...env },
    log ? { log } : {},
  );
  cleanup.push(() => t.close());
  const author = await createUser(t.app, 'author');
  return { app: t.app, t, author };
}

const edit = (app: FastifyInstance, author: TestUser, post: { id: number; version: number }, title: string) =>
  app.services.posts.update(post.id, { version: post.version, title }, actorOf(author));

describe('the purge hook, json style', () => {
  it('sends the pages showing an edited post, with its tags and the secret header, and no others', async () => {
    const endpoint = await purgeEndpoint();
    cleanup.push(endpoint.close);
    const { app, author } = await appWith({
      PAGE_PURGE_URL: `${endpoint.url}/purge`,
      PAGE_PURGE_HEADER: 'X-Purge-Token: s3cret value',
    });
    const edited = await writePost(app, author, { title: 'Oolong notes', tags: ['tea'] });
    const other = await writePost(app, author, { title: 'Coffee notes', tags: ['coffee'] });
    const shown = ['/', edited.url, '/tags/tea', '/tags/tea/feed.xml', `/@${author.username}`, '/feed.xml'];
    await warm(app, ...shown, other.url, '/sitemap.xml', '/?page=2');
    await purger(app).idle();
    expect(endpoint.received).toEqual([]);

    const revised = await edit(app, author, edited, 'Oolong, revised');
    await purger(app).idle();
    expect(endpoint.received).toHaveLength(1);
    const [sent] = endpoint.received;
    expect(sent!.method).toBe('POST');
    expect(sent!.url).toBe('/purge');
    expect(sent!.headers['content-type']).toBe('application/json');
    expect(sent!.headers['x-purge-token']).toBe('s3cret value');
    const body = JSON.parse(sent!.body) as { urls: string[]; tags: string[] };
    expect(body.tags.sort()).toEqual([`post:${edited.id}`, 'posts'].sort());
    // Every list (the sitemap, page 2 too) shows the published posts; the other post's page does not.
    expect(body.urls.sort()).toEqual(
      [...shown, '/sitemap.xml', '/?page=2'].map((path) => `${SITE}${path}`).sort(),
    );
    expect(body.urls).not.toContain(`${SITE}${other.url}`);

    // Sent once: the next write finds only what was served since.
    await warm(app, edited.url);
    await edit(app, author, revised, 'Oolong, third take');
    await purger(app).idle();
    expect(JSON.parse(endpoint.received[1]!.body)).toEqual({
      urls: [`${SITE}${edited.url}`],
      tags: [`post:${edited.id}`, 'posts'],
    });
  });

  it('never names a page only a signed-in reader was served, and sends nothing for a draft', async () => {
    const endpoint = await purgeEndpoint();
    cleanup.push(endpoint.close);
    const { app, author } = await appWith({ PAGE_PURGE_URL: endpoint.url });
    const post = await writePost(app, author, { title: 'Read while signed in' });
    const { client } = await signedIn(app, 'reader');
    expect((await client.get(post.url)).statusCode).toBe(200);
    expect((await client.get('/')).headers['cache-control']).toBe('private, no-store');
    await edit(app, author, post, 'Edited');
    await purger(app).idle();
    expect(endpoint.received).toEqual([]);

    const draft = await writePost(app, author, { title: 'A draft', status: 'draft' });
    await warm(app, '/');
    await edit(app, author, draft, 'Still a draft');
    await purger(app).idle();
    expect(endpoint.received).toEqual([]);
  });

  it('retries an endpoint that fails for a moment', async () => {
    const endpoint = await purgeEndpoint((_request, index) => (index === 0 ? 503 : 200));
    cleanup.push(endpoint.close);
    const { lines, log } = recordingLog();
    const { app, author } = await appWith({ PAGE_PURGE_URL: endpoint.url }, log);
    const post = await writePost(app, author, { title: 'Retried' });
    await warm(app, post.url);
    await edit(app, author, post, 'Retried, edited');
    await purger(app).idle();
    expect(endpoint.received.map((request) => request.method)).toEqual(['POST', 'POST']);
    expect(endpoint.received[1]!.body).toBe(endpoint.received[0]!.body);
    expect(lines.filter((line) => line.message.startsWith('Page purge'))).toEqual([]);
  });

  it('neither fails nor delays a write when the endpoint is down or hangs, and logs the failure', async () => {
    const { lines, log } = recordingLog();
    const down = `http://127.0.0.1:${await freePort()}`;
    const { app, author } = await appWith({ PAGE_PURGE_URL: down }, log);
    const post = await writePost(app, author, { title: 'Endpoint down' });
    await warm(app, post.url);
    const started = performance.now();
    const edited = await edit(app, author, post, 'Edited while down');
    expect(performance.now() - started).toBeLessThan(500);
    expect(edited.title).toBe('Edited while down');
    expect((await anon(app, post.url)).body).toContain('Edited while down');
    await purger(app).idle();
    const failed = lines.filter((line) => line.message === 'Page purge failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.level).toBe('error');
    expect(JSON.stringify(failed[0]!.object)).toContain('ECONNREFUSED');

    // An endpoint that accepts and never answers: the write does not wait for it either.
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const slow = await appWith({
      PAGE_PURGE_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`,
    });
    const next = await writePost(slow.app, slow.author, { title: 'Endpoint hangs' });
    await warm(slow.app, next.url);
    const begun = performance.now();
    await edit(slow.app, slow.author, next, 'Edited while it hangs');
    expect(performance.now() - begun).toBeLessThan(500);
    hanging.closeAllConnections();
    hanging.close();
    await purger(slow.app).idle();
  });
});

describe('the purge hook, PURGE style (nginx ngx_cache_purge, Varnish)', () => {
  it('sends one PURGE per page with the public Host, and takes 404 (not cached there) as done', async () => {
    const endpoint = await purgeEndpoint((request) => (request.url === '/' ? 200 : 404));
    cleanup.push(endpoint.close);
    const { lines, log } = recordingLog();
    const { app, author } = await appWith(
      {
        PAGE_PURGE_URL: endpoint.url,
        PAGE_PURGE_STYLE: 'purge',
        PAGE_PURGE_HEADER: 'Authorization: Bearer t',
      },
      log,
    );
    const admin = await createUser(app, 'admin');
    const post = await writePost(app, author, { title: 'Purged by nginx', tags: ['tea'] });
    await warm(app, '/', post.url, '/tags/tea', '/tags/tea?page=1');
    await app.services.settings.update(actorOf(admin), { siteTitle: 'Renamed' });
    await purger(app).idle();
    expect(endpoint.received.every((request) => request.method === 'PURGE')).toBe(true);
    expect(endpoint.received.every((request) => request.headers.host === 'blog.example.com')).toBe(true);
    expect(endpoint.received.every((request) => request.headers.authorization === 'Bearer t')).toBe(true);
    // A settings change shows on every page: each is named once, none retried.
    expect(endpoint.received.map((request) => request.url).sort()).toEqual(
      ['/', post.url, '/tags/tea', '/tags/tea?page=1'].sort(),
    );
    expect(lines.filter((line) => line.message.startsWith('Page purge'))).toEqual([]);
  });
});

describe('the purger on its own', () => {
  it('keeps at most 100 purges under way and drops, with a log line, what comes past that', async () => {
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { lines, log } = recordingLog();
    const hook = new PagePurger({
      config: { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, style: 'json' },
      index: new MemoryPageIndex(),
      publicUrl: SITE,
      staleMs: 0,
      log,
    });
    for (let i = 0; i < 101; i++) {
      hook.stored(`/p${i}`, [`t${i}`], 60_000);
      hook.invalidated([`t${i}`]);
    }
    expect(lines.map((line) => line.message)).toEqual(['Page purge dropped: too many purges under way']);
    // Shutting down does not wait for an endpoint that hangs longer than the bound.
    const closing = performance.now();
    await hook.close(200);
    expect(performance.now() - closing).toBeLessThan(1000);
    hanging.closeAllConnections();
    hanging.close();
    await hook.idle();
    expect(lines.filter((line) => line.message === 'Page purge failed')).toHaveLength(100);
  });
});

describe('the purge settings', () => {
  it('are off by default, parse the header, and refuse a bad URL or header without quoting the secret', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).cache.purge).toBeUndefined();
    expect(
      loadConfig({
        NODE_ENV: 'test',
        PAGE_PURGE_URL: 'http://127.0.0.1:8080',
        PAGE_PURGE_HEADER: 'Authorization: Bearer a:b',
      }).cache.purge,
    ).toEqual({
      url: 'http://127.0.0.1:8080',
      style: 'json',
      header: { name: 'Authorization', value: 'Bearer a:b' },
    });
    expect(() => loadConfig({ NODE_ENV: 'test', PAGE_PURGE_URL: 'ftp://cdn' })).toThrow(/PAGE_PURGE_URL/);
    expect(() =>
      loadConfig({ NODE_ENV: 'test', PAGE_PURGE_URL: 'http://x', PAGE_PURGE_STYLE: 'ban' }),
    ).toThrow(/PAGE_PURGE_STYLE/);
    let message = '';
    try {
      loadConfig({ NODE_ENV: 'test', PAGE_PURGE_URL: 'http://x', PAGE_PURGE_HEADER: 'no colon s3cret' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/PAGE_PURGE_HEADER must be `Name: value`/);
    expect(message).not.toContain('s3cret');
  });
});

describe('the page index in memory', () => {
  it('names a page until its time is up, once, and sweeps expired pages as it grows', async () => {
    let now = 1000;
    const index = new MemoryPageIndex(() => now);
    await index.add('/a', ['site', 'posts'], 2000);
    await index.add('/b', ['site'], 5000);
    now = 3000;
    expect(await index.take(['site'])).toEqual(['/b']);
    expect(await index.take(['site'])).toEqual([]);
    // 'posts' still holds /a until taken, although expired: take skips it.
    expect(await index.take(['posts'])).toEqual([]);
    for (let i = 0; i < 1000; i++) await index.add(`/old${i}`, ['t'], now + 1);
    now += 10;
    for (let i = 0; i < 1000; i++) await index.add(`/new${i}`, ['t'], now + 1000);
    // Swept on the way: the expired pages are gone before the take (internals read on purpose).
    const byTag = (index as unknown as { byTag: Map<string, Map<string, number>> }).byTag;
    expect(byTag.get('t')!.size).toBeLessThan(1500);
    const taken = await index.take(['t']);
    expect(taken).toHaveLength(1000);
    expect(taken.every((key) => key.startsWith('/new'))).toBe(true);
  });
});

describe.skipIf(!(await redisAvailable()))('the purge hook on two instances over one Redis', () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  it("purges from A, after A's write, the pages B served; the index keys expire", async () => {
    const endpoint = await purgeEndpoint();
    cleanup.push(endpoint.close);
    const env = {
      REDIS_URL,
      REDIS_PREFIX: testPrefix(),
      PUBLIC_URL: SITE,
      PAGE_CACHE_TTL_SECONDS: '60',
      PAGE_CACHE_STALE_SECONDS: '30',
      PAGE_PURGE_URL: endpoint.url,
    };
    const a = await createTestApp('sqlite', env);
    cleanup.push(() => a.close());
    cleanup.push(() => deleteKeys(direct, env.REDIS_PREFIX));
    const b = await createSecondApp(a, env);
    cleanup.push(() => b.close());
    const author = await createUser(a.app, 'author');
    const post = await writePost(a.app, author, { title: 'Served by B', tags: ['tea'] });
    await warm(b, '/', post.url, '/tags/tea');
    await purger(b).idle();
    const ttl = await direct.pttl(`${env.REDIS_PREFIX}purge:post:${post.id}`);
    expect(ttl).toBeGreaterThan(80_000);
    expect(ttl).toBeLessThanOrEqual(90_000);

    await edit(a.app, author, post, 'Edited on A');
    await purger(a.app).idle();
    expect(endpoint.received).toHaveLength(1);
    const body = JSON.parse(endpoint.received[0]!.body) as { urls: string[] };
    expect(body.urls.sort()).toEqual(['/', post.url, '/tags/tea'].map((path) => `${SITE}${path}`).sort());
    // Taken: the tags' sets are gone, so the next write sends only what is served after it.
    expect(await direct.exists(`${env.REDIS_PREFIX}purge:post:${post.id}`)).toBe(0);
  });

  it('logs a Redis outage once, sends nothing it cannot know, and follows again once Redis is back', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const endpoint = await purgeEndpoint();
    cleanup.push(endpoint.close);
    const client = await connectTestRedis(own.url);
    cleanup.push(() => closeRedis(client));
    const { lines, log } = recordingLog();
    const prefix = testPrefix();
    const hook = new PagePurger({
      config: { url: endpoint.url, style: 'json' },
      index: new RedisPageIndex(client, { prefix, maxAgeMs: 90_000 }),
      publicUrl: SITE,
      staleMs: 30_000,
      log,
    });
    await own.stop();
    for (const path of ['/', '/posts/a', '/tags/tea']) hook.stored(path, ['site', 'posts'], 60_000);
    hook.invalidated(['posts']);
    await hook.idle();
    const outage = lines.filter((line) => line.message.startsWith('Page purge index unreachable'));
    expect(outage).toHaveLength(1);
    expect(endpoint.received).toEqual([]);

    await own.start();
    // ioredis reconnects on its own (within ~2 s).
    for (let i = 0; i < 50 && client.status !== 'ready'; i++) await sleep(100);
    hook.stored('/', ['site', 'posts'], 60_000);
    hook.invalidated(['posts']);
    await hook.idle();
    expect(JSON.parse(endpoint.received[0]!.body)).toEqual({ urls: [`${SITE}/`], tags: ['posts'] });
    expect(lines.filter((line) => line.message.startsWith('Page purge index unreachable'))).toHaveLength(1);
  });
});
