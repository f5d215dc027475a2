import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { html } from '../../src/views/html.js';
import { type PageContext, renderSharedBody } from '../../src/views/layout.js';
import { Client, createSecondApp, createTestApp, createUser, signedIn } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { writePost } from './fixtures.js';

// Signed-in readers of a page that shows everyone the same thing share its body
// (src/cache/shared-bodies.ts): their own layout around it, never another reader's, and
// never a body a write has changed since.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const PAGE_CACHE = { PAGE_CACHE_TTL_SECONDS: '60' };

/** The page's <main>, which is the layout's flash plus the body. */
const mainOf = (page: string) => /<main[^>]*>([\s\S]*)<\/main>/.exec(page)?.[1] ?? '';

describe.each(await availableDialects())('shared bodies on %s', (dialect) => {
  async function setup() {
    const t = await createTestApp(dialect, PAGE_CACHE);
    cleanup.push(() => t.close());
    const author = await createUser(t.app, 'author');
    await writePost(t.app, author, { title: 'Ink and stone', tags: ['craft'] });
    return { app: t.app, author };
  }

  it('gives a second signed-in reader the body without running the handler, in their own layout', async () => {
    const { app, author } = await setup();
    const one = await signedIn(app, 'reader');
    const two = await signedIn(app, 'editor');
    for (const url of ['/', '/tags', '/tags/craft', `/@${author.username}`]) {
      const first = await one.client.get(url);
      expect(first.statusCode, url).toBe(200);
      expect(first.headers['x-page-cache'], url).toBeUndefined();
      const second = await two.client.get(url);
      expect(second.headers['x-page-cache'], url).toBe('body');
      expect(second.headers['cache-control'], url).toBe('private, no-store');
      // The same body, each reader's own header: the second never sees the first's name.
      expect(mainOf(second.body), url).toBe(mainOf(first.body));
      expect(second.body, url).toContain(two.user.displayName);
      expect(second.body, url).not.toContain(one.user.displayName);
      expect(second.body, url).toContain(url === '/tags' ? 'craft' : 'Ink and stone');
      // Their own CSRF token in the logout form, never the first reader's.
      expect(second.body, url).toContain(`value="${two.client.csrf}"`);
      expect(second.body, url).not.toContain(`value="${one.client.csrf}"`);
      // The held page is drawn from kept parts: for the same reader, byte for byte the page
      // the handler rendered.
      const again = await one.client.get(url);
      expect(again.headers['x-page-cache'], url).toBe('body');
      expect(again.body, url).toBe(first.body);
    }
  });

  it("draws a reader's navigation for the path they are on and their role as it is now", async () => {
    const { app } = await setup();
    const reader = await signedIn(app, 'reader');
    const admin = await signedIn(app, 'admin');
    const current = (page: string) => /<a href="([^"]*)" +aria-current="page"/.exec(page)?.[1];
    await reader.client.get('/');
    await reader.client.get('/tags');
    for (const url of ['/', '/tags', '/']) {
      const page = await reader.client.get(url);
      expect(page.headers['x-page-cache'], url).toBe('body');
      // Home is in the navigation, the tags page is not: marked on one, on neither link on the other.
      expect(current(page.body), url).toBe(url === '/' ? '/' : undefined);
      expect(page.body, url).not.toContain('href="/write"');
    }
    const promoted = await admin.client.api('PUT', `/api/v1/users/${reader.user.id}/role`, {
      role: 'author',
    });
    expect(promoted.statusCode).toBe(200);
    const after = await reader.client.get('/');
    expect(after.body).toContain('href="/write"');
    expect(current(after.body)).toBe('/');
    expect(after.body).toContain(`value="${reader.client.csrf}"`);
  });

  it('drops every body on a write, so the next reader sees the change at once', async () => {
    const { app, author } = await setup();
    const reader = await signedIn(app, 'reader');
    await reader.client.get('/');
    expect((await reader.client.get('/')).headers['x-page-cache']).toBe('body');
    await writePost(app, author, { title: 'A second essay' });
    const after = await reader.client.get('/');
    expect(after.headers['x-page-cache']).toBeUndefined();
    expect(after.body).toContain('A second essay');
    expect((await reader.client.get('/')).body).toContain('A second essay');
  });

  it('keeps no body of a page that is not the same for everyone, nor of an empty home page', async () => {
    const t = await createTestApp(dialect, PAGE_CACHE);
    cleanup.push(() => t.close());
    const reader = await signedIn(t.app, 'reader');
    // No post yet: the empty home page's hint depends on who reads it.
    await reader.client.get('/');
    expect((await reader.client.get('/')).headers['x-page-cache']).toBeUndefined();
    const author = await signedIn(t.app, 'author');
    const post = await writePost(t.app, author.user, { title: 'Mine to edit' });
    // A post page shows its author an Edit button: rendered for each reader.
    await author.client.get(post.url);
    const again = await author.client.get(post.url);
    expect(again.headers['x-page-cache']).toBeUndefined();
    expect(again.body).toContain(`/edit/${post.id}`);
    expect((await reader.client.get(post.url)).body).not.toContain(`/edit/${post.id}`);
  });

  it('shows a flash message around a shared body', async () => {
    const { app } = await setup();
    const reader = await signedIn(app, 'reader');
    await reader.client.get('/');
    // Signing out leaves a flash and sends the (now anonymous) reader home: full page cache
    // off for them while the flash cookie is there, the body shared.
    const signedOut = await reader.client.form('/logout', {});
    expect(signedOut.statusCode).toBe(303);
    const home = await reader.client.get('/');
    expect(home.headers['x-page-cache']).toBe('body');
    expect(home.body).toMatch(/class="flash flash-success"/);
    expect(home.body).toContain('Log in');
  });
});

