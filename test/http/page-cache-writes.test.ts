import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedis } from '../../src/plugins/redis.js';
import { createSecondApp, createTestApp, createUser } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { connectTestRedis, deleteKeys, REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { actorOf, type TestUser, writeComment, writePost } from './fixtures.js';

// Each kind of write changes exactly the cached pages it should, at once, in both directions:
// the pages that show what it wrote are rendered again (a miss, with the new content) and
// every other page is still a hit with the same bytes. Nine pages are warmed before each
// write: the home page, two posts by two authors, their tag pages, their author pages, the
// feed and the sitemap.
//
// Which pages a write changes follows from the tags (src/cache/page-cache.ts): every list of
// posts carries one `posts` tag, so a post write renders every list again, including lists
// the post is not on (coarse, not stale: a finer tag per list would spare them).

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const PAGES = ['home', 'p1', 'p2', 'tea', 'coffee', 'a1', 'a2', 'feed', 'sitemap'] as const;
type Page = (typeof PAGES)[number];
const LISTS: Page[] = ['home', 'tea', 'coffee', 'a1', 'a2', 'feed', 'sitemap'];

interface Site {
  /** Where writes go. */
  writer: FastifyInstance;
  /** Where pages are read (the writer itself, or another instance). */
  reader: FastifyInstance;
  admin: TestUser;
  a1: TestUser;
  a2: TestUser;
  p1: { id: number; version: number; url: string; slug: string };
  urls: Record<Page, string>;
  /** Lets the reader's instance receive the writer's invalidations (nothing when they are one). */
  delivered(): Promise<void>;
}

const anon = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url });

async function site(writer: FastifyInstance, reader: FastifyInstance, delivered: () => Promise<void>) {
  const admin = await createUser(writer, 'admin');
  const a1 = await createUser(writer, 'author');
  const a2 = await createUser(writer, 'author');
  const p1 = await writePost(writer, a1, { title: 'Green tea at dawn', tags: ['tea'] });
  const p2 = await writePost(writer, a2, { title: 'Coffee at noon', tags: ['coffee'] });
  const urls: Record<Page, string> = {
    home: '/',
    p1: p1.url,
    p2: p2.url,
    tea: '/tags/tea',
    coffee: '/tags/coffee',
    a1: `/@${a1.username}`,
    a2: `/@${a2.username}`,
    feed: '/feed.xml',
    sitemap: '/sitemap.xml',
  };
  await delivered();
  return { writer, reader, admin, a1, a2, p1, urls, delivered } satisfies Site;
}

/** Every page read twice: the second read is a hit. Returns the bodies. */
async function warm(s: Site): Promise<Record<Page, string>> {
  const bodies = {} as Record<Page, string>;
  for (const page of PAGES) {
    expect((await anon(s.reader, s.urls[page])).statusCode, page).toBe(200);
    const again = await anon(s.reader, s.urls[page]);
    expect(again.headers['x-page-cache'], page).toBe('hit');
    bodies[page] = again.body;
  }
  return bodies;
}

/**
 * After a write: the `changed` pages are rendered again (or gone: `missing`), every other page
 * is the same hit as before; `shows` names text a changed page must now contain.
 */
async function expectExactly(
  s: Site,
  before: Record<Page, string>,
  expected: {
    changed: Page[];
    shows?: Partial<Record<Page, string>>;
    hides?: Partial<Record<Page, string>>;
    missing?: Page[];
  },
) {
  await s.delivered();
  for (const page of PAGES) {
    const response = await anon(s.reader, s.urls[page]);
    if (expected.missing?.includes(page)) {
      expect(response.statusCode, page).toBe(404);
    } else if (expected.changed.includes(page)) {
      expect(response.statusCode, page).toBe(200);
      expect(response.headers['x-page-cache'], `${page} is rendered again`).toBe('miss');
      const text = expected.shows?.[page];
      if (text !== undefined) expect(response.body, page).toContain(text);
      const gone = expected.hides?.[page];
      if (gone !== undefined) expect(response.body, page).not.toContain(gone);
    } else {
      expect(response.headers['x-page-cache'], `${page} stays cached`).toBe('hit');
      expect(response.body, page).toBe(before[page]);
    }
  }
}

