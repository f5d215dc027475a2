import type { LightMyRequestResponse } from 'fastify';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommentSchema } from '../../src/modules/comments/schemas.js';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { actorOf, daysFromNow, type TestUser, writeComment, writeDraft, writePost } from './fixtures.js';

const idsOf = (response: LightMyRequestResponse) => response.json().items.map((c: { id: number }) => c.id);

describe.each(await availableDialects())('comments over HTTP on %s', (dialect) => {
  let t: TestApp;
  let owner: TestUser;
  let reader: { user: TestUser; client: Client };
  let editor: Client;
  let visitor: Client;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    owner = await createUser(t.app, 'author');
    reader = await signedIn(t.app, 'reader');
    editor = (await signedIn(t.app, 'editor')).client;
    visitor = new Client(t.app);
  });
  afterAll(async () => t?.close());

  it('comments on a published post with 201 and the documented shape', async () => {
    const post = await writePost(t.app, owner);
    const response = await reader.client.api('POST', `/api/v1/posts/${post.id}/comments`, { body: 'First!' });
    expect(response.statusCode).toBe(201);
    const comment = response.json();
    expect(Value.Check(CommentSchema, comment)).toBe(true);
    expect(comment).toMatchObject({
      postId: post.id,
      body: 'First!',
      status: 'visible',
      author: { id: reader.user.id, username: reader.user.username },
    });
    expect(comment.bodyHtml.trim()).toBe('<p>First!</p>');
    expect(idsOf(await visitor.get(`/api/v1/posts/${post.id}/comments`))).toEqual([comment.id]);
  });

  it('refuses comments on a draft (409 to its author, 404 to others) and on a scheduled post', async () => {
    const draft = await writeDraft(t.app, owner);
    const ownerClient = await new Client(t.app).login(owner.username, owner.password);
    const mine = await ownerClient.api('POST', `/api/v1/posts/${draft.id}/comments`, {
      body: 'Note to self',
    });
    expect(mine.statusCode).toBe(409);
    expect(mine.json().error.code).toBe('not_published');
    const theirs = await reader.client.api('POST', `/api/v1/posts/${draft.id}/comments`, { body: 'Hello?' });
    expect(theirs.statusCode).toBe(404);

    const scheduled = await writePost(t.app, owner, { status: 'scheduled', publishedAt: daysFromNow(2) });
    expect(
      (await reader.client.api('POST', `/api/v1/posts/${scheduled.id}/comments`, { body: 'Early' }))
        .statusCode,
    ).toBe(404);
    expect(
      (await ownerClient.api('POST', `/api/v1/posts/${scheduled.id}/comments`, { body: 'Early' })).statusCode,
    ).toBe(409);
    expect(await t.app.services.comments.listForPost(draft.id, { ...actorOf(owner), role: 'admin' })).toEqual(
      [],
    );
    expect((await reader.client.api('POST', '/api/v1/posts/999999/comments', { body: 'x' })).statusCode).toBe(
      404,
    );
  });

  it('answers 400 naming body for an empty or blank comment', async () => {
    const post = await writePost(t.app, owner);
    for (const payload of [{ body: '' }, { body: '   \n ' }, {}]) {
      const response = await reader.client.api('POST', `/api/v1/posts/${post.id}/comments`, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('validation_failed');
      expect(Object.keys(response.json().error.fields)).toEqual(['body']);
    }
    const tooLong = await reader.client.api('POST', `/api/v1/posts/${post.id}/comments`, {
      body: 'x'.repeat(5001),
    });
    expect(Object.keys(tooLong.json().error.fields)).toEqual(['body']);
    expect((await visitor.get(`/api/v1/posts/${post.id}/comments`)).json().items).toEqual([]);
  });

  it('renders Markdown-lite and strips scripts and javascript: links', async () => {
    const post = await writePost(t.app, owner);
    const body =
      '**bold** and `code` <script>alert("x")</script> [bad](javascript:alert(1)) [good](https://example.com)\n\n# not a heading';
    const response = await reader.client.api('POST', `/api/v1/posts/${post.id}/comments`, { body });
    expect(response.statusCode).toBe(201);
    const { bodyHtml, body: source } = response.json();
    expect(source).toBe(body);
    expect(bodyHtml).toContain('<strong>bold</strong>');
    expect(bodyHtml).toContain('<code>code</code>');
    expect(bodyHtml).toContain('<a href="https://example.com" rel="nofollow ugc noopener">good</a>');
    expect(bodyHtml).not.toMatch(/<script/i);
    expect(bodyHtml).not.toMatch(/javascript:/i);
    expect(bodyHtml).not.toMatch(/<h1/i);

    const page = await visitor.get(post.url);
    expect(page.body).toContain('<strong>bold</strong>');
    expect(page.body).not.toMatch(/<script/i);
  });

  it('hides a comment from readers and visitors but shows it to moderators', async () => {
    const post = await writePost(t.app, owner);
    const kept = await writeComment(t.app, post.id, reader.user, 'Kept comment');
    const hidden = await writeComment(t.app, post.id, reader.user, 'Rude comment here');
    const hide = await editor.api('PUT', `/api/v1/comments/${hidden.id}/status`, { status: 'hidden' });
    expect(hide.statusCode).toBe(200);
    expect(hide.json()).toMatchObject({ id: hidden.id, status: 'hidden', post: { slug: post.slug } });

    for (const client of [visitor, reader.client]) {
      expect(idsOf(await client.api('GET', `/api/v1/posts/${post.id}/comments`))).toEqual([kept.id]);
      const page = await client.get(post.url);
      expect(page.body).toContain('Kept comment');
      expect(page.body).not.toContain('Rude comment here');
      expect(page.body).toContain('1 comment<');
    }
    const moderated = (await editor.api('GET', `/api/v1/posts/${post.id}/comments`)).json().items;
    expect(moderated.map((c: { id: number; status: string }) => [c.id, c.status])).toEqual([
      [kept.id, 'visible'],
      [hidden.id, 'hidden'],
    ]);
    const editorPage = await editor.get(post.url);
    expect(editorPage.body).toContain('Rude comment here');
    expect(editorPage.body).toContain('badge-hidden');
    const queue = (await editor.api('GET', '/api/v1/comments?status=hidden')).json();
    expect(queue.items.map((c: { id: number }) => c.id)).toContain(hidden.id);

    // Shown again with the form, it is back for everyone.
    const show = await editor.form(`/comments/${hidden.id}/show`, { next: `${post.url}#comments` });
    expect(show.statusCode).toBe(303);
    expect(show.headers.location).toBe(`${post.url}#comments`);
    expect(idsOf(await visitor.get(`/api/v1/posts/${post.id}/comments`))).toEqual([kept.id, hidden.id]);
  });

  it("deletes one's own comment, not someone else's", async () => {
    const post = await writePost(t.app, owner);
    const mine = await writeComment(t.app, post.id, reader.user, 'Mine');
    const other = await createUser(t.app, 'reader');
    const theirs = await writeComment(t.app, post.id, other, 'Theirs');

    const refused = await reader.client.api('DELETE', `/api/v1/comments/${theirs.id}`);
    expect(refused.statusCode).toBe(403);
    expect((await reader.client.api('DELETE', `/api/v1/comments/${mine.id}`)).statusCode).toBe(204);
    expect(idsOf(await visitor.get(`/api/v1/posts/${post.id}/comments`))).toEqual([theirs.id]);
    expect((await reader.client.api('DELETE', `/api/v1/comments/${mine.id}`)).statusCode).toBe(404);
  });

  it('posts a comment with the HTML form: 303 back to it, shown escaped on the page', async () => {
    const post = await writePost(t.app, owner, { title: 'Form target' });
    const text = 'Nice <b>post</b> & "quotes" <img src=x onerror=alert(1)>';
    const response = await reader.client.form(`/posts/${post.id}/comments`, { body: text });
    expect(response.statusCode).toBe(303);
    const [comment] = (await visitor.get(`/api/v1/posts/${post.id}/comments`)).json().items;
    expect(comment.body).toBe(text);
    expect(response.headers.location).toBe(`${post.url}#comment-${comment.id}`);

    const page = await reader.client.get(post.url);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Comment posted.');
    expect(page.body).toContain(`id="comment-${comment.id}"`);
    expect(page.body).toContain('Nice &lt;b&gt;post&lt;/b&gt; &amp; ');
    expect(page.body).not.toContain('<b>post</b>');
    expect(page.body).not.toMatch(/<img[^>]*onerror/i);
  });

  it('sends a blank form comment back to the form with the reason, and a visitor to log in', async () => {
    const post = await writePost(t.app, owner);
    const blank = await reader.client.form(`/posts/${post.id}/comments`, { body: '   ' });
    expect(blank.statusCode).toBe(303);
    expect(blank.headers.location).toBe(`${post.url}#comment-form`);
    expect((await reader.client.get(post.url)).body).toContain('body must not be empty');

    const anonymous = await visitor.form(`/posts/${post.id}/comments`, { body: 'Let me in' });
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe(`/login?next=${encodeURIComponent(post.url)}`);
    expect((await visitor.get(`/api/v1/posts/${post.id}/comments`)).json().items).toEqual([]);
  });
});
