import type { LightMyRequestResponse } from 'fastify';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/db/index.js';
import { ErrorResponse } from '../../src/http/schemas.js';
import { PostListSchema, PostSchema } from '../../src/modules/posts/schemas.js';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { daysFromNow, writeDraft, writePost } from './fixtures.js';

/** The body, checked against the schema the route documents. */
function shaped(response: LightMyRequestResponse, schema: TSchema) {
  const body = response.json();
  const problems = [...Value.Errors(schema, body)].map((e) => `${e.instancePath} ${e.message}`);
  expect(problems, response.body).toEqual([]);
  return body;
}

const fieldsOf = (response: LightMyRequestResponse) => {
  expect(response.statusCode, response.body).toBe(400);
  const body = shaped(response, ErrorResponse);
  expect(body.error.code).toBe('validation_failed');
  return Object.keys(body.error.fields ?? {});
};

/** A fresh site with a signed-in author and a visitor. */
async function siteWithAuthor(dialect: Dialect) {
  const t = await createTestApp(dialect);
  const signed = await signedIn(t.app, 'author');
  return { t, author: signed.client, authorName: signed.user.username, visitor: new Client(t.app) };
}

const dialects = await availableDialects();

describe.each(dialects)('posts API on %s', (dialect) => {
  let t: TestApp;
  let author: Client;
  let authorName: string;
  let visitor: Client;
  beforeAll(async () => {
    ({ t, author, authorName, visitor } = await siteWithAuthor(dialect));
  });
  afterAll(async () => t?.close());

  it('creates a post with a Chinese title under a readable Unicode slug, found by slug and by id', async () => {
    const created = await author.api('POST', '/api/v1/posts', {
      title: '你好，世界',
      body: '第一篇 **文章**',
      tags: ['随笔', 'Notes'],
      status: 'published',
    });
    expect(created.statusCode).toBe(201);
    const post = shaped(created, PostSchema);
    expect(post.slug).toBe('你好-世界');
    expect(post.url).toBe(`/posts/${encodeURIComponent('你好-世界')}`);
    expect(post.status).toBe('published');
    expect(post.version).toBe(1);
    expect(post.bodyHtml).toContain('<strong>文章</strong>');
    expect(post.tags.map((tag: { name: string }) => tag.name).sort()).toEqual(['Notes', '随笔']);

    const bySlug = await visitor.get(`/api/v1/posts/${encodeURIComponent('你好-世界')}`);
    expect(bySlug.statusCode).toBe(200);
    expect(shaped(bySlug, PostSchema)).toMatchObject({ id: post.id, title: '你好，世界' });
    const byId = await visitor.get(`/api/v1/posts/${post.id}`);
    expect(byId.json()).toMatchObject({ id: post.id, slug: '你好-世界' });

    // The same title again gets the next free slug rather than a conflict.
    const again = await author.api('POST', '/api/v1/posts', { title: '你好，世界' });
    expect(again.json().slug).toBe('你好-世界-2');
  });

  it('names the bad field in a 400', async () => {
    expect(fieldsOf(await author.api('POST', '/api/v1/posts', { title: 'x'.repeat(201) }))).toContain(
      'title',
    );
    expect(fieldsOf(await author.api('POST', '/api/v1/posts', { title: '' }))).toContain('title');
    expect(fieldsOf(await author.api('POST', '/api/v1/posts', { body: 'no title' }))).toContain('title');
    const badStatus = await author.api('POST', '/api/v1/posts', { title: 'ok', status: 'live' });
    expect(fieldsOf(badStatus)).toContain('status');
    expect(badStatus.json().error.fields.status).toBe('status must be one of draft, published, scheduled');
    for (const publishedAt of ['next tuesday', '2030-01-31 09:00', '2030-01-31T09:00:00']) {
      const response = await author.api('POST', '/api/v1/posts', {
        title: 'When?',
        status: 'scheduled',
        publishedAt,
      });
      expect(fieldsOf(response), publishedAt).toContain('publishedAt');
    }
    expect(
      fieldsOf(await author.api('POST', '/api/v1/posts', { title: 'ok', slug: 'Has Spaces' })),
    ).toContain('slug');
    expect(fieldsOf(await author.api('GET', '/api/v1/posts?perPage=500'))).toContain('perPage');
    // Nothing was written by any of these.
    const mine = (await author.api('GET', `/api/v1/posts?status=all&author=${authorName}&perPage=50`)).json();
    expect(mine.items.map((p: { title: string }) => p.title)).not.toContain('When?');
    expect(mine.items.map((p: { title: string }) => p.title)).not.toContain('ok');
  });

  it('refuses an edit based on a stale version with 409 and keeps the newer text', async () => {
    const post = (await author.api('POST', '/api/v1/posts', { title: 'Versioned', body: 'v1' })).json();
    const first = await author.api('PATCH', `/api/v1/posts/${post.id}`, { body: 'v2 text', version: 1 });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ version: 2, body: 'v2 text' });

    const stale = await author.api('PATCH', `/api/v1/posts/${post.id}`, { body: 'stale text', version: 1 });
    expect(stale.statusCode).toBe(409);
    expect(shaped(stale, ErrorResponse).error.code).toBe('conflict');
    expect(stale.json().error.message).toContain('version 2');

    const current = (await author.api('GET', `/api/v1/posts/${post.id}`)).json();
    expect(current).toMatchObject({ version: 2, body: 'v2 text' });
    expect(fieldsOf(await author.api('PATCH', `/api/v1/posts/${post.id}`, { body: 'no version' }))).toContain(
      'version',
    );
  });

  it('hides drafts from everyone but their author and editors', async () => {
    const draft = (await author.api('POST', '/api/v1/posts', { title: 'Secret draft zyxwv' })).json();
    expect(draft.status).toBe('draft');
    expect(draft.publishedAt).toBeNull();
    const { client: otherAuthor } = await signedIn(t.app, 'author');
    const { client: editor } = await signedIn(t.app, 'editor');
    for (const client of [visitor, otherAuthor]) {
      expect((await client.api('GET', `/api/v1/posts/${draft.id}`)).statusCode).toBe(404);
      expect((await client.api('GET', `/api/v1/posts/${encodeURIComponent(draft.slug)}`)).statusCode).toBe(
        404,
      );
    }
    expect((await author.api('GET', `/api/v1/posts/${draft.id}`)).statusCode).toBe(200);
    expect((await editor.api('GET', `/api/v1/posts/${draft.id}`)).statusCode).toBe(200);
    const list = (await visitor.get('/api/v1/posts?perPage=50')).json();
    expect(list.items.map((p: { id: number }) => p.id)).not.toContain(draft.id);
    expect((await visitor.get('/api/v1/search?q=zyxwv')).json().total).toBe(0);
  });

  it('publishes, schedules and unpublishes', async () => {
    const draft = (await author.api('POST', '/api/v1/posts', { title: 'Flip flop' })).json();
    const published = await author.api('POST', `/api/v1/posts/${draft.id}/publish`);
    expect(published.statusCode, published.body).toBe(200);
    expect(published.json()).toMatchObject({ status: 'published', version: 2 });
    expect(Date.parse(published.json().publishedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await visitor.get(`/api/v1/posts/${draft.id}`)).statusCode).toBe(200);

    const unpublished = await author.api('POST', `/api/v1/posts/${draft.id}/unpublish`);
    expect(unpublished.json()).toMatchObject({ status: 'draft', publishedAt: null, version: 3 });
    expect((await visitor.get(`/api/v1/posts/${draft.id}`)).statusCode).toBe(404);

    const future = daysFromNow(1);
    const scheduled = await author.api('POST', `/api/v1/posts/${draft.id}/publish`, { publishedAt: future });
    expect(scheduled.json()).toMatchObject({ status: 'scheduled', publishedAt: future });
    expect((await visitor.get(`/api/v1/posts/${draft.id}`)).statusCode).toBe(404);
    const bad = await author.api('POST', `/api/v1/posts/${draft.id}/publish`, { publishedAt: 'soon' });
    expect(fieldsOf(bad)).toContain('publishedAt');
  });

  it('deletes a post: 204, then 404', async () => {
    const post = (
      await author.api('POST', '/api/v1/posts', { title: 'Short-lived', status: 'published' })
    ).json();
    expect((await author.api('DELETE', `/api/v1/posts/${post.id}`)).statusCode).toBe(204);
    expect((await visitor.get(`/api/v1/posts/${post.id}`)).statusCode).toBe(404);
    expect((await author.api('GET', `/api/v1/posts/${post.id}`)).statusCode).toBe(404);
    const again = await author.api('DELETE', `/api/v1/posts/${post.id}`);
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('not_found');
  });

  it('lists with pagination and filters by tag and by author', async () => {
    const writer = await createUser(t.app, 'author');
    const titles: string[] = [];
    for (let i = 1; i <= 5; i++) {
      titles.push(`Paged ${i}`);
      await writePost(t.app, writer, { title: `Paged ${i}`, tags: i % 2 ? ['odd-ones'] : ['even-ones'] });
    }
    await writeDraft(t.app, writer, { title: 'Paged draft', tags: ['odd-ones'] });

    const seen: string[] = [];
    for (const page of [1, 2, 3]) {
      const response = await visitor.get(`/api/v1/posts?author=${writer.username}&perPage=2&page=${page}`);
      const list = shaped(response, PostListSchema);
      expect(list).toMatchObject({ page, perPage: 2, total: 5, totalPages: 3 });
      expect(list.items).toHaveLength(page === 3 ? 1 : 2);
      seen.push(...list.items.map((p: { title: string }) => p.title));
    }
    // Newest first, each post once.
    expect(seen).toEqual([...titles].reverse());
    const beyond = (await visitor.get(`/api/v1/posts?author=${writer.username}&perPage=2&page=4`)).json();
    expect(beyond.items).toEqual([]);

    const odd = (await visitor.get('/api/v1/posts?tag=odd-ones')).json();
    expect(odd.total).toBe(3);
    expect(odd.items.map((p: { title: string }) => p.title).sort()).toEqual([
      'Paged 1',
      'Paged 3',
      'Paged 5',
    ]);
    expect((await visitor.get('/api/v1/tags/odd-ones')).json()).toEqual({
      name: 'odd-ones',
      slug: 'odd-ones',
      count: 3,
    });
    expect((await visitor.get('/api/v1/posts?author=nobody-at-all')).json().total).toBe(0);
  });

  it('searches English and two-character Chinese words, never drafts', async () => {
    await author.api('POST', '/api/v1/posts', {
      title: 'Zeppelin notes',
      body: 'How a zeppelin floats.',
      status: 'published',
    });
    await author.api('POST', '/api/v1/posts', {
      title: '我的新博客',
      body: '欢迎来到这个博客。',
      status: 'published',
    });
    await author.api('POST', '/api/v1/posts', { title: 'Draft zeppelin', body: '博客草稿' });

    const english = await visitor.get('/api/v1/search?q=zeppelin');
    expect(english.statusCode).toBe(200);
    expect(shaped(english, PostListSchema).items.map((p: { title: string }) => p.title)).toEqual([
      'Zeppelin notes',
    ]);
    const chinese = (await visitor.get(`/api/v1/search?q=${encodeURIComponent('博客')}`)).json();
    expect(chinese.items.map((p: { title: string }) => p.title)).toEqual(['我的新博客']);
    expect(chinese.total).toBe(1);
    expect((await visitor.get('/api/v1/search?q=nothingmatchesthis')).json()).toMatchObject({
      items: [],
      total: 0,
    });
    expect(fieldsOf(await visitor.get('/api/v1/search?q='))).toContain('q');
  });

  it('renders Markdown for the editor preview with scripts and javascript: links removed', async () => {
    const markdown =
      '# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>';
    const response = await author.api('POST', '/api/v1/render', { markdown });
    expect(response.statusCode).toBe(200);
    const { html } = response.json();
    expect(html).toContain('<h1>Hi</h1>');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('alert(1)');
    expect(html).not.toMatch(/javascript:/i);
    expect(html).not.toMatch(/onerror/i);
    expect((await visitor.api('POST', '/api/v1/render', { markdown })).statusCode).toBe(401);
    const { client: reader } = await signedIn(t.app, 'reader');
    expect((await reader.api('POST', '/api/v1/render', { markdown })).statusCode).toBe(403);
  });

  it('answers 413 with the error shape for an oversized post', async () => {
    const response = await author.api('POST', '/api/v1/posts', {
      title: 'Huge',
      body: 'x'.repeat(1_100_000),
    });
    expect(response.statusCode).toBe(413);
    expect(shaped(response, ErrorResponse).error.code).toBe('payload_too_large');
  });

  it('answers 404 in the error shape for an unknown post', async () => {
    for (const url of [
      '/api/v1/posts/999999',
      '/api/v1/posts/no-such-slug',
      '/api/v1/posts/99999999999999999999',
    ]) {
      const response = await visitor.get(url);
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(shaped(response, ErrorResponse).error.code).toBe('not_found');
    }
  });

  it('answers 400, not a database error, for an id beyond the id range', async () => {
    const tooBig = 2 ** 31;
    for (const [method, url] of [
      ['PATCH', `/api/v1/posts/${tooBig}`],
      ['DELETE', `/api/v1/posts/${tooBig}`],
      ['GET', `/api/v1/posts/${tooBig}/comments`],
      ['DELETE', `/api/v1/comments/${tooBig}`],
    ] as const) {
      const response = await author.api(method, url, method === 'PATCH' ? { version: 1 } : undefined);
      expect(response.statusCode, `${method} ${url}`).toBe(400);
      expect(response.json().error.fields).toHaveProperty('id');
    }
    expect((await author.get(`/edit/${tooBig}`)).statusCode).toBe(400);
    expect((await author.get(`/edit/${tooBig - 1}`)).statusCode).toBe(404);
  });

  it('finds a post whose slug is all digits by that slug', async () => {
    const created = await author.api('POST', '/api/v1/posts', { title: '2024', status: 'published' });
    expect(created.json().slug).toBe('2024');
    const bySlug = await visitor.get('/api/v1/posts/2024');
    expect(bySlug.statusCode).toBe(200);
    expect(bySlug.json().id).toBe(created.json().id);
  });

  it('refuses to search drafts through the list filter instead of ignoring the status', async () => {
    expect(fieldsOf(await visitor.get('/api/v1/posts?q=anything&status=draft'))).toEqual(['status']);
    expect((await visitor.get('/api/v1/posts?q=anything&status=published')).statusCode).toBe(200);
  });
});