/** The writes, each with the pages it must change. */
const writes: {
  name: string;
  write(s: Site): Promise<void>;
  changed: Page[];
  shows?: Partial<Record<Page, string>>;
  hides?: Partial<Record<Page, string>>;
  missing?: Page[];
}[] = [
  {
    name: 'a post edit: the post and every list; the other post stays',
    write: (s) =>
      s.writer.services.posts
        .update(s.p1.id, { version: s.p1.version, title: 'Green tea, revised' }, actorOf(s.a1))
        .then(() => {}),
    changed: ['p1', ...LISTS],
    shows: {
      p1: 'Green tea, revised',
      home: 'Green tea, revised',
      tea: 'Green tea, revised',
      a1: 'Green tea, revised',
      feed: 'Green tea, revised',
    },
  },
  {
    name: 'a new comment: its post only',
    write: async (s) => {
      const reader = await createUser(s.writer, 'reader');
      await writeComment(s.writer, s.p1.id, reader, 'A thought on the tea.');
    },
    changed: ['p1'],
    shows: { p1: 'A thought on the tea.' },
  },
  {
    name: 'a comment hidden by a moderator: its post only',
    write: async (s) => {
      const reader = await createUser(s.writer, 'reader');
      const comment = await writeComment(s.writer, s.p1.id, reader, 'Soon hidden.');
      await s.delivered();
      // Warm the post again with the comment on it, then hide it.
      await anon(s.reader, s.urls.p1);
      await s.writer.services.comments.setStatus(comment.id, 'hidden', actorOf(s.admin));
    },
    changed: ['p1'],
    hides: { p1: 'Soon hidden.' },
  },
  {
    // The author page shows the role ("@name · editor"); every page naming the author
    // carries their tag, so it is rendered again too.
    name: "a role change: the author's page, post and the lists that show their posts",
    write: (s) => s.writer.services.users.setRole(actorOf(s.admin), s.a1.id, 'editor').then(() => {}),
    changed: ['a1', 'p1', 'home', 'tea', 'feed'],
    shows: { a1: 'editor' },
  },
  {
    name: "a display-name change: everywhere the user's name is",
    write: (s) =>
      s.writer.services.users.updateProfile(actorOf(s.a1), { displayName: 'Mx Tea' }).then(() => {}),
    changed: ['a1', 'p1', 'home', 'tea', 'feed'],
    shows: { a1: 'Mx Tea', p1: 'Mx Tea', home: 'Mx Tea', tea: 'Mx Tea' },
  },
  {
    name: 'a settings change: every page that shows the site title',
    write: (s) =>
      s.writer.services.settings.update(actorOf(s.admin), { siteTitle: 'The Tea Journal' }).then(() => {}),
    // The sitemap lists URLs only.
    changed: PAGES.filter((page) => page !== 'sitemap'),
    shows: Object.fromEntries(
      PAGES.filter((page) => page !== 'sitemap').map((page) => [page, 'The Tea Journal']),
    ),
  },
  {
    name: 'an unpublish: the post is gone, and from every list',
    write: (s) => s.writer.services.posts.unpublish(s.p1.id, actorOf(s.a1)).then(() => {}),
    changed: LISTS,
    hides: { home: 'Green tea at dawn', a1: 'Green tea at dawn', feed: 'Green tea at dawn' },
    // The tea tag has no published post left.
    missing: ['p1', 'tea'],
  },
];

describe('what each write changes in the page cache, on SQLite', () => {
  it.each(writes)('$name', async ({ write, ...expected }) => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '60' });
    cleanup.push(() => t.close());
    const s = await site(t.app, t.app, async () => {});
    const before = await warm(s);
    await write(s);
    await expectExactly(s, before, expected);
  });

  it('a scheduled post: every list once its time comes, with no write; the posts stay', async () => {
    const t = await createTestApp('sqlite', { PAGE_CACHE_TTL_SECONDS: '60' });
    cleanup.push(() => t.close());
    const s = await site(t.app, t.app, async () => {});
    const at = new Date(Date.now() + 1500).toISOString();
    await writePost(t.app, s.a2, { title: 'Scheduled coffee', tags: ['coffee'], publishedAt: at });
    const before = await warm(s);
    expect(before.home).not.toContain('Scheduled coffee');
    await sleep(Date.parse(at) - Date.now() + 50);
    // Lists live no longer than the next publication, whichever list it is.
    await expectExactly(s, before, {
      changed: LISTS,
      shows: {
        home: 'Scheduled coffee',
        coffee: 'Scheduled coffee',
        a2: 'Scheduled coffee',
        feed: 'Scheduled coffee',
      },
    });
  });
});

const dialects = await availableDialects();
const postgres = dialects.includes('postgres');

describe.skipIf(!postgres || !(await redisAvailable()))(
  'what a write through A changes on B, on PostgreSQL with Redis',
  () => {
    let direct: Redis;
    beforeAll(async () => {
      direct = await connectTestRedis();
    });
    afterAll(async () => {
      if (direct) await closeRedis(direct);
    });

    it.each(writes.filter(({ name }) => /post edit|new comment|settings|unpublish/.test(name)))(
      '$name',
      async ({ write, ...expected }) => {
        const env = { REDIS_URL, REDIS_PREFIX: testPrefix(), PAGE_CACHE_TTL_SECONDS: '60' };
        const first = await createTestApp('postgres', env);
        cleanup.push(() => first.close());
        cleanup.push(() => deleteKeys(direct, env.REDIS_PREFIX));
        const b = await createSecondApp(first, env);
        cleanup.push(() => b.close());
        // Redis sends A's invalidation to B before it answers A; B's subscriber gets its turn.
        const s = await site(first.app, b, () => sleep(20));
        const before = await warm(s);
        await write(s);
        await expectExactly(s, before, expected);
      },
    );
  },
);
