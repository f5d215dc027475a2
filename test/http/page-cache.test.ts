import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import {
  Client,
  createSecondApp,
  createTestApp,
  createUser,
  signedIn,
  type TestApp,
} from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../helpers/redis.js';
import { actorOf, type TestUser, writeComment, writePost } from './fixtures.js';

// The full-page cache for anonymous readers: each write changes exactly the pages that show
// what it wrote, at once; nothing a signed-in reader sees is ever stored or shared.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const anon = (app: FastifyInstance, url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers });

/** GETs each URL anonymously so the next GET of each is a hit. */
async function warm(app: FastifyInstance, ...urls: string[]) {
  for (const url of urls) {
    const first = await anon(app, url);
    expect(first.statusCode, url).toBe(200);
    expect((await anon(app, url)).headers['x-page-cache'], url).toBe('hit');
  }
}

describe.each(await availableDialects())('the page cache on %s', (dialect) => {
  let t: TestApp;
  let app: FastifyInstance;
  let admin: TestUser;
  let author: TestUser;
  beforeEach(async () => {
    t = await createTestApp(dialect, { PAGE_CACHE_TTL_SECONDS: '60', PAGE_CACHE_STALE_SECONDS: '30' });
    app = t.app;
    cleanup.push(() => t.close());
    admin = await createUser(app, 'admin');
    author = await createUser(app, 'author');
  });

  const post = (title: string, tags: string[] = []) => writePost(app, author, { title, tags });

  it('answers the second anonymous GET from the cache, with an ETag, shared caching and 304', async () => {
    const written = await post('Green tea at dawn');
    const first = await anon(app, written.url);
    expect(first.headers['x-page-cache']).toBe('miss');
    expect(first.headers['set-cookie']).toBeUndefined();
    expect(first.headers['cache-control']).toBe('public, max-age=0, s-maxage=60, stale-while-revalidate=30');
    expect(first.headers.vary).toBe('Cookie, Accept-Encoding');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);

    const second = await anon(app, written.url);
    expect(second.headers['x-page-cache']).toBe('hit');
    // The app's cache statistics (for the metrics) saw the miss and the hit.
    expect(app.cache.stats().namespaces.pages?.l1).toMatchObject({ hits: 1, misses: 1 });
    expect(second.body).toBe(first.body);
    expect(second.headers.etag).toBe(etag);
    expect(second.headers['content-type']).toBe('text/html; charset=utf-8');

    const again = await anon(app, written.url, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await anon(app, written.url, { 'if-none-match': '"other"' })).statusCode).toBe(200);
    // Bad input is still refused, not cached.
    expect((await anon(app, '/?page=-1')).statusCode).toBe(400);
    expect((await anon(app, '/posts/no-such-post')).statusCode).toBe(404);
    expect((await anon(app, '/posts/no-such-post')).headers['x-page-cache']).toBeUndefined();
  });

  it('shows a post edit at once on its page, the home page and its tag page, and leaves other posts cached', async () => {
    const edited = await post('Oolong notes', ['tea']);
    const other = await post('Coffee notes', ['coffee']);
    await warm(
      app,
      '/',
      edited.url,
      other.url,
      '/tags/tea',
      '/tags/coffee',
      `/@${author.username}`,
      '/feed.xml',
    );
    await app.services.posts.update(
      edited.id,
      { version: edited.version, title: 'Oolong, revised' },
      actorOf(author),
    );
    for (const url of ['/', edited.url, '/tags/tea', `/@${author.username}`, '/feed.xml']) {
      const page = await anon(app, url);
      expect(page.headers['x-page-cache'], url).toBe('miss');
      expect(page.body, url).toContain('Oolong, revised');
    }
    // Another post's page shows nothing of the edited one.
    expect((await anon(app, other.url)).headers['x-page-cache']).toBe('hit');
  });

  it('shows a new comment and hides a hidden one on the post page only', async () => {
    const commented = await post('A post to discuss');
    const reader = await createUser(app, 'reader');
    await warm(app, '/', commented.url);
    const comment = await writeComment(app, commented.id, reader, 'First thoughts on this.');
    const page = await anon(app, commented.url);
    expect(page.headers['x-page-cache']).toBe('miss');
    expect(page.body).toContain('First thoughts on this.');
    expect((await anon(app, '/')).headers['x-page-cache']).toBe('hit');

    expect((await anon(app, commented.url)).headers['x-page-cache']).toBe('hit');
    await app.services.comments.setStatus(comment.id, 'hidden', actorOf(admin));
    expect((await anon(app, commented.url)).body).not.toContain('First thoughts on this.');
  });

  it('drops an unpublished post from the lists and its page at once', async () => {
    const gone = await post('Soon a draft', ['tea']);
    await warm(app, '/', gone.url, '/tags/tea', '/sitemap.xml');
    await app.services.posts.unpublish(gone.id, actorOf(author));
    expect((await anon(app, '/')).body).not.toContain('Soon a draft');
    expect((await anon(app, '/sitemap.xml')).body).not.toContain(gone.slug);
    expect((await anon(app, gone.url)).statusCode).toBe(404);
    expect((await anon(app, '/tags/tea')).statusCode).toBe(404);
  });

  it('shows a settings change on every cached page', async () => {
    const written = await post('Any post', ['tea']);
    await warm(app, '/', written.url, '/tags/tea', `/@${author.username}`);
    await app.services.settings.update(actorOf(admin), { siteTitle: 'The Tea Journal' });
    for (const url of ['/', written.url, '/tags/tea', `/@${author.username}`]) {
      expect((await anon(app, url)).body, url).toContain('The Tea Journal');
    }
  });

  it("shows an author's new name and a role change on their pages", async () => {
    const written = await post('By a renamed author');
    const bystander = await writePost(app, admin, { title: 'By the admin' });
    await warm(app, '/', written.url, `/@${author.username}`, bystander.url);
    await app.services.users.updateProfile(actorOf(author), { displayName: 'Mx Renamed' });
    for (const url of ['/', written.url, `/@${author.username}`]) {
      expect((await anon(app, url)).body, url).toContain('Mx Renamed');
    }
    expect((await anon(app, bystander.url)).headers['x-page-cache']).toBe('hit');
    expect((await anon(app, `/@${author.username}`)).headers['x-page-cache']).toBe('hit');
    await app.services.users.setRole(actorOf(admin), author.id, 'editor');
    expect((await anon(app, `/@${author.username}`)).headers['x-page-cache']).toBe('miss');
  });

  it('shows a scheduled post on the home page once its time comes, with no write', async () => {
    await post('Already out');
    const at = new Date(Date.now() + 1500).toISOString();
    await writePost(app, author, { title: 'Scheduled for later', publishedAt: at });
    const before = await anon(app, '/');
    expect(before.body).not.toContain('Scheduled for later');
    // Cached, but no longer than until the publication time, here and in shared caches.
    expect(before.headers['cache-control']).toMatch(/s-maxage=[01],/);
    expect((await anon(app, '/')).headers['x-page-cache']).toBe('hit');
    await sleep(Date.parse(at) - Date.now() + 50);
    expect((await anon(app, '/')).body).toContain('Scheduled for later');
  });

  it('never stores a signed-in page nor serves one to anyone else', async () => {
    await post('Shared reading');
    const one = await signedIn(app, 'author');
    const two = await signedIn(app, 'author');
    await warm(app, '/');
    const mine = await one.client.get('/');
    expect(mine.headers['cache-control']).toBe('private, no-store');
    expect(mine.headers['x-page-cache']).toBeUndefined();
    expect(mine.body).toContain(one.user.displayName);
    const theirs = await two.client.get('/');
    expect(theirs.body).toContain(two.user.displayName);
    expect(theirs.body).not.toContain(one.user.displayName);
    const anonymous = await anon(app, '/');
    expect(anonymous.headers['x-page-cache']).toBe('hit');
    expect(anonymous.body).not.toContain(one.user.displayName);
    expect(anonymous.body).not.toContain(two.user.displayName);
    // A form page sets the CSRF cookie: it is private even to an anonymous visitor.
    const login = await new Client(app).get('/login');
    expect(login.headers['cache-control']).toBe('private, no-store');
  });
});

