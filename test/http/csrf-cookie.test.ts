import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, createTestApp, createUser, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { writeComment, writePost } from './fixtures.js';

// The CSRF cookie is issued where a form (or the login API) hands out its token, not on every
// response: an anonymous reader's pages carry no Set-Cookie, so a shared cache may keep them.
// Protection stays as it was: an unsafe request with the session cookie needs the cookie and
// a matching token.
describe.each(await availableDialects())('the CSRF cookie on %s', (dialect) => {
  let t: TestApp;
  let postUrl: string;
  const hiddenToken = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)?.[1];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    const author = await createUser(t.app, 'author');
    const post = await writePost(t.app, author, { tags: ['news'] });
    await writeComment(t.app, post.id, await createUser(t.app, 'reader'));
    postUrl = post.url;
  });
  afterAll(async () => t?.close());

  it('is not set by an anonymous GET of the home, a post, a tag page or the posts API', async () => {
    for (const url of ['/', postUrl, '/tags/news', '/tags', '/api/v1/posts', '/feed.xml']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['set-cookie'], url).toBeUndefined();
      expect(response.body, url).not.toContain('name="_csrf"');
    }
  });

  it('is set by the pages with a form, and the form carries the cookie’s token', async () => {
    for (const url of ['/login', '/register']) {
      const response = await t.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      const cookie = response.cookies.find((c) => c.name === 'inkstone_csrf');
      expect(cookie?.httpOnly, url).toBe(true);
      expect(cookie?.value.length, url).toBeGreaterThanOrEqual(20);
      expect(hiddenToken(response.body), url).toBe(cookie?.value);
    }
  });

  it('is set once for a page with several forms, and kept when the visitor has one', async () => {
    const reader = await createUser(t.app, 'reader');
    const client = await new Client(t.app).login(reader.username, reader.password);
    client.cookies.delete('inkstone_csrf');
    // A signed-in reader's post page: the comment form and the log-out form.
    const page = await client.get(postUrl);
    const set = [page.headers['set-cookie'] ?? []].flat().filter((c) => c.startsWith('inkstone_csrf='));
    expect(set).toHaveLength(1);
    const tokens = [...page.body.matchAll(/name="_csrf" value="([^"]+)"/g)].map((m) => m[1]);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect(new Set(tokens)).toEqual(new Set([client.csrf]));

    const again = await client.get(postUrl);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(hiddenToken(again.body)).toBe(client.csrf);
  });

  it('is needed for a form post: no cookie, or a token that does not match, is refused', async () => {
    const reader = await createUser(t.app, 'reader');
    const form = (cookie: string | undefined, token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/login',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(cookie ? { cookie: `inkstone_csrf=${cookie}` } : {}),
        },
        payload: new URLSearchParams({
          _csrf: token,
          login: reader.username,
          password: reader.password,
        }).toString(),
      });
    const made = 'a'.repeat(32);
    expect((await form(undefined, made)).statusCode).toBe(403);
    expect((await form(made, 'b'.repeat(32))).statusCode).toBe(403);
    // A cookie too short to be one this server issued does not count, even when it matches.
    expect((await form('short', 'short')).statusCode).toBe(403);
    expect((await form(made, made)).statusCode).toBe(303);
  });

  it('is issued by the login API with the token a JSON client sends back', async () => {
    const reader = await createUser(t.app, 'reader');
    const client = await new Client(t.app).login(reader.username, reader.password);
    const me = await client.api('GET', '/api/v1/auth/me');
    expect(me.json().csrfToken).toBe(client.csrf);
    const write = await client.api('PATCH', '/api/v1/users/me', { bio: 'hello' });
    expect(write.statusCode).toBe(200);
    client.cookies.delete('inkstone_csrf');
    const refused = await client.request({
      method: 'PATCH',
      url: '/api/v1/users/me',
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.json().csrfToken },
      payload: JSON.stringify({ bio: 'again' }),
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('csrf_failed');
  });
});
