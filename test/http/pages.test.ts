import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/modules/users/schemas.js';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { writeDraft, writePost } from './fixtures.js';

/** The content attribute of a <meta> tag, as the page has it (still HTML-escaped). */
function meta(page: string, attr: 'name' | 'property', key: string): string | undefined {
  return page.match(new RegExp(`<meta ${attr}="${key}" content="([^"]*)"\\s*/?>`))?.[1];
}

/** The href of the first <link rel="…">, as the page has it. */
function link(page: string, rel: string): string | undefined {
  return page.match(new RegExp(`<link rel="${rel}" href="([^"]*)"`))?.[1];
}

const dialects = await availableDialects();

describe.each(dialects)('HTML pages on %s', (dialect) => {
  let t: TestApp;
  let site: string;
  let owner: User;
  let visitor: Client;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    site = t.app.config.publicUrl;
    owner = await createUser(t.app, 'author');
    visitor = new Client(t.app);
  });
  afterAll(async () => t?.close());

  it('lists published posts on the home page with titles escaped and scripts inert', async () => {
    const post = await writePost(t.app, owner, {
      title: 'Tom & Jerry <script>alert("title")</script>',
      body: 'Hello <script>alert("body")</script> world\n\n<img src=x onerror="alert(2)">',
    });
    const draft = await writeDraft(t.app, owner, { title: 'Unseen home draft' });

    const home = await visitor.get('/');
    expect(home.statusCode).toBe(200);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect(home.body).toContain('Tom &amp; Jerry &lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;');
    expect(home.body).toContain(`href="${post.url}"`);
    expect(home.body).not.toContain(draft.title);
    expect(home.body).not.toMatch(/<script/i);

    const page = await visitor.get(post.url);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<h1>Tom &amp; Jerry &lt;script&gt;');
    expect(page.body).toContain('Hello');
    expect(page.body).not.toMatch(/<script/i);
    expect(page.body).not.toContain('alert("body")');
    expect(page.body).not.toMatch(/onerror/i);
  });

  it('gives a post page its canonical link, Open Graph and description tags', async () => {
    const post = await writePost(t.app, owner, {
      title: 'Meta "matters"',
      body: 'A first paragraph about metadata.\n\nMore.',
      tags: ['seo'],
    });
    const page = (await visitor.get(post.url)).body;
    expect(link(page, 'canonical')).toBe(`${site}${post.url}`);
    expect(meta(page, 'property', 'og:title')).toBe('Meta &quot;matters&quot;');
    expect(meta(page, 'property', 'og:type')).toBe('article');
    expect(meta(page, 'property', 'og:url')).toBe(`${site}${post.url}`);
    expect(meta(page, 'name', 'description')).toBe(post.excerpt);
    expect(post.excerpt).toContain('A first paragraph about metadata.');
    expect(meta(page, 'property', 'article:published_time')).toBe(post.publishedAt);
    expect(meta(page, 'property', 'article:tag')).toBe('seo');
    expect(page).toContain('<title>Meta &quot;matters&quot; · Inkstone</title>');
    expect(page).not.toContain('noindex');
  });

  it('shows a tag page and its Atom feed; an unknown tag is 404', async () => {
    const tagged = await writePost(t.app, owner, { title: 'Tagged walrus', tags: ['Walrus Facts'] });
    await writePost(t.app, owner, { title: 'Untagged walrus' });
    const page = await visitor.get('/tags/walrus-facts');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Tagged walrus');
    expect(page.body).not.toContain('Untagged walrus');
    expect(page.body).toContain('href="/tags/walrus-facts/feed.xml"');

    const feed = await visitor.get('/tags/walrus-facts/feed.xml');
    expect(feed.statusCode).toBe(200);
    expect(feed.headers['content-type']).toMatch(/^application\/atom\+xml/);
    expect(feed.body).toContain('<feed xmlns="http://www.w3.org/2005/Atom"');
    expect(feed.body).toContain('<title type="text">Tagged walrus</title>');
    expect(feed.body).toContain(`<link rel="alternate" type="text/html" href="${site}${tagged.url}"/>`);
    expect(feed.body).not.toContain('Untagged walrus');

    expect((await visitor.get('/tags/no-such-tag')).statusCode).toBe(404);
    expect((await visitor.get('/tags/no-such-tag/feed.xml')).statusCode).toBe(404);
  });

  it('publishes /feed.xml (Atom), /sitemap.xml and /robots.txt without drafts', async () => {
    const post = await writePost(t.app, owner, { title: '订阅 feed post', body: 'In the feed.' });
    const draft = await writeDraft(t.app, owner, { title: 'Feedless draft' });

    const feed = await visitor.get('/feed.xml');
    expect(feed.statusCode).toBe(200);
    expect(feed.headers['content-type']).toMatch(/^application\/atom\+xml/);
    expect(feed.body).toMatch(
      /^<\?xml version="1.0" encoding="utf-8"\?>\n<feed xmlns="http:\/\/www.w3.org\/2005\/Atom"/,
    );
    expect(feed.body).toContain('<title type="text">订阅 feed post</title>');
    expect(feed.body).toContain(`<id>${site}${post.url}</id>`);
    expect(feed.body).not.toContain('Feedless draft');

    const sitemap = await visitor.get('/sitemap.xml');
    expect(sitemap.headers['content-type']).toMatch(/^application\/xml/);
    expect(sitemap.body).toContain('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">');
    expect(sitemap.body).toContain(`<loc>${site}/</loc>`);
    expect(sitemap.body).toContain(`<loc>${site}${post.url}</loc>`);
    expect(post.url).toBe(`/posts/${encodeURIComponent('订阅-feed-post')}`);
    expect(sitemap.body).not.toContain(draft.url);

    const robots = await visitor.get('/robots.txt');
    expect(robots.headers['content-type']).toMatch(/^text\/plain/);
    expect(robots.body).toContain('User-agent: *');
    expect(robots.body).toContain('Disallow: /admin');
    expect(robots.body).toContain(`Sitemap: ${site}/sitemap.xml`);
  });

  it('finds a post with the /search page', async () => {
    const post = await writePost(t.app, owner, { title: 'Searchable capybara', body: 'A capybara story.' });
    const page = await visitor.get('/search?q=capybara');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('1 result for “capybara”');
    expect(page.body).toContain(`<a href="${post.url}">Searchable capybara</a>`);
    expect(page.body).toContain('value="capybara"');
    const none = await visitor.get('/search?q=nonexistentanimal');
    expect(none.body).toContain('No posts match');
    const empty = await visitor.get('/search');
    expect(empty.statusCode).toBe(200);
    expect(empty.body).not.toContain('result');
  });

  it('answers an unknown URL with an HTML 404 page and an unknown API path with JSON', async () => {
    const page = await visitor.get('/no/such/page');
    expect(page.statusCode).toBe(404);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<h1>Page not found</h1>');
    expect(link(page.body, 'stylesheet')).toMatch(/^\/static\/style\.[0-9a-f]{10}\.css$/);

    const post = await visitor.get('/posts/no-such-post');
    expect(post.statusCode).toBe(404);
    expect(post.headers['content-type']).toMatch(/^text\/html/);

    const api = await visitor.get('/api/v1/unknown');
    expect(api.statusCode).toBe(404);
    expect(api.headers['content-type']).toMatch(/^application\/json/);
    expect(api.json().error.code).toBe('not_found');
  });

  it('shows a reader an HTML 403 page at /admin and sends a visitor from /write to log in', async () => {
    const { client: reader } = await signedIn(t.app, 'reader');
    const admin = await reader.get('/admin');
    expect(admin.statusCode).toBe(403);
    expect(admin.headers['content-type']).toMatch(/^text\/html/);
    expect(admin.body).toContain('<h1>Not allowed</h1>');

    const write = await visitor.get('/write');
    expect(write.statusCode).toBe(302);
    expect(write.headers.location).toBe('/login?next=%2Fwrite');
  });

  it('writes and edits a post with the editor forms, keeping the text on a stale save (409)', async () => {
    const { client: author } = await signedIn(t.app, 'author');
    const created = await author.form('/write', {
      title: 'Form-made post',
      body: 'First *draft* text.',
      tags: 'alpha, beta，gamma',
      status: 'draft',
    });
    expect(created.statusCode).toBe(303);
    const id = Number(created.headers.location?.match(/^\/edit\/(\d+)$/)?.[1]);
    expect(id).toBeGreaterThan(0);

    const editor = await author.get(`/edit/${id}`);
    expect(editor.statusCode).toBe(200);
    expect(editor.body).toContain('Draft saved.');
    expect(editor.body).toContain('value="Form-made post"');
    expect(editor.body).toMatch(/<input type="hidden" name="version" value="1"\s*\/?>/);
    const post = (await author.api('GET', `/api/v1/posts/${id}`)).json();
    expect(post).toMatchObject({ status: 'draft', body: 'First *draft* text.', version: 1 });
    expect(post.tags.map((tag: { name: string }) => tag.name)).toEqual(['alpha', 'beta', 'gamma']);

    const saved = await author.form(`/edit/${id}`, {
      title: 'Form-made post, edited',
      body: 'Second text.',
      tags: 'alpha',
      status: 'published',
      version: '1',
    });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe(`/edit/${id}`);
    expect((await author.get(`/edit/${id}`)).body).toContain('Saved and published.');
    expect((await visitor.get(`/api/v1/posts/${id}`)).json()).toMatchObject({
      title: 'Form-made post, edited',
      body: 'Second text.',
      status: 'published',
      version: 2,
    });

    const stale = await author.form(`/edit/${id}`, {
      title: 'Stale title',
      body: 'My stale <edit> text',
      status: 'published',
      version: '1',
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.headers['content-type']).toMatch(/^text\/html/);
    expect(stale.body).toContain('Someone saved this post after you opened it');
    expect(stale.body).toContain('My stale &lt;edit&gt; text</textarea>');
    expect(stale.body).toContain('value="Stale title"');
    // The form now carries the current version, so saving again is a deliberate overwrite.
    expect(stale.body).toMatch(/<input type="hidden" name="version" value="2"\s*\/?>/);
    expect((await visitor.get(`/api/v1/posts/${id}`)).json()).toMatchObject({
      body: 'Second text.',
      version: 2,
    });

    const overwrite = await author.form(`/edit/${id}`, {
      title: 'Stale title',
      body: 'My stale <edit> text',
      status: 'published',
      version: '2',
    });
    expect(overwrite.statusCode).toBe(303);
    expect((await visitor.get(`/api/v1/posts/${id}`)).json()).toMatchObject({
      body: 'My stale <edit> text',
      version: 3,
    });
  });

  it('keeps a derived excerpt following the body through an edit in the editor form', async () => {
    const { client: author } = await signedIn(t.app, 'author');
    const created = await author.form('/write', {
      title: 'Excerpted',
      body: 'The opening words.',
      excerpt: '',
    });
    const id = created.headers.location?.split('/').pop();
    const page = (await author.get(`/edit/${id}`)).body;
    // The form sends back whatever the field holds, as a browser would.
    const excerpt =
      page.match(/<textarea id="f-excerpt"[^>]*>([^<]*)<\/textarea>/)?.[1] ?? '(no excerpt field)';
    expect(excerpt).toBe('');
    await author.form(`/edit/${id}`, {
      title: 'Excerpted',
      body: 'Quite different words.',
      excerpt,
      version: '1',
    });
    expect((await author.api('GET', `/api/v1/posts/${id}`)).json().excerpt).toBe('Quite different words.');

    // A custom excerpt is shown, kept, and survives a body change.
    await author.form(`/edit/${id}`, {
      title: 'Excerpted',
      body: 'Quite different words.',
      excerpt: 'Mine.',
      version: '2',
    });
    expect((await author.get(`/edit/${id}`)).body).toMatch(
      /<textarea id="f-excerpt"[^>]*>Mine\.<\/textarea>/,
    );
    await author.form(`/edit/${id}`, {
      title: 'Excerpted',
      body: 'Third body.',
      excerpt: 'Mine.',
      version: '3',
    });
    expect((await author.api('GET', `/api/v1/posts/${id}`)).json()).toMatchObject({
      excerpt: 'Mine.',
      version: 4,
    });
  });

  it('re-renders the editor form with the error for an invalid post', async () => {
    const { client: author } = await signedIn(t.app, 'author');
    const response = await author.form('/write', { title: '   ', body: 'Kept body text' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('Give the post a title.');
    expect(response.body).toContain('Kept body text</textarea>');
  });

  it("lists an author's own drafts at /my/posts and nobody else's", async () => {
    const { user, client } = await signedIn(t.app, 'author');
    await writeDraft(t.app, user, { title: 'My private draft' });
    await writePost(t.app, user, { title: 'My public post' });
    await writeDraft(t.app, owner, { title: "Owner's draft" });
    const page = await client.get('/my/posts');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('My private draft');
    expect(page.body).toContain('My public post');
    expect(page.body).not.toContain('Owner&#39;s draft');
    const drafts = await client.get('/my/posts?status=draft');
    expect(drafts.body).toContain('My private draft');
    expect(drafts.body).not.toContain('My public post');
  });

  it('lists only published posts on a profile page', async () => {
    const { user, client } = await signedIn(t.app, 'author');
    await writePost(t.app, user, { title: 'Profile public post' });
    await writeDraft(t.app, user, { title: 'Profile hidden draft' });
    await writePost(t.app, owner, { title: 'Someone else entirely' });
    for (const viewer of [visitor, client]) {
      const page = await viewer.get(`/@${user.username}`);
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain(`@${user.username} · author`);
      expect(page.body).toContain('Profile public post');
      expect(page.body).not.toContain('Profile hidden draft');
      expect(page.body).not.toContain('Someone else entirely');
    }
    expect((await visitor.get('/@nobody-here')).statusCode).toBe(404);
  });

  it('shows a flash message after the login redirect, once', async () => {
    const user = await createUser(t.app, 'author', `flashy${Date.now() % 100000}`);
    const browser = new Client(t.app);
    const login = await browser.form('/login', {
      login: user.username,
      password: user.password,
      next: '/my/posts',
    });
    expect(login.statusCode).toBe(303);
    expect(login.headers.location).toBe('/my/posts');
    const landing = await browser.get('/my/posts');
    expect(landing.body).toContain(`Welcome back, ${user.displayName}.`);
    expect((await browser.get('/my/posts')).body).not.toContain('Welcome back');

    const wrong = await new Client(t.app).form('/login', {
      login: user.username,
      password: 'not the password',
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain('Wrong username, email or password.');
  });
});

// Closing registration and renaming the site change every page, so this has a site of its own.
describe.each(dialects)('site settings on %s', (dialect) => {
  let t: TestApp;
  let visitor: Client;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    visitor = new Client(t.app);
  });
  afterAll(async () => t?.close());

  it('closes registration from /admin/settings: /register says so and the API refuses with 403', async () => {
    const { client: admin } = await signedIn(t.app, 'admin');
    expect((await visitor.get('/register')).body).toContain('Create an account');

    const saved = await admin.form('/admin/settings', {
      siteTitle: 'Closed Club',
      siteDescription: 'Members only.',
    });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe('/admin/settings');
    const settingsPage = await admin.get('/admin/settings');
    expect(settingsPage.body).toContain('Settings saved.');
    expect(settingsPage.body).not.toContain('name="registrationOpen" value="on" checked');

    const register = await new Client(t.app).get('/register');
    expect(register.body).toContain('Registration is closed');
    expect(register.body).toContain('<a class="site-title" href="/">Closed Club</a>');
    const api = await new Client(t.app).api('POST', '/api/v1/auth/register', {
      username: 'latecomer',
      email: 'late@example.com',
      password: 'long enough pw',
    });
    expect(api.statusCode).toBe(403);
    expect(api.json().error.code).toBe('registration_closed');

    const reopened = await admin.form('/admin/settings', {
      siteTitle: 'Inkstone',
      siteDescription: 'Open again.',
      registrationOpen: 'on',
    });
    expect(reopened.statusCode).toBe(303);
    expect((await admin.get('/admin/settings')).body).toContain('name="registrationOpen" value="on" checked');
    expect((await new Client(t.app).get('/register')).body).toContain('Create an account');
  });
});
