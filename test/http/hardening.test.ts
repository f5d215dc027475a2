import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { writePost } from './fixtures.js';

const dialects = await availableDialects();

// Setup needs a site without users, so the race gets one of its own.
describe.each(dialects)('racing setups on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('creates exactly one admin when two setups race', async () => {
    const attempts = await Promise.all(
      ['first', 'second', 'third'].map((name) =>
        new Client(t.app).form('/setup', {
          username: name,
          email: `${name}@example.com`,
          password: 'a long secret',
        }),
      ),
    );
    expect(attempts.filter((r) => r.statusCode === 303)).toHaveLength(1);
    expect(attempts.filter((r) => r.statusCode === 403)).toHaveLength(2);
    expect(await t.app.services.users.count()).toBe(1);
  });
});

describe.each(dialects)('hardening on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { LOGIN_MAX_PER_ACCOUNT: '3', LOGIN_MAX_PER_IP: '1000' });
    // Past setup, so pages render rather than redirect to /setup (the page-number test needs that).
    await createUser(t.app, 'admin');
  });
  afterAll(async () => t?.close());

  it('requires the CSRF token whatever the case of the form content type', async () => {
    const client = new Client(t.app);
    await client.get('/login');
    const response = await client.request({
      method: 'POST',
      url: '/register',
      headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded' },
      payload: 'username=sneaky&email=sneaky%40example.com&password=a+long+secret',
    });
    expect(response.statusCode).toBe(403);
    expect(await t.app.services.users.getByUsername('sneaky').catch(() => null)).toBeNull();
  });

  it('does not follow a next= that a browser would read as another origin', async () => {
    const user = await createUser(t.app, 'reader');
    const client = new Client(t.app);
    const response = await client.form('/login', {
      login: user.username,
      password: user.password,
      next: '/\t/evil.example',
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/');
  });

  it('holds the per-account limit against parallel guesses, by username and email alike', async () => {
    const user = await createUser(t.app, 'reader');
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new Client(t.app).api('POST', '/api/v1/auth/login', {
          login: i % 2 ? user.username : user.email,
          password: `wrong guess ${i}`,
        }),
      ),
    );
    const statuses = guesses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
  });

  it('answers 400, not 500, for absurd page numbers', async () => {
    for (const url of [
      '/?page=1e300',
      '/api/v1/posts?page=99999999999999999999',
      '/api/v1/comments?page=1e300',
    ]) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBeLessThan(500);
    }
    const api = await t.app.inject({ method: 'GET', url: '/api/v1/posts?page=99999999999999999999' });
    expect(api.statusCode).toBe(400);
    expect(api.json().error.fields).toHaveProperty('page');
  });

  it('refuses NUL characters with a 400 naming the field on both databases', async () => {
    const { client } = await signedIn(t.app, 'author');
    const search = await t.app.inject({ method: 'GET', url: '/api/v1/search?q=%00abc' });
    expect(search.statusCode).toBe(400);
    expect(search.json().error.fields).toHaveProperty('q');
    const post = await client.api('POST', '/api/v1/posts', { title: 'bad\u0000title' });
    expect(post.statusCode).toBe(400);
    expect(post.json().error.fields).toHaveProperty('title');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/posts/%00' })).statusCode).toBe(400);
  });

  it('keeps a post’s publication time to the millisecond when the editor saves it unchanged', async () => {
    const { user, client } = await signedIn(t.app, 'author');
    const post = await writePost(t.app, user, { publishedAt: '2020-01-02T03:04:05.678Z' });
    const editor = await client.get(`/edit/${post.id}`);
    const shown = /name="publishedAt"[^>]*value="([^"]*)"/.exec(editor.body)?.[1] ?? '';
    expect(shown).toBe('2020-01-02T03:04');
    const saved = await client.form(`/edit/${post.id}`, {
      title: 'Edited title',
      body: post.body,
      status: 'published',
      publishedAt: shown,
      publishedAtShown: shown,
      version: String(post.version),
    });
    expect(saved.statusCode).toBe(303);
    const after = await t.app.services.posts.get(post.id, null);
    expect(after.title).toBe('Edited title');
    expect(after.publishedAt).toBe('2020-01-02T03:04:05.678Z');
  });

  it('refuses a site title of spaces', async () => {
    const { client } = await signedIn(t.app, 'admin');
    const response = await client.api('PATCH', '/api/v1/settings', { siteTitle: '   ' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.fields).toHaveProperty('siteTitle');
    expect((await t.app.services.settings.get()).siteTitle).toBe('Inkstone');
  });

  it('forgives a bad page number on the search page and still searches', async () => {
    const author = await createUser(t.app, 'author');
    await writePost(t.app, author, { title: 'Zanzibar travel notes' });
    const response = await t.app.inject({ method: 'GET', url: '/search?q=zanzibar&page=0' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('Zanzibar travel notes');
  });

  it('serves static files without looking up the session', async () => {
    const { client } = await signedIn(t.app, 'reader');
    const lookups: string[] = [];
    const original = t.app.services.auth.resolveSession.bind(t.app.services.auth);
    t.app.services.auth.resolveSession = async (token) => {
      lookups.push(token);
      return original(token);
    };
    try {
      expect((await client.get('/static/style.css')).statusCode).toBe(200);
      expect(lookups).toHaveLength(0);
      await client.get('/');
      expect(lookups).toHaveLength(1);
    } finally {
      t.app.services.auth.resolveSession = original;
    }
  });
});