describe('the page cache, turned off', () => {
  it('renders every page and still answers 304 to a matching ETag', async () => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '0' });
    cleanup.push(() => t.close());
    await createUser(t.app, 'admin');
    const first = await anon(t.app, '/');
    expect(first.headers['x-page-cache']).toBe('off');
    expect(first.headers['cache-control']).toBe('public, no-cache');
    expect((await anon(t.app, '/')).headers['x-page-cache']).toBe('off');
    expect((await anon(t.app, '/', { 'if-none-match': String(first.headers.etag) })).statusCode).toBe(304);
  });
});

describe.skipIf(!(await redisAvailable()))('the page cache on two instances over one Redis', () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  // Redis sends a PUBLISH to the subscribers before it answers the publisher, so a request that
  // reaches B over the network after A's write was answered finds the invalidation already on
  // B's socket. An inject() starts at once, in the same tick: give B's subscriber its turn
  // (loopback delivery is well under a millisecond; this is a bound, not a tuning).
  const busDelivered = () => sleep(20);

  async function twoInstances(url = REDIS_URL) {
    const env = { REDIS_URL: url, REDIS_PREFIX: testPrefix(), PAGE_CACHE_TTL_SECONDS: '60' };
    const first = await createTestApp('sqlite', env);
    cleanup.push(() => first.close());
    cleanup.push(() => deleteKeys(direct, env.REDIS_PREFIX));
    const b = await createSecondApp(first, env);
    cleanup.push(() => b.close());
    return { a: first.app, b };
  }

  it("shows a write on A on B's next request: a post edit, a comment and a settings change", async () => {
    const { a, b } = await twoInstances();
    const admin = await createUser(a, 'admin');
    const written = await writePost(a, admin, { title: 'Written on A' });
    // B stores a page only once it has A's invalidations: until then it renders each time.
    await busDelivered();
    await warm(b, '/', written.url);
    await a.services.posts.update(
      written.id,
      { version: written.version, title: 'Edited on A' },
      actorOf(admin),
    );
    await busDelivered();
    expect((await anon(b, '/')).body).toContain('Edited on A');
    expect((await anon(b, written.url)).body).toContain('Edited on A');

    await warm(b, written.url);
    await writeComment(a, written.id, admin, 'A comment made on A.');
    await busDelivered();
    expect((await anon(b, written.url)).body).toContain('A comment made on A.');

    await warm(b, '/');
    await a.services.settings.update(actorOf(admin), { siteTitle: 'Retitled on A' });
    await busDelivered();
    expect((await anon(b, '/')).body).toContain('Retitled on A');
  });

  it('keeps serving and invalidating on each instance while Redis is down, and shares again once it is back', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const { a, b } = await twoInstances(own.url);
    const admin = await createUser(a, 'admin');
    const written = await writePost(a, admin, { title: 'Before the outage' });
    await busDelivered();
    await warm(b, '/');

    await own.stop();
    const started = performance.now();
    // B's L1 keeps serving; a write on A succeeds and clears A's own pages.
    expect((await anon(b, '/')).statusCode).toBe(200);
    const edited = await a.services.posts.update(
      written.id,
      { version: written.version, title: 'During the outage' },
      actorOf(admin),
    );
    expect((await anon(a, '/')).body).toContain('During the outage');
    expect((await anon(b, written.url)).statusCode).toBe(200);
    // B cannot hear A's invalidations now, so it renders rather than serve what it stored.
    await busDelivered();
    expect((await anon(b, '/')).body).toContain('During the outage');
    expect((await anon(b, '/')).body).toContain('During the outage');
    expect(performance.now() - started).toBeLessThan(2000);

    await own.start();
    // Once Redis answers again (ioredis reconnects within ~2 s), a write on A reaches B.
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      await sleep(200);
      const version = (await a.services.posts.get(edited.id, actorOf(admin))).version;
      await a.services.posts.update(written.id, { version, title: `After the outage ${i}` }, actorOf(admin));
      await busDelivered();
      seen = (await anon(b, '/')).body.includes(`After the outage ${i}`);
    }
    expect(seen).toBe(true);
  });
});
