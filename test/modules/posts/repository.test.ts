import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../../src/modules/access/permissions.js';
import { type NewPost, PostsRepository } from '../../../src/modules/posts/repository.js';
import { availableDialects, createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { insertUser } from './fixtures.js';

const NOW = '2030-06-01T12:00:00.000Z';
const PAST = '2030-05-01T00:00:00.000Z';
const FUTURE = '2030-07-01T00:00:00.000Z';

describe.each(await availableDialects())('PostsRepository on %s', (dialect) => {
  let t: TestDatabase;
  let repo: PostsRepository;
  let alice: Actor;
  let bob: Actor;

  beforeEach(async () => {
    t = await createTestDatabase(dialect);
    repo = new PostsRepository(t.handle.db, t.handle.dialect);
    alice = await insertUser(t.handle.db, 'alice', 'author');
    bob = await insertUser(t.handle.db, 'bob', 'author');
  });
  afterEach(async () => t?.destroy());

  function row(overrides: Partial<NewPost> & { slug: string }): NewPost {
    return {
      author_id: alice.id,
      title: overrides.slug,
      body: `Body of ${overrides.slug}`,
      body_html: '<p>x</p>',
      excerpt: 'x',
      excerpt_custom: 0,
      status: 'published',
      published_at: PAST,
      created_at: PAST,
      updated_at: PAST,
      ...overrides,
    };
  }

  it('creates a post with tags (one per slug, first spelling wins) and reads it back by id and slug', async () => {
    const created = await repo.create(row({ slug: 'first' }), [
      'TypeScript',
      ' typescript ',
      'Node.js',
      '!!!',
    ]);
    expect(created).toMatchObject({
      slug: 'first',
      version: 1,
      author_username: 'alice',
      author_display_name: 'Alice Example',
    });
    expect(created.tags).toEqual([
      { name: 'Node.js', slug: 'node-js' },
      { name: 'TypeScript', slug: 'typescript' },
    ]);
    expect((await repo.get(created.id))?.title).toBe('first');
    expect((await repo.getBySlug('first'))?.id).toBe(created.id);
    expect(await repo.get(99_999)).toBeUndefined();

    // An existing tag keeps its name when another post spells it differently.
    const second = await repo.create(row({ slug: 'second' }), ['TYPESCRIPT']);
    expect(second.tags).toEqual([{ name: 'TypeScript', slug: 'typescript' }]);
  });

  it('answers slugExists and slugsWithPrefix, treating LIKE wildcards literally', async () => {
    const a = await repo.create(row({ slug: 'hello' }), []);
    await repo.create(row({ slug: 'hello-2' }), []);
    await repo.create(row({ slug: 'hello-world' }), []);
    await repo.create(row({ slug: 'helloworld' }), []);
    expect(await repo.slugExists('hello')).toBe(true);
    expect(await repo.slugExists('hello', a.id)).toBe(false);
    expect(await repo.slugExists('nope')).toBe(false);
    expect([...(await repo.slugsWithPrefix('hello'))].sort()).toEqual(['hello', 'hello-2', 'hello-world']);
    expect((await repo.slugsWithPrefix('hell%')).size).toBe(0);
  });

  it('updates only at the expected version, bumping it; a stale version writes nothing', async () => {
    const post = await repo.create(row({ slug: 'v', title: 'Original' }), ['keep']);
    const updated = await repo.update(post.id, 1, { title: 'Changed', updated_at: NOW }, ['new']);
    expect(updated).toMatchObject({ title: 'Changed', version: 2, updated_at: NOW });
    expect(updated?.tags.map((tag) => tag.slug)).toEqual(['new']);

    expect(await repo.update(post.id, 1, { title: 'Lost update', updated_at: NOW }, ['lost'])).toBeNull();
    const current = await repo.get(post.id);
    expect(current).toMatchObject({ title: 'Changed', version: 2 });
    expect(current?.tags.map((tag) => tag.slug)).toEqual(['new']);
    expect(await repo.update(99_999, 1, { title: 'x', updated_at: NOW })).toBeNull();
  });

  it('lets exactly one of two concurrent updates at the same version win', async () => {
    const post = await repo.create(row({ slug: 'race', title: 'Start' }), []);
    const results = await Promise.all([
      repo.update(post.id, 1, { title: 'First tab', updated_at: NOW }),
      repo.update(post.id, 1, { title: 'Second tab', updated_at: NOW }),
    ]);
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect(await repo.get(post.id)).toMatchObject({ title: winners[0]?.title, version: 2 });
  });

  it('lists with filters, totals, paging and the documented order', async () => {
    const older = await repo.create(row({ slug: 'older', published_at: '2030-01-01T00:00:00.000Z' }), ['a']);
    const newer = await repo.create(row({ slug: 'newer', published_at: '2030-02-01T00:00:00.000Z' }), [
      'a',
      'b',
    ]);
    const scheduled = await repo.create(row({ slug: 'scheduled', published_at: FUTURE }), ['a']);
    const draft = await repo.create(
      row({ slug: 'draft', status: 'draft', published_at: null, updated_at: NOW }),
      ['a'],
    );
    const bobs = await repo.create(row({ slug: 'bobs', author_id: bob.id, published_at: PAST }), []);

    const page = { limit: 10, offset: 0 };
    const slugs = async (filter: Parameters<PostsRepository['list']>[0]) =>
      (await repo.list(filter)).rows.map((r) => r.slug);

    expect(await slugs({ now: NOW, visibleAt: NOW, ...page })).toEqual(['bobs', 'newer', 'older']);
    expect(await slugs({ now: NOW, ...page })).toEqual(['scheduled', 'bobs', 'newer', 'older', 'draft']);
    expect(await slugs({ now: NOW, status: 'scheduled', ...page })).toEqual(['scheduled']);
    expect(await slugs({ now: NOW, status: 'draft', ...page })).toEqual(['draft']);
    expect(await slugs({ now: NOW, status: 'published', authorId: alice.id, ...page })).toEqual([
      'newer',
      'older',
    ]);
    expect(await slugs({ now: NOW, authorUsername: 'bob', ...page })).toEqual(['bobs']);
    expect(await slugs({ now: NOW, visibleAt: NOW, tagSlug: 'b', ...page })).toEqual(['newer']);

    const second = await repo.list({ now: NOW, visibleAt: NOW, limit: 2, offset: 2 });
    expect(second.total).toBe(3);
    expect(second.rows.map((r) => r.slug)).toEqual(['older']);
    expect(second.rows[0]).not.toHaveProperty('body');
    expect(second.rows[0]?.tags).toEqual([{ name: 'a', slug: 'a' }]);
    expect([older, newer, scheduled, draft, bobs].every((p) => p.id > 0)).toBe(true);
  });

  it('counts tags by visible posts only and leaves out tags without any', async () => {
    await repo.create(row({ slug: 'p1' }), ['Common', 'Rare']);
    await repo.create(row({ slug: 'p2' }), ['Common']);
    await repo.create(row({ slug: 'p3', status: 'draft', published_at: null }), ['Common', 'Hidden']);
    await repo.create(row({ slug: 'p4', published_at: FUTURE }), ['Hidden']);
    expect(await repo.listTags({ now: NOW })).toEqual([
      { name: 'Common', slug: 'common', count: 2 },
      { name: 'Rare', slug: 'rare', count: 1 },
    ]);
    expect(await repo.getTag('common', { now: NOW })).toEqual({ name: 'Common', slug: 'common', count: 2 });
    expect(await repo.getTag('hidden', { now: NOW })).toEqual({ name: 'Hidden', slug: 'hidden', count: 0 });
    expect(await repo.getTag('missing', { now: NOW })).toBeUndefined();
  });

  it('lists visible posts for the sitemap and recent posts with bodies for feeds', async () => {
    await repo.create(row({ slug: 'out', updated_at: '2030-05-02T00:00:00.000Z' }), []);
    await repo.create(row({ slug: 'later', published_at: FUTURE }), []);
    await repo.create(row({ slug: 'draft', status: 'draft', published_at: null }), []);
    expect(await repo.listForSitemap(NOW)).toEqual([{ slug: 'out', updated_at: '2030-05-02T00:00:00.000Z' }]);
    const recent = await repo.listRecent(NOW, 10);
    expect(recent.map((r) => [r.slug, r.body])).toEqual([['out', 'Body of out']]);
  });

  it('searches visible posts in English and Chinese, and escapes LIKE wildcards', async () => {
    await repo.create(
      row({ slug: 'pg', title: 'Tuning PostgreSQL', body: 'Indexes make queries fast.' }),
      [],
    );
    await repo.create(row({ slug: 'zh', title: '我的博客', body: '今天我们来聊聊人工智能和写作。' }), []);
    await repo.create(
      row({ slug: 'hidden', status: 'draft', published_at: null, title: 'PostgreSQL draft 博客' }),
      [],
    );
    const search = async (q: string) =>
      (await repo.search(q, { now: NOW, limit: 10, offset: 0 })).rows.map((r) => r.slug);

    expect(await search('postgresql')).toEqual(['pg']);
    expect(await search('indexes queries')).toEqual(['pg']);
    expect(await search('博客')).toEqual(['zh']);
    expect(await search('人工智能')).toEqual(['zh']);
    expect(await search('%')).toEqual([]);
    expect(await search('_')).toEqual([]);
    expect((await repo.search('postgresql', { now: NOW, limit: 10, offset: 0 })).total).toBe(1);
  });

  it('survives query syntax characters in search input', async () => {
    await repo.create(row({ slug: 'pg', title: 'Tuning PostgreSQL', body: 'Indexes (and more).' }), []);
    for (const q of [
      '"',
      '*',
      '(',
      '-',
      ')',
      '"PostgreSQL',
      'NEAR(',
      'title:x',
      'a OR',
      'x AND NOT y',
      "'",
      '^',
      '\\',
    ]) {
      const result = await repo.search(q, { now: NOW, limit: 10, offset: 0 });
      expect(result.total, q).toBeGreaterThanOrEqual(0);
    }
    expect(
      (await repo.search('"PostgreSQL"', { now: NOW, limit: 10, offset: 0 })).rows.map((r) => r.slug),
    ).toEqual(['pg']);
    expect((await repo.search('(PostgreSQL*', { now: NOW, limit: 10, offset: 0 })).total).toBe(1);
  });

  it('keeps the search index in step with updates and deletes', async () => {
    const post = await repo.create(row({ slug: 's', title: 'Alpha topic', body: 'nothing here' }), []);
    const find = async (q: string) => (await repo.search(q, { now: NOW, limit: 10, offset: 0 })).total;
    expect(await find('alpha')).toBe(1);
    await repo.update(post.id, 1, { title: 'Omega topic', updated_at: NOW });
    expect(await find('alpha')).toBe(0);
    expect(await find('omega')).toBe(1);
    expect(await repo.delete(post.id)).toBe(true);
    expect(await find('omega')).toBe(0);
    expect(await repo.get(post.id)).toBeUndefined();
    expect(await repo.delete(post.id)).toBe(false);
    if (dialect === 'sqlite') {
      const left = await t.handle.db.selectFrom('posts_fts').select('rowid').execute();
      expect(left).toEqual([]);
    }
  });
});
