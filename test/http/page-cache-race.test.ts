import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import { createSecondApp, createTestApp, createUser } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import {
  connectTestRedis,
  deleteKeys,
  REDIS_URL,
  redisAvailable,
  startOwnRedis,
  testPrefix,
} from '../helpers/redis.js';
import { actorOf, writePost } from './fixtures.js';

// A render that a write overtook is never served: the page a reader started rendering before
// a write, on this instance or another, shows the old post, and must not be stored for the
// next readers (the issue: "nobody ever sees a stale page after a write").

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const anon = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url });
const dialects = await availableDialects();

/**
 * Holds the next render of a post page on `app` right after it read the post from the
 * database: `read` resolves then, and the render goes on when `release` is called.
 */
function holdNextPostRead(app: FastifyInstance) {
  const posts = app.services.posts;
  const original = posts.getBySlug.bind(posts);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const read = new Promise<void>((resolve) => (reached = resolve));
  let armed = true;
  posts.getBySlug = async (...args: Parameters<typeof original>) => {
    const post = await original(...args);
    if (armed) {
      armed = false;
      reached();
      await gate;
    }
    return post;
  };
  return { read, release };
}

describe('a render overtaken by a write on the same instance', () => {
  it('is sent as it was read, and not stored', async () => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '60' });
    cleanup.push(() => t.close());
    const admin = await createUser(t.app, 'admin');
    const post = await writePost(t.app, admin, { title: 'Before the write' });
    const hold = holdNextPostRead(t.app);
    const rendering = anon(t.app, post.url);
    await hold.read;
    await t.app.services.posts.update(
      post.id,
      { version: post.version, title: 'After the write' },
      actorOf(admin),
    );
    hold.release();
    expect((await rendering).body).toContain('Before the write');
    const next = await anon(t.app, post.url);
    expect(next.body).toContain('After the write');
    expect(next.headers['x-page-cache']).toBe('miss');
    expect((await anon(t.app, post.url)).headers['x-page-cache']).toBe('hit');
  });
});

describe.skipIf(!(await redisAvailable()))('a render overtaken by a write on another instance', () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  // Redis sends a PUBLISH to the subscribers before it answers the publisher; an inject()
  // starts in the same tick, so B's subscriber is given its turn first (see page-cache.test.ts).
  const busDelivered = () => sleep(20);

  it.each(dialects)(
    'on %s: B renders from old rows, A writes, B stores: every instance then shows the write',
    async (dialect) => {
      const env = { REDIS_URL, REDIS_PREFIX: testPrefix(), PAGE_CACHE_TTL_SECONDS: '60' };
      const first = await createTestApp(dialect, env);
      cleanup.push(() => first.close());
      cleanup.push(() => deleteKeys(direct, env.REDIS_PREFIX));
      const b = await createSecondApp(first, env);
      cleanup.push(() => b.close());
      const a = first.app;
      const admin = await createUser(a, 'admin');
      const post = await writePost(a, admin, { title: 'Before the write' });
      await busDelivered();

      const hold = holdNextPostRead(b);
      const rendering = anon(b, post.url);
      await hold.read;
      await a.services.posts.update(
        post.id,
        { version: post.version, title: 'After the write' },
        actorOf(admin),
      );
      await busDelivered();
      hold.release();
      // The reader whose render began before the write gets what it read: that is not stale.
      expect((await rendering).body).toContain('Before the write');
      // B's store reached Redis and the bus by now, if it was made.
      await busDelivered();
      for (const [name, app] of [
        ['A', a],
        ['B', b],
        ['A again', a],
        ['B again', b],
      ] as const) {
        const page = await anon(app, post.url);
        expect(page.statusCode, name).toBe(200);
        expect(page.body, name).toContain('After the write');
        expect(page.body, name).not.toContain('Before the write');
      }
      // And the page is cached again once rendered after the write.
      expect((await anon(b, post.url)).headers['x-page-cache']).toBe('hit');
    },
  );

  it('after Redis restarts empty, B does not serve what it stored before a write Redis never heard of', async () => {
    const own = await startOwnRedis();
    if (!own) return;
    cleanup.push(() => own.stop());
    const env = { REDIS_URL: own.url, REDIS_PREFIX: testPrefix(), PAGE_CACHE_TTL_SECONDS: '60' };
    const first = await createTestApp('sqlite', env);
    cleanup.push(() => first.close());
    const b = await createSecondApp(first, env);
    cleanup.push(() => b.close());
    const a = first.app;
    const admin = await createUser(a, 'admin');
    const post = await writePost(a, admin, { title: 'Before the outage' });
    await busDelivered();
    await anon(b, '/');
    expect((await anon(b, '/')).headers['x-page-cache']).toBe('hit');

    await own.stop();
    await a.services.posts.update(
      post.id,
      { version: post.version, title: 'During the outage' },
      actorOf(admin),
    );
    // A's connection to Redis is gone for good (a partitioned or dead instance): its
    // invalidation, waiting to be sent again, never reaches Redis.
    a.redis!.disconnect();
    await own.start();
    // B reconnects (ioredis retries within ~2 s); until then it renders every request. Its
    // page stored before the outage is never served again: every answer is the new title,
    // and once B hears the channel again it stores the new render.
    let cachedAgain = false;
    for (let i = 0; i < 40 && !cachedAgain; i++) {
      const page = await anon(b, '/');
      expect(page.body, `request ${i}`).toContain('During the outage');
      cachedAgain = page.headers['x-page-cache'] === 'hit';
      await sleep(150);
    }
    expect(cachedAgain).toBe(true);
  });
});
