import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import type { Actor } from '../../../src/modules/access/permissions.js';
import { PostsRepository } from '../../../src/modules/posts/repository.js';
import { PostsService } from '../../../src/modules/posts/service.js';
import { availableDialects, createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { HOUR, insertUser, manualClock } from './fixtures.js';

/** Resolves to the AppError a call rejects with, failing the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe.each(await availableDialects())('PostsService on %s', (dialect) => {
  let t: TestDatabase;
  let time: ReturnType<typeof manualClock>;
  let posts: PostsService;
  let alice: Actor;
  let bob: Actor;
  let erin: Actor;
  let rita: Actor;

  beforeEach(async () => {
    t = await createTestDatabase(dialect);
    time = manualClock();
    posts = new PostsService(new PostsRepository(t.handle.db, t.handle.dialect), time.clock);
    alice = await insertUser(t.handle.db, 'alice', 'author');
    bob = await insertUser(t.handle.db, 'bob', 'author');
    erin = await insertUser(t.handle.db, 'erin', 'editor');
    rita = await insertUser(t.handle.db, 'rita', 'reader');
  });
  afterEach(async () => t?.destroy());

  describe('create', () => {
    it('stores a draft with tags, derived slug and excerpt, and sanitised HTML', async () => {
      const post = await posts.create(
        {
          title: '  Hello World ',
          body: 'Some **bold** text <script>alert(1)</script>',
          tags: ['News', 'news', 'Tech'],
        },
        alice,
      );
      expect(post).toMatchObject({
        title: 'Hello World',
        slug: 'hello-world',
        url: '/posts/hello-world',
        status: 'draft',
        publishedAt: null,
        version: 1,
        excerpt: 'Some bold text',
        author: { id: alice.id, username: 'alice', displayName: 'Alice Example' },
        tags: [
          { name: 'News', slug: 'news' },
          { name: 'Tech', slug: 'tech' },
        ],
        createdAt: time.iso(),
      });
      expect(post.bodyHtml).toBe('<p>Some <strong>bold</strong> text </p>\n');
    });

    it('suffixes a derived slug -2, -3… and falls back to "post" for an all-symbol title', async () => {
      const slugs = [];
      for (let i = 0; i < 3; i++) slugs.push((await posts.create({ title: 'Same Title' }, alice)).slug);
      expect(slugs).toEqual(['same-title', 'same-title-2', 'same-title-3']);
      expect((await posts.create({ title: '!!! ???' }, alice)).slug).toBe('post');
      expect((await posts.create({ title: '🎉' }, alice)).slug).toBe('post-2');
    });

    it('gives a Chinese title a Chinese slug and a percent-encoded URL', async () => {
      const post = await posts.create({ title: '你好 世界', status: 'published' }, alice);
      expect(post.slug).toBe('你好-世界');
      expect(post.url).toBe(`/posts/${encodeURIComponent('你好-世界')}`);
      expect((await posts.getBySlug('你好-世界', null)).id).toBe(post.id);
    });

    it('refuses a taken slug with 409 and an invalid one with a field error', async () => {
      await posts.create({ title: 'A', slug: 'taken' }, alice);
      const taken = await failure(posts.create({ title: 'B', slug: 'taken' }, bob));
      expect(taken).toMatchObject({ status: 409, code: 'conflict' });
      expect(taken.fields).toHaveProperty('slug');
      const invalid = await failure(posts.create({ title: 'B', slug: 'Not A Slug!' }, bob));
      expect(invalid).toMatchObject({ status: 400, code: 'validation_failed' });
      expect(invalid.fields).toHaveProperty('slug');
      expect((await posts.create({ title: 'C', slug: 'MiXeD' }, bob)).slug).toBe('mixed');
    });

    it('validates title, tags and the publication time with field errors', async () => {
      expect((await failure(posts.create({ title: '   ' }, alice))).fields).toHaveProperty('title');
      expect((await failure(posts.create({ title: 'x', tags: ['+++'] }, alice))).fields).toHaveProperty(
        'tags',
      );
      const tooMany = Array.from({ length: 11 }, (_, i) => `tag ${i}`);
      expect((await failure(posts.create({ title: 'x', tags: tooMany }, alice))).fields).toHaveProperty(
        'tags',
      );
      for (const input of [
        { title: 'x', status: 'scheduled' as const },
        {
          title: 'x',
          status: 'scheduled' as const,
          publishedAt: new Date(time.clock.now().getTime() - HOUR).toISOString(),
        },
        { title: 'x', status: 'published' as const, publishedAt: '2030-01-01T10:00:00' },
      ]) {
        const error = await failure(posts.create(input, alice));
        expect(error.status).toBe(400);
        expect(error.fields).toHaveProperty('publishedAt');
      }
    });

    it('publishes now, or at a given (non-UTC) time stored in UTC', async () => {
      const now = await posts.create({ title: 'Now', status: 'published' }, alice);
      expect(now).toMatchObject({ status: 'published', publishedAt: time.iso() });
      const backdated = await posts.create(
        { title: 'Then', status: 'published', publishedAt: '2029-12-31T08:00:00+08:00' },
        alice,
      );
      expect(backdated.publishedAt).toBe('2029-12-31T00:00:00.000Z');
    });

    it('lets only authors and up create', async () => {
      expect((await failure(posts.create({ title: 'x' }, rita))).status).toBe(403);
      expect((await failure(posts.create({ title: 'x' }, null))).status).toBe(401);
      expect((await posts.create({ title: 'x' }, erin)).author.username).toBe('erin');
    });
  });

  describe('scheduling and visibility', () => {
    it('hides a scheduled post until its time, then shows it', async () => {
      const at = new Date(time.clock.now().getTime() + HOUR).toISOString();
      const post = await posts.create(
        {
          title: 'Future news',
          body: 'Scheduled content',
          status: 'scheduled',
          publishedAt: at,
          tags: ['soon'],
        },
        alice,
      );
      expect(post).toMatchObject({ status: 'scheduled', publishedAt: at });

      expect((await failure(posts.get(post.id, null))).status).toBe(404);
      expect((await failure(posts.get(post.slug, bob))).status).toBe(404);
      expect((await posts.list({}, null)).items).toEqual([]);
      expect((await posts.search('scheduled', 1, null)).total).toBe(0);
      expect(await posts.listTags()).toEqual([]);
      expect((await posts.get(post.id, alice)).status).toBe('scheduled');
      expect(
        (await posts.list({ author: 'alice', status: 'scheduled' }, alice)).items.map((p) => p.id),
      ).toEqual([post.id]);

      time.advance(HOUR);
      expect((await posts.get(post.id, null)).status).toBe('published');
      expect((await posts.list({}, null)).items.map((p) => p.id)).toEqual([post.id]);
      expect((await posts.search('scheduled', 1, null)).total).toBe(1);
      expect(await posts.listTags()).toEqual([{ name: 'soon', slug: 'soon', count: 1 }]);
      expect(await posts.sitemapEntries()).toEqual([{ loc: post.url, lastmod: post.updatedAt }]);
      expect((await posts.recent()).map((p) => p.bodyHtml)).toEqual(['<p>Scheduled content</p>\n']);
    });

    it('shows drafts to their author and editors only', async () => {
      const draft = await posts.create({ title: 'Secret draft' }, alice);
      for (const actor of [null, bob, rita]) {
        expect((await failure(posts.get(draft.id, actor))).status).toBe(404);
      }
      expect((await posts.get(draft.id, alice)).title).toBe('Secret draft');
      expect((await posts.get(draft.slug, erin)).title).toBe('Secret draft');
      expect((await posts.list({}, alice)).total).toBe(0);
    });

    it('lists unpublished posts only as "my posts" or to editors', async () => {
      const mine = await posts.create({ title: 'Mine' }, alice);
      const bobs = await posts.create({ title: 'Bobs' }, bob);
      await posts.create({ title: 'Out', status: 'published' }, alice);
      expect((await failure(posts.list({ status: 'draft' }, null))).status).toBe(401);
      expect((await failure(posts.list({ status: 'draft' }, bob))).status).toBe(403);
      expect((await failure(posts.list({ status: 'draft', author: 'alice' }, bob))).status).toBe(403);
      const own = await posts.list({ status: 'draft', author: 'alice' }, alice);
      expect(own.items.map((p) => p.id)).toEqual([mine.id]);
      const all = await posts.list({ status: 'all', author: 'alice' }, alice);
      expect(all.items.map((p) => p.title)).toEqual(['Out', 'Mine']);
      const editor = await posts.list({ status: 'draft' }, erin);
      expect(editor.items.map((p) => p.id).sort()).toEqual([mine.id, bobs.id].sort());
    });

    it('pages the public list', async () => {
      for (let i = 1; i <= 5; i++) {
        await posts.create({ title: `P${i}`, status: 'published' }, alice);
        time.advance(1000);
      }
      const page = await posts.list({ page: 2, perPage: 2 }, null);
      expect(page).toMatchObject({ page: 2, perPage: 2, total: 5, totalPages: 3 });
      expect(page.items.map((p) => p.title)).toEqual(['P3', 'P2']);
      expect(page.items[0]).not.toHaveProperty('body');
    });
  });

  describe('update, publish, delete', () => {
    it('refuses a stale version with 409 and keeps the newer text', async () => {
      const post = await posts.create({ title: 'Draft', body: 'first' }, alice);
      const saved = await posts.update(post.id, { body: 'second', version: 1 }, alice);
      expect(saved.version).toBe(2);
      const stale = await failure(posts.update(post.id, { body: 'from an old tab', version: 1 }, erin));
      expect(stale).toMatchObject({ status: 409, code: 'conflict' });
      expect(stale.message).toMatch(/changed since you opened it/);
      expect(stale.fields).toEqual({ version: '2' });
      const current = await posts.get(post.id, alice);
      expect(current).toMatchObject({ body: 'second', version: 2 });
    });

    it('re-derives the excerpt unless custom, and re-renders the HTML', async () => {
      const post = await posts.create({ title: 'T', body: 'one' }, alice);
      const v2 = await posts.update(post.id, { body: 'two *em*', version: 1 }, alice);
      expect(v2).toMatchObject({ excerpt: 'two em', bodyHtml: '<p>two <em>em</em></p>\n' });
      const v3 = await posts.update(post.id, { excerpt: 'Hand written', version: 2 }, alice);
      const v4 = await posts.update(post.id, { body: 'three', version: v3.version }, alice);
      expect(v4).toMatchObject({ excerpt: 'Hand written', body: 'three' });
      const v5 = await posts.update(post.id, { excerpt: null, version: v4.version }, alice);
      expect(v5.excerpt).toBe('three');
    });

    it('lets an author edit only their own posts, and an editor any post', async () => {
      const published = await posts.create({ title: 'Alice public', status: 'published' }, alice);
      const draft = await posts.create({ title: 'Alice draft' }, alice);
      expect(
        (await failure(posts.update(published.id, { title: 'Bob was here', version: 1 }, bob))).status,
      ).toBe(403);
      expect((await failure(posts.update(published.id, { title: 'x', version: 1 }, null))).status).toBe(401);
      expect((await failure(posts.update(draft.id, { title: 'Bob was here', version: 1 }, bob))).status).toBe(
        404,
      );
      expect((await failure(posts.update(99_999, { title: 'x', version: 1 }, erin))).status).toBe(404);
      const edited = await posts.update(published.id, { title: 'Edited by editor', version: 1 }, erin);
      expect(edited).toMatchObject({ title: 'Edited by editor', version: 2, author: { username: 'alice' } });
      expect((await posts.getForEdit(draft.id, alice)).title).toBe('Alice draft');
      expect((await failure(posts.getForEdit(published.id, bob))).status).toBe(403);
    });

    it('changes the slug, refusing one already taken', async () => {
      const a = await posts.create({ title: 'A' }, alice);
      await posts.create({ title: 'B' }, alice);
      expect((await failure(posts.update(a.id, { slug: 'b', version: 1 }, alice))).status).toBe(409);
      expect((await posts.update(a.id, { slug: 'a-new', version: 1 }, alice)).url).toBe('/posts/a-new');
    });

    it('replaces tags and moves between draft, scheduled and published', async () => {
      const post = await posts.create({ title: 'T', tags: ['old'] }, alice);
      const tagged = await posts.update(post.id, { tags: ['New', 'Other'], version: 1 }, alice);
      expect(tagged.tags.map((tag) => tag.slug)).toEqual(['new', 'other']);
      const later = new Date(time.clock.now().getTime() + 2 * HOUR).toISOString();
      const scheduled = await posts.update(
        post.id,
        { status: 'scheduled', publishedAt: later, version: 2 },
        alice,
      );
      expect(scheduled).toMatchObject({ status: 'scheduled', publishedAt: later });
      const published = await posts.publish(post.id, alice);
      expect(published).toMatchObject({ status: 'published', publishedAt: time.iso() });
      time.advance(HOUR);
      // Publishing again keeps the original date.
      expect(
        (await posts.update(post.id, { status: 'published', version: published.version }, alice)).publishedAt,
      ).toBe(published.publishedAt);
      const draft = await posts.unpublish(post.id, alice);
      expect(draft).toMatchObject({ status: 'draft', publishedAt: null });
      expect(
        (await failure(posts.update(post.id, { publishedAt: later, version: draft.version }, alice))).fields,
      ).toHaveProperty('publishedAt');
      const rescheduled = await posts.publish(post.id, alice, later);
      expect(rescheduled.status).toBe('scheduled');
      expect((await failure(posts.publish(post.id, bob))).status).toBe(404);
    });

    it('deletes a post (owner or editor) and it leaves search, lists and tags', async () => {
      const post = await posts.create({ title: 'Doomed zebra', status: 'published', tags: ['gone'] }, alice);
      expect((await posts.search('zebra', 1, null)).total).toBe(1);
      expect((await failure(posts.delete(post.id, bob))).status).toBe(403);
      await posts.delete(post.id, alice);
      expect((await posts.search('zebra', 1, null)).total).toBe(0);
      expect((await failure(posts.get(post.id, alice))).status).toBe(404);
      expect(await posts.listTags()).toEqual([]);
      expect((await failure(posts.getTag('gone'))).status).toBe(404);
      const other = await posts.create({ title: 'Other', status: 'published' }, bob);
      await posts.delete(other.id, erin);
      expect((await failure(posts.delete(other.id, erin))).status).toBe(404);
    });
  });

  describe('search and tags', () => {
    beforeEach(async () => {
      await posts.create(
        {
          title: 'Scaling Node servers',
          body: 'Use a cluster and keep handlers fast.',
          status: 'published',
          tags: ['Node'],
        },
        alice,
      );
      await posts.create(
        {
          title: '我的博客',
          body: '今天我们来聊聊人工智能和写作。',
          status: 'published',
          tags: ['中文', 'Node'],
        },
        bob,
      );
      await posts.create({ title: 'Unfinished cluster notes', body: '博客 人工智能 handlers' }, alice);
    });

    it('finds English words, a two-character Chinese word and a longer Chinese phrase', async () => {
      expect((await posts.search('cluster', 1, null)).items.map((p) => p.title)).toEqual([
        'Scaling Node servers',
      ]);
      expect((await posts.search('  HANDLERS fast ', 1, null)).items.map((p) => p.title)).toEqual([
        'Scaling Node servers',
      ]);
      expect((await posts.search('博客', 1, null)).items.map((p) => p.title)).toEqual(['我的博客']);
      expect((await posts.search('人工智能', 1, null)).items.map((p) => p.title)).toEqual(['我的博客']);
      expect((await posts.search('聊聊人工智能', 1, null)).total).toBe(1);
    });

    it('ignores drafts even for their author', async () => {
      const result = await posts.search('Unfinished', 1, alice);
      expect(result).toMatchObject({ items: [], total: 0, totalPages: 0 });
    });

    it('handles FTS and tsquery syntax characters without errors', async () => {
      for (const q of [
        '"',
        '*',
        '(',
        '-',
        '"cluster',
        'cluster*',
        '(cluster)',
        '-cluster',
        'NEAR(a b)',
        'a:b',
        '%_',
      ]) {
        const result = await posts.search(q, 1, null);
        expect(Array.isArray(result.items), q).toBe(true);
      }
      expect((await posts.search('"cluster"', 1, null)).total).toBe(1);
    });

    it('needs a query of 1 to 200 characters', async () => {
      expect((await failure(posts.search('   ', 1, null))).fields).toHaveProperty('q');
      expect((await failure(posts.search('x'.repeat(201), 1, null))).fields).toHaveProperty('q');
      expect((await posts.list({ q: 'cluster' }, null)).total).toBe(1);
    });

    it('counts tags by visible posts and lists a tag’s posts', async () => {
      expect(await posts.listTags()).toEqual([
        { name: 'Node', slug: 'node', count: 2 },
        { name: '中文', slug: '中文', count: 1 },
      ]);
      expect(await posts.getTag('node')).toEqual({ name: 'Node', slug: 'node', count: 2 });
      expect((await posts.list({ tag: '中文' }, null)).items.map((p) => p.title)).toEqual(['我的博客']);
    });
  });
});