describe.skipIf(!(await redisAvailable()))('shared bodies on two instances over one Redis', () => {
  it('drop on one instance when a write is made through the other', async () => {
    const env = { REDIS_URL, REDIS_PREFIX: testPrefix(), ...PAGE_CACHE };
    const first = await createTestApp('sqlite', env);
    cleanup.push(() => first.close());
    const second = await createSecondApp(first, env);
    cleanup.push(() => second.close());
    const author = await createUser(first.app, 'author');
    await writePost(first.app, author, { title: 'Before the edit' });
    const reader = await createUser(first.app, 'reader');
    const onSecond = await new Client(second).login(reader.username, reader.password);
    await onSecond.get('/');
    expect((await onSecond.get('/')).headers['x-page-cache']).toBe('body');
    await writePost(first.app, author, { title: 'Written on the first instance' });
    // The invalidation crosses Redis's channel (well under a millisecond on loopback).
    await sleep(50);
    const after = await onSecond.get('/');
    expect(after.headers['x-page-cache']).toBeUndefined();
    expect(after.body).toContain('Written on the first instance');
  });
});

describe('a body marked shared', () => {
  const ctx = {
    actor: null,
    csrfToken: 'secret',
    settings: { siteTitle: 'Inkstone', siteDescription: '', registrationOpen: true },
    flash: null,
    publicUrl: 'http://localhost',
    path: '/',
  } satisfies PageContext;

  it('renders from the settings and the path', () => {
    const page = {
      meta: { title: '' },
      body: (c: PageContext) => html`<h1>${c.settings.siteTitle}</h1>${c.path}`,
    };
    expect(renderSharedBody(ctx, page)).toBe('<h1>Inkstone</h1>/');
  });

  it.each(['actor', 'csrfToken', 'flash'] as const)('fails loudly if it reads ctx.%s', (field) => {
    const page = { meta: { title: '' }, body: (c: PageContext) => html`${String(c[field])}` };
    expect(() => renderSharedBody(ctx, page)).toThrow(`ctx.${field}`);
  });
});
