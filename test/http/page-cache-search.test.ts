import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { actorOf, type TestUser, writePost } from './fixtures.js';

// Search result pages in the full-page cache: an anonymous search is stored under its one
// canonical URL, and any change to the published posts shows in the next search.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const anon = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url });
const state = async (app: FastifyInstance, url: string) => (await anon(app, url)).headers['x-page-cache'];

describe.each(await availableDialects())('search pages in the page cache on %s', (dialect) => {
  let t: TestApp;
  let app: FastifyInstance;
  let author: TestUser;
  beforeEach(async () => {
    t = await createTestApp(dialect, { PAGE_CACHE_TTL_SECONDS: '60' });
    app = t.app;
    cleanup.push(() => t.close());
    author = await createUser(app, 'author');
  });

  it('answers a repeated search from the cache, and shows a newly published match at once', async () => {
    await writePost(app, author, { title: 'Green tea at dawn', body: 'Steeped briefly.' });
    const first = await anon(app, '/search?q=tea');
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-page-cache']).toBe('miss');
    expect(first.headers['cache-control']).toMatch(/^public, max-age=0, s-maxage=60/);
    expect(first.body).toContain('Green tea at dawn');
    const second = await anon(app, '/search?q=tea');
    expect(second.headers['x-page-cache']).toBe('hit');
    expect(second.body).toBe(first.body);

    // A draft that matches changes no list: the search stays cached and does not show it.
    const draft = await writePost(app, author, { title: 'Oolong tea, unfinished', status: 'draft' });
    const stillCached = await anon(app, '/search?q=tea');
    expect(stillCached.headers['x-page-cache']).toBe('hit');
    expect(stillCached.body).not.toContain('Oolong tea, unfinished');

    await app.services.posts.publish(draft.id, actorOf(author));
    const after = await anon(app, '/search?q=tea');
    expect(after.headers['x-page-cache']).toBe('miss');
    expect(after.body).toContain('Oolong tea, unfinished');
    expect(after.body).toContain('Green tea at dawn');
    expect(await state(app, '/search?q=tea')).toBe('hit');
  });

  it('shows an edit and an unpublish of a listed post in the next search', async () => {
    const post = await writePost(app, author, { title: 'Jasmine tea notes' });
    await anon(app, '/search?q=jasmine');
    expect(await state(app, '/search?q=jasmine')).toBe('hit');
    const edited = await app.services.posts.update(
      post.id,
      { version: post.version, title: 'Jasmine tea, revised' },
      actorOf(author),
    );
    expect((await anon(app, '/search?q=jasmine')).body).toContain('Jasmine tea, revised');
    await app.services.posts.unpublish(edited.id, actorOf(author));
    expect((await anon(app, '/search?q=jasmine')).body).not.toContain('Jasmine tea, revised');
  });

  it('stores the spellings of the search form and of the pagination, and no others', async () => {
    for (let i = 0; i < 12; i++) await writePost(app, author, { title: `Green tea number ${i}` });
    // The form's spelling, the pagination's, and the pagination's page 2.
    for (const url of [
      '/search?q=green+tea',
      '/search?q=green%20tea&page=1',
      '/search?q=green%20tea&page=2',
    ]) {
      expect(await state(app, url), url).toBe('miss');
      expect(await state(app, url), url).toBe('hit');
    }
    // Other spellings of the same search are answered, never stored nor shared.
    for (const url of [
      '/search?q=%20green+tea',
      '/search?q=green+tea&utm_source=x',
      '/search?page=1&q=green+tea',
      '/search?q=green+tea&page=abc',
      '/search?q=green+tea&page=9',
      `/search?q=${'tea'.repeat(30)}`,
      '/search?q=',
    ]) {
      const response = await anon(app, url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['cache-control'], url).toBe('private, no-store');
      expect(await state(app, url), url).toBeUndefined();
    }
    // Too long for a search at all: the error, not stored.
    const tooLong = await anon(app, `/search?q=${'x'.repeat(201)}`);
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.headers['cache-control']).toBe('private, no-store');
  });

  it('stores the empty search form, changed only by the site settings', async () => {
    expect(await state(app, '/search')).toBe('miss');
    expect(await state(app, '/search')).toBe('hit');
    await writePost(app, author, { title: 'Anything' });
    expect(await state(app, '/search')).toBe('hit');
    const admin = await createUser(app, 'admin');
    await app.services.settings.update(actorOf(admin), { siteTitle: 'Searchable Journal' });
    const page = await anon(app, '/search');
    expect(page.headers['x-page-cache']).toBe('miss');
    expect(page.body).toContain('Searchable Journal');
  });

  it("never stores a signed-in reader's search nor serves them the shared one", async () => {
    await writePost(app, author, { title: 'Tea for members' });
    await anon(app, '/search?q=tea');
    const { user, client } = await signedIn(app, 'reader');
    const mine = await client.get('/search?q=tea');
    expect(mine.headers['cache-control']).toBe('private, no-store');
    expect(mine.headers['x-page-cache']).toBeUndefined();
    expect(mine.body).toContain(user.displayName);
    const shared = await anon(app, '/search?q=tea');
    expect(shared.headers['x-page-cache']).toBe('hit');
    expect(shared.body).not.toContain(user.displayName);
  });
});