// Checks the site-wide list, search, feeds and the author's scheduled posts, which any other
// test's posts would change, so it has a site of its own.
describe.each(dialects)('scheduled posts on %s', (dialect) => {
  let t: TestApp;
  let author: Client;
  let authorName: string;
  let visitor: Client;
  beforeAll(async () => {
    ({ t, author, authorName, visitor } = await siteWithAuthor(dialect));
  });
  afterAll(async () => t?.close());

  it('keeps a scheduled post out of the list, get, search and feeds until its time; a backdated one shows', async () => {
    const future = daysFromNow(3);
    const scheduled = await author.api('POST', '/api/v1/posts', {
      title: 'Tomorrowland quokka',
      body: 'quokka news from the future',
      tags: ['future-tag'],
      status: 'scheduled',
      publishedAt: future,
    });
    expect(scheduled.statusCode).toBe(201);
    const later = shaped(scheduled, PostSchema);
    expect(later.status).toBe('scheduled');
    expect(later.publishedAt).toBe(future);

    const backdated = await author.api('POST', '/api/v1/posts', {
      title: 'Yesteryear quokka',
      body: 'quokka news from the past',
      status: 'published',
      publishedAt: '2020-02-03T04:05:06+08:00',
    });
    const past = shaped(backdated, PostSchema);
    expect(past.status).toBe('published');
    expect(past.publishedAt).toBe('2020-02-02T20:05:06.000Z');

    expect((await visitor.get(`/api/v1/posts/${later.id}`)).statusCode).toBe(404);
    expect((await visitor.get(`/api/v1/posts/${past.id}`)).statusCode).toBe(200);
    const ids = (await visitor.get('/api/v1/posts?perPage=50')).json().items.map((p: { id: number }) => p.id);
    expect(ids).toContain(past.id);
    expect(ids).not.toContain(later.id);
    const found = (await visitor.get('/api/v1/search?q=quokka')).json();
    expect(found.items.map((p: { id: number }) => p.id)).toEqual([past.id]);
    const feed = (await visitor.get('/feed.xml')).body;
    expect(feed).toContain('Yesteryear quokka');
    expect(feed).not.toContain('Tomorrowland');
    expect((await visitor.get('/sitemap.xml')).body).not.toContain(encodeURIComponent(later.slug));
    expect((await visitor.get('/api/v1/tags/future-tag')).statusCode).toBe(404);

    // The author sees it among their scheduled posts.
    const mine = (await author.api('GET', `/api/v1/posts?status=scheduled&author=${authorName}`)).json();
    expect(mine.items.map((p: { id: number }) => p.id)).toEqual([later.id]);
  });
});
