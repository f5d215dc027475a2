import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { closeRedis } from '../../src/plugins/redis.js';
import { Client, createSecondApp, createTestApp, createUser, signedIn } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { connectTestRedis, deleteKeys, REDIS_URL, redisAvailable, testPrefix } from '../helpers/redis.js';
import { actorOf, writeDraft, writePost } from './fixtures.js';

// The query cache (src/cache/query-cache.ts) on the reads that the page cache does not serve:
// signed-in pages and the API. Every read here is one a cache would answer from a warm entry,
// so each expectation fails if a write did not invalidate it.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A clock the test moves: scheduled posts go public when it says so. */
function steppingClock(): Clock & { advance(ms: number): void } {
  let t = Date.now();
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

async function oneApp(overrides: { clock?: Clock } = {}) {
  const test = await createTestApp('sqlite', {}, overrides);
  cleanup.push(() => test.close());
  return test.app;
}

const titles = async (client: Client, url = '/api/v1/posts') => {
  const response = await client.get(url);
  expect(response.statusCode).toBe(200);
  return (response.json() as { items: { title: string }[] }).items.map((post) => post.title);
};

const me = async (client: Client) => {
  const response = await client.get('/api/v1/auth/me');
  return response.statusCode === 200
    ? (response.json() as { user: { role: string; displayName: string } }).user
    : null;
};

describe('query cache on one instance', () => {
  it('is on by default: a warm list is answered without the database until a write invalidates it', async () => {
    const test = await createTestApp('sqlite');
    cleanup.push(() => test.close());
    const author = await createUser(test.app, 'author');
    const post = await writePost(test.app, author, { title: 'Cached once' });
    const anonymous = new Client(test.app);
    expect(await titles(anonymous)).toEqual(['Cached once']);
    // Written past the services: no invalidation, so the cached list stands.
    await test.database.handle.db.updateTable('posts').set({ title: 'Changed behind' }).execute();
    expect(await titles(anonymous)).toEqual(['Cached once']);
    await test.app.services.posts.update(
      post.id,
      { body: 'Touched.', version: post.version },
      actorOf(author),
    );
    expect(await titles(anonymous)).toEqual(['Changed behind']);
  });

  it("sends a cached list's JSON as the route's serialiser wrote it, and a new list's after a write", async () => {
    const test = await createTestApp('sqlite');
    cleanup.push(() => test.close());
    const author = await createUser(test.app, 'author');
    const post = await writePost(test.app, author, { title: 'Serialised once' });
    const anonymous = new Client(test.app);
    const first = await anonymous.get('/api/v1/posts');
    const second = await anonymous.get('/api/v1/posts');
    expect(second.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(second.body).toBe(first.body);
    // The schema's fields in the schema's order, nothing of the row beyond them.
    const list = second.json() as { items: Record<string, unknown>[]; total: number };
    expect(list.total).toBe(1);
    expect(Object.keys(list.items[0]!)).toEqual([
      'id',
      'title',
      'slug',
      'excerpt',
      'status',
      'publishedAt',
      'version',
      'createdAt',
      'updatedAt',
      'url',
      'author',
      'tags',
    ]);
    await test.app.services.posts.update(
      post.id,
      { title: 'Serialised again', version: post.version },
      actorOf(author),
    );
    const after = await anonymous.get('/api/v1/posts');
    expect(after.body).toContain('Serialised again');
    expect(after.body).not.toContain('Serialised once');
  });

  it('shows a publication, an edit, an unpublish and a delete in the next read of a cached list', async () => {
    const app = await oneApp();
    const author = await createUser(app, 'author');
    const actor = actorOf(author);
    const reader = (await signedIn(app, 'reader')).client;
    const anonymous = new Client(app);
    await writePost(app, author, { title: 'Already out' });
    const draft = await writeDraft(app, author, { title: 'Coming soon', tags: ['news'] });
    for (const client of [reader, anonymous]) {
      expect(await titles(client)).toEqual(['Already out']);
      expect(await titles(client, '/api/v1/posts?tag=news')).toEqual([]);
    }

    const published = await app.services.posts.publish(draft.id, actor);
    for (const client of [reader, anonymous]) {
      expect(await titles(client)).toEqual(['Coming soon', 'Already out']);
      expect(await titles(client, '/api/v1/posts?tag=news')).toEqual(['Coming soon']);
    }
    expect((await anonymous.get(`/api/v1/posts/${published.slug}`)).statusCode).toBe(200);

    await app.services.posts.update(draft.id, { title: 'Came out', version: published.version }, actor);
    for (const client of [reader, anonymous])
      expect(await titles(client)).toEqual(['Came out', 'Already out']);
    expect((await anonymous.get(`/api/v1/posts/${published.slug}`)).json()).toMatchObject({
      title: 'Came out',
    });

    await app.services.posts.unpublish(draft.id, actor);
    for (const client of [reader, anonymous]) {
      expect(await titles(client)).toEqual(['Already out']);
      expect(await titles(client, '/api/v1/posts?tag=news')).toEqual([]);
      expect((await client.get(`/api/v1/posts/${published.slug}`)).statusCode).toBe(404);
    }

    await app.services.posts.publish(draft.id, actor);
    expect(await titles(reader)).toEqual(['Came out', 'Already out']);
    await app.services.posts.delete(draft.id, actor);
    for (const client of [reader, anonymous]) {
      expect(await titles(client)).toEqual(['Already out']);
      expect((await client.get(`/api/v1/posts/${published.slug}`)).statusCode).toBe(404);
    }
  });

  it("never shows a draft in anonymous or another user's lists, even after its author read it", async () => {
    const app = await oneApp();
    const { user: author, client: owner } = await signedIn(app, 'author');
    const other = (await signedIn(app, 'author')).client;
    const anonymous = new Client(app);
    const draft = await writeDraft(app, author, { title: 'My secret draft', tags: ['secret'] });
    await writePost(app, author, { title: 'Public one' });
    // The author's own views first: whatever they filled must not reach anyone else.
    expect(await titles(owner, `/api/v1/posts?status=all&author=${author.username}`)).toContain(
      'My secret draft',
    );
    expect((await owner.get(`/api/v1/posts/${draft.slug}`)).statusCode).toBe(200);
    expect((await owner.get(`/api/v1/posts/${draft.id}`)).statusCode).toBe(200);
    for (const client of [anonymous, other, owner]) {
      expect(await titles(client)).toEqual(['Public one']);
      expect(await titles(client, `/api/v1/posts?author=${author.username}`)).toEqual(['Public one']);
      expect(await titles(client, '/api/v1/posts?tag=secret')).toEqual([]);
      expect((await client.get('/')).body).not.toContain('My secret draft');
    }
    for (const client of [anonymous, other]) {
      expect((await client.get(`/api/v1/posts/${draft.slug}`)).statusCode).toBe(404);
      expect((await client.get(`/api/v1/posts/${draft.id}`)).statusCode).toBe(404);
    }
    expect((await other.get(`/api/v1/posts?status=draft&author=${author.username}`)).statusCode).toBe(403);
  });

  it('shows a scheduled post at its time, in lists, by slug and in the tag counts', async () => {
    const clock = steppingClock();
    const app = await oneApp({ clock });
    const author = await createUser(app, 'author');
    const reader = (await signedIn(app, 'reader')).client;
    await writePost(app, author, { title: 'Out now', tags: ['later'] });
    const at = new Date(clock.now().getTime() + 3_600_000).toISOString();
    const scheduled = await writePost(app, author, {
      title: 'Out in an hour',
      status: 'scheduled',
      publishedAt: at,
      tags: ['later'],
    });
    const tagCount = async () =>
      ((await reader.get('/api/v1/tags')).json() as { items: { slug: string; count: number }[] }).items.find(
        (tag) => tag.slug === 'later',
      )?.count;
    for (let i = 0; i < 2; i++) {
      expect(await titles(reader)).toEqual(['Out now']);
      expect((await reader.get(`/api/v1/posts/${scheduled.slug}`)).statusCode).toBe(404);
      expect(await tagCount()).toBe(1);
    }
    clock.advance(3_600_000 - 1000);
    expect(await titles(reader)).toEqual(['Out now']);
    clock.advance(2000);
    expect(await titles(reader)).toEqual(['Out in an hour', 'Out now']);
    expect(await titles(reader, '/api/v1/posts?tag=later')).toEqual(['Out in an hour', 'Out now']);
    expect((await reader.get(`/api/v1/posts/${scheduled.slug}`)).statusCode).toBe(200);
    expect(await tagCount()).toBe(2);
  });

  it("shows a display-name change in cached lists and profiles, and a role change in the user's session at once", async () => {
    const app = await oneApp();
    const admin = actorOf(await createUser(app, 'admin'));
    const { user: author, client } = await signedIn(app, 'author');
    await writePost(app, author, { title: 'By me' });
    const authorName = async () =>
      ((await client.get('/api/v1/posts')).json() as { items: { author: { displayName: string } }[] })
        .items[0]?.author.displayName;
    const profileName = async () =>
      ((await new Client(app).get(`/api/v1/users/${author.username}`)).json() as { displayName: string })
        .displayName;
    expect(await authorName()).toBe(author.displayName);
    expect(await profileName()).toBe(author.displayName);
    expect((await me(client))?.role).toBe('author');

    expect((await client.api('PATCH', '/api/v1/users/me', { displayName: 'New Name' })).statusCode).toBe(200);
    expect(await authorName()).toBe('New Name');
    expect(await profileName()).toBe('New Name');
    expect((await me(client))?.displayName).toBe('New Name');

    await app.services.users.setRole(admin, author.id, 'reader');
    expect((await me(client))?.role).toBe('reader');
    const refused = await client.api('POST', '/api/v1/posts', { title: 'Not any more', body: 'x' });
    expect(refused.statusCode).toBe(403);
  });

  it("shows a new, hidden, shown and deleted comment and a writer's new name in the next read of a post's cached comments", async () => {
    const test = await createTestApp('sqlite');
    cleanup.push(() => test.close());
    const { app } = test;
    const author = await createUser(app, 'author');
    const post = await writePost(app, author, { title: 'Talked about' });
    const { client: writer } = await signedIn(app, 'reader');
    const { client: editor } = await signedIn(app, 'editor');
    const anonymous = new Client(app);
    const url = `/api/v1/posts/${post.id}/comments`;
    type Listed = { id: number; body: string; status: string; author: { displayName: string } };
    const comments = async (client: Client) => {
      const response = await client.get(url);
      expect(response.statusCode).toBe(200);
      return (response.json() as { items: Listed[] }).items;
    };
    const bodies = async (client: Client) => (await comments(client)).map((c) => `${c.body}:${c.status}`);

    const first = (await writer.api('POST', url, { body: 'First' })).json() as Listed;
    expect(await bodies(anonymous)).toEqual(['First:visible']);
    // Written past the services: no invalidation, so the cached list stands.
    await test.database.handle.db.updateTable('comments').set({ body: 'Changed behind' }).execute();
    expect(await bodies(anonymous)).toEqual(['First:visible']);

    const second = (await writer.api('POST', url, { body: 'Second' })).json() as Listed;
    expect(await bodies(anonymous)).toEqual(['Changed behind:visible', 'Second:visible']);
    expect(
      (await editor.api('PUT', `/api/v1/comments/${first.id}/status`, { status: 'hidden' })).statusCode,
    ).toBe(200);
    expect(await bodies(anonymous)).toEqual(['Second:visible']);
    // A moderator's list is not the cached one: the hidden comment is in it, marked.
    expect(await bodies(editor)).toEqual(['Changed behind:hidden', 'Second:visible']);
    expect((await writer.api('PATCH', '/api/v1/users/me', { displayName: 'Renamed' })).statusCode).toBe(200);
    expect((await comments(anonymous)).map((c) => c.author.displayName)).toEqual(['Renamed']);
    expect(
      (await editor.api('PUT', `/api/v1/comments/${first.id}/status`, { status: 'visible' })).statusCode,
    ).toBe(200);
    expect(await bodies(anonymous)).toEqual(['Changed behind:visible', 'Second:visible']);
    expect((await writer.api('DELETE', `/api/v1/comments/${second.id}`)).statusCode).toBeLessThan(300);
    expect(await bodies(anonymous)).toEqual(['Changed behind:visible']);
  });

  it('ends a session at once on sign-out and on a password change, and a revoked API token', async () => {
    const app = await oneApp();
    const { user, client } = await signedIn(app, 'reader');
    const copy = new Client(app);
    copy.cookies.set('inkstone_session', client.cookies.get('inkstone_session')!);
    expect(await me(copy)).not.toBeNull();
    expect((await client.api('POST', '/api/v1/auth/logout')).statusCode).toBeLessThan(300);
    expect(await me(copy)).toBeNull();

    const first = await new Client(app).login(user.username, user.password);
    const second = await new Client(app).login(user.username, user.password);
    expect(await me(second)).not.toBeNull();
    const changed = await first.api('PUT', '/api/v1/auth/password', {
      currentPassword: user.password,
      newPassword: 'another horse battery',
    });
    expect(changed.statusCode).toBeLessThan(300);
    expect(await me(second)).toBeNull();
    expect(await me(first)).not.toBeNull();

    const made = await first.api('POST', '/api/v1/tokens', { name: 'script' });
    const { token, record } = made.json() as { token: string; record: { id: number } };
    const bearer = () =>
      app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
    expect((await bearer()).statusCode).toBe(200);
    expect((await bearer()).statusCode).toBe(200);
    expect((await first.api('DELETE', `/api/v1/tokens/${record.id}`)).statusCode).toBeLessThan(300);
    expect((await bearer()).statusCode).toBe(401);
  });

  it('reads the database every time with QUERY_CACHE_TTL_SECONDS=0', async () => {
    const test = await createTestApp('sqlite', { QUERY_CACHE_TTL_SECONDS: '0' });
    cleanup.push(() => test.close());
    const author = await createUser(test.app, 'author');
    await writePost(test.app, author, { title: 'One' });
    const client = new Client(test.app);
    expect(await titles(client)).toEqual(['One']);
    // Written straight to the database, past the services: only an uncached read sees it.
    await test.database.handle.db.updateTable('posts').set({ title: 'Changed behind' }).execute();
    expect(await titles(client)).toEqual(['Changed behind']);
  });
});

// Two apps in one process stand for two instances. Redis sends A's invalidation to B before it
// answers A, but here B's read comes with no network in between: B's subscriber gets one turn
// of the event loop first, as it would before a request reached B from a client.
const arrives = () => new Promise((resolve) => setTimeout(resolve, 20));
const dialect = (await availableDialects()).includes('postgres') ? 'postgres' : 'sqlite';

describe.skipIf(!(await redisAvailable()))(`query cache on two instances sharing Redis (${dialect})`, () => {
  let direct: Redis;
  beforeAll(async () => {
    direct = await connectTestRedis();
  });
  afterAll(async () => {
    if (direct) await closeRedis(direct);
  });

  async function twoInstances(): Promise<{ a: FastifyInstance; b: FastifyInstance }> {
    const env = { REDIS_URL, REDIS_PREFIX: testPrefix(), LOGIN_MAX_PER_IP: '1000' };
    const first = await createTestApp(dialect, env);
    cleanup.push(() => first.close());
    cleanup.push(() => deleteKeys(direct, env.REDIS_PREFIX));
    const b = await createSecondApp(first, env);
    cleanup.push(() => b.close());
    return { a: first.app, b };
  }

  it("sees the other instance's post writes in its next read", async () => {
    const { a, b } = await twoInstances();
    const author = await createUser(a, 'author');
    const actor = actorOf(author);
    const onA = new Client(a);
    const onB = new Client(b);
    const draft = await writeDraft(a, author, { title: 'Draft on A' });
    for (let i = 0; i < 2; i++) {
      expect(await titles(onA)).toEqual([]);
      expect(await titles(onB)).toEqual([]);
    }
    const out = await a.services.posts.publish(draft.id, actor);
    await arrives();
    expect(await titles(onB)).toEqual(['Draft on A']);
    expect((await onB.get(`/api/v1/posts/${out.slug}`)).json()).toMatchObject({ title: 'Draft on A' });
    expect(await titles(onA)).toEqual(['Draft on A']);

    await b.services.posts.update(draft.id, { title: 'Edited on B', version: out.version }, actor);
    await arrives();
    expect(await titles(onA)).toEqual(['Edited on B']);
    expect((await onA.get(`/api/v1/posts/${out.slug}`)).json()).toMatchObject({ title: 'Edited on B' });

    await a.services.posts.unpublish(draft.id, actor);
    await arrives();
    expect(await titles(onB)).toEqual([]);
    expect((await onB.get(`/api/v1/posts/${out.slug}`)).statusCode).toBe(404);
  });

  it("drops a session on B when A signs it out or changes the user's role", async () => {
    const { a, b } = await twoInstances();
    const admin = actorOf(await createUser(a, 'admin'));
    const user = await createUser(a, 'author');
    const onA = await new Client(a).login(user.username, user.password);
    const onB = new Client(b);
    onB.cookies.set('inkstone_session', onA.cookies.get('inkstone_session')!);
    for (let i = 0; i < 2; i++) expect((await me(onB))?.role).toBe('author');

    await a.services.users.setRole(admin, user.id, 'editor');
    await arrives();
    expect((await me(onB))?.role).toBe('editor');

    expect((await onA.api('POST', '/api/v1/auth/logout')).statusCode).toBeLessThan(300);
    await arrives();
    expect(await me(onB)).toBeNull();
  });
  it('refuses on B a token revoked on A and the sessions a password change on A ended', async () => {
    const { a, b } = await twoInstances();
    const user = await createUser(a, 'reader');
    const onA = await new Client(a).login(user.username, user.password);
    const other = await new Client(a).login(user.username, user.password);
    const otherOnB = new Client(b);
    otherOnB.cookies.set('inkstone_session', other.cookies.get('inkstone_session')!);
    const made = await onA.api('POST', '/api/v1/tokens', { name: 'script' });
    const { token, record } = made.json() as { token: string; record: { id: number } };
    const bearerOnB = () =>
      b.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 2; i++) {
      expect((await bearerOnB()).statusCode).toBe(200);
      expect(await me(otherOnB)).not.toBeNull();
    }

    expect((await onA.api('DELETE', `/api/v1/tokens/${record.id}`)).statusCode).toBeLessThan(300);
    await arrives();
    expect((await bearerOnB()).statusCode).toBe(401);

    const changed = await onA.api('PUT', '/api/v1/auth/password', {
      currentPassword: user.password,
      newPassword: 'another horse battery',
    });
    expect(changed.statusCode).toBeLessThan(300);
    await arrives();
    expect(await me(otherOnB)).toBeNull();
  });
});
