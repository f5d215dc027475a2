import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Role } from '../../src/db/types.js';
import type { User } from '../../src/modules/users/schemas.js';
import { type Actor, ROLES } from '../../src/modules/access/permissions.js';
import { Client, createTestApp, createUser, signedIn, type TestApp } from '../helpers/app.js';
import { availableDialects } from '../helpers/db.js';
import { actorOf, writeComment, writeDraft, writePost } from './fixtures.js';

type Who = 'visitor' | Role;
const WHO: readonly Who[] = ['visitor', 'reader', 'author', 'editor', 'admin'];

interface World {
  t: TestApp;
  /** An author whose posts are "someone else's" to every other client. */
  owner: User;
  /** A reader whose comments are "someone else's". */
  commenter: User;
  clients: Record<Who, Client>;
  users: Record<Role, User>;
  /** An admin actor for reading back state behind the API. */
  root: Actor;
}

interface Outcome {
  response: LightMyRequestResponse;
  /** Whether the change the call asked for happened; checked against allow/deny. */
  applied?: () => Promise<boolean>;
}

interface Case<E> {
  action: string;
  expect: Record<Who, E>;
  run(w: World, who: Who): Promise<Outcome>;
}

const ERROR_CODES: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' };

/** The user acting as `who`, or for a visitor (who owns nothing) the owner of the scene. */
const meOr = (w: World, who: Who, fallback: User) => (who === 'visitor' ? fallback : w.users[who]);

const postGone = async (w: World, id: number) =>
  w.t.app.services.posts.get(id, w.root).then(
    () => false,
    () => true,
  );
const commentIds = async (w: World, postId: number) =>
  (await w.t.app.services.comments.listForPost(postId, w.root)).map((c) => c.id);

const allowed = (v: number) => v >= 200 && v < 300;

const API_CASES: Case<number>[] = [
  {
    action: 'read a published post',
    expect: { visitor: 200, reader: 200, author: 200, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      return { response: await w.clients[who].api('GET', `/api/v1/posts/${post.id}`) };
    },
  },
  {
    action: 'comment on a published post',
    expect: { visitor: 401, reader: 201, author: 201, editor: 201, admin: 201 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].api('POST', `/api/v1/posts/${post.id}/comments`, { body: 'Hi!' });
      return { response, applied: async () => (await commentIds(w, post.id)).length === 1 };
    },
  },
  {
    action: 'delete own comment',
    expect: { visitor: 401, reader: 204, author: 204, editor: 204, admin: 204 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, meOr(w, who, w.commenter));
      const response = await w.clients[who].api('DELETE', `/api/v1/comments/${comment.id}`);
      return { response, applied: async () => !(await commentIds(w, post.id)).includes(comment.id) };
    },
  },
  {
    action: "delete another's comment",
    expect: { visitor: 401, reader: 403, author: 403, editor: 204, admin: 204 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, w.commenter);
      const response = await w.clients[who].api('DELETE', `/api/v1/comments/${comment.id}`);
      return { response, applied: async () => !(await commentIds(w, post.id)).includes(comment.id) };
    },
  },
  {
    action: 'hide a comment',
    expect: { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, w.commenter);
      const response = await w.clients[who].api('PUT', `/api/v1/comments/${comment.id}/status`, {
        status: 'hidden',
      });
      const applied = async () =>
        (await w.t.app.services.comments.listForPost(post.id, w.root))[0]?.status === 'hidden';
      return { response, applied };
    },
  },
  {
    action: 'create a post',
    expect: { visitor: 401, reader: 403, author: 201, editor: 201, admin: 201 },
    async run(w, who) {
      const title = `New by ${who} ${Math.random()}`;
      const response = await w.clients[who].api('POST', '/api/v1/posts', { title, status: 'published' });
      const applied = async () =>
        (await w.t.app.services.posts.list({ status: 'all', perPage: 50 }, w.root)).items.some(
          (p) => p.title === title,
        );
      return { response, applied };
    },
  },
  {
    // A reader's "own" post was written while they were an author; the role, not the
    // authorship, decides.
    action: 'edit own post',
    expect: { visitor: 401, reader: 403, author: 200, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, meOr(w, who, w.owner));
      const response = await w.clients[who].api('PATCH', `/api/v1/posts/${post.id}`, {
        title: 'Edited',
        version: post.version,
      });
      return {
        response,
        applied: async () => (await w.t.app.services.posts.get(post.id, w.root)).title === 'Edited',
      };
    },
  },
  {
    // A draft is hidden from those who may not manage it, so they get 404, not 403.
    action: 'publish own draft',
    expect: { visitor: 404, reader: 404, author: 200, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writeDraft(w.t.app, meOr(w, who, w.owner));
      const response = await w.clients[who].api('POST', `/api/v1/posts/${post.id}/publish`);
      const applied = async () => (await w.t.app.services.posts.get(post.id, w.root)).status === 'published';
      return { response, applied };
    },
  },
  {
    action: 'delete own post',
    expect: { visitor: 401, reader: 403, author: 204, editor: 204, admin: 204 },
    async run(w, who) {
      const post = await writePost(w.t.app, meOr(w, who, w.owner));
      const response = await w.clients[who].api('DELETE', `/api/v1/posts/${post.id}`);
      return { response, applied: () => postGone(w, post.id) };
    },
  },
  {
    action: "edit another's post",
    expect: { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].api('PATCH', `/api/v1/posts/${post.id}`, {
        body: 'Rewritten',
        version: post.version,
      });
      return {
        response,
        applied: async () => (await w.t.app.services.posts.get(post.id, w.root)).body === 'Rewritten',
      };
    },
  },
  {
    action: "unpublish another's post",
    expect: { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].api('POST', `/api/v1/posts/${post.id}/unpublish`);
      const applied = async () => (await w.t.app.services.posts.get(post.id, w.root)).status === 'draft';
      return { response, applied };
    },
  },
  {
    action: "publish another's draft",
    expect: { visitor: 404, reader: 404, author: 404, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writeDraft(w.t.app, w.owner);
      const response = await w.clients[who].api('POST', `/api/v1/posts/${post.id}/publish`);
      const applied = async () => (await w.t.app.services.posts.get(post.id, w.root)).status === 'published';
      return { response, applied };
    },
  },
  {
    action: "delete another's post",
    expect: { visitor: 401, reader: 403, author: 403, editor: 204, admin: 204 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].api('DELETE', `/api/v1/posts/${post.id}`);
      return { response, applied: () => postGone(w, post.id) };
    },
  },
  {
    action: "see another's draft",
    expect: { visitor: 404, reader: 404, author: 404, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writeDraft(w.t.app, w.owner);
      return { response: await w.clients[who].api('GET', `/api/v1/posts/${post.id}`) };
    },
  },
  {
    action: "list everyone's drafts",
    expect: { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 },
    async run(w, who) {
      await writeDraft(w.t.app, w.owner);
      return { response: await w.clients[who].api('GET', '/api/v1/posts?status=draft') };
    },
  },
  {
    action: 'list users',
    expect: { visitor: 401, reader: 403, author: 403, editor: 403, admin: 200 },
    async run(w, who) {
      return { response: await w.clients[who].api('GET', '/api/v1/users') };
    },
  },
  {
    action: 'change a role',
    expect: { visitor: 401, reader: 403, author: 403, editor: 403, admin: 200 },
    async run(w, who) {
      const target = await createUser(w.t.app, 'reader');
      const response = await w.clients[who].api('PUT', `/api/v1/users/${target.id}/role`, { role: 'author' });
      return {
        response,
        applied: async () => (await w.t.app.services.users.get(target.id)).role === 'author',
      };
    },
  },
  {
    action: 'change site settings',
    expect: { visitor: 401, reader: 403, author: 403, editor: 403, admin: 200 },
    async run(w, who) {
      const description = `Changed by ${who} ${Math.random()}`;
      const response = await w.clients[who].api('PATCH', '/api/v1/settings', {
        siteDescription: description,
      });
      return {
        response,
        applied: async () => (await w.t.app.services.settings.get()).siteDescription === description,
      };
    },
  },
];

/** 'login' is a redirect to the login page that returns here afterwards. */
type Page = 200 | 303 | 401 | 403 | 404 | 'login';

const HTML_CASES: Case<Page>[] = [
  ...(
    [
      ['/write', { visitor: 'login', reader: 403, author: 200, editor: 200, admin: 200 }],
      ['/my/posts', { visitor: 'login', reader: 403, author: 200, editor: 200, admin: 200 }],
      ['/admin', { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 }],
      ['/admin/posts', { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 }],
      ['/admin/comments', { visitor: 401, reader: 403, author: 403, editor: 200, admin: 200 }],
      ['/admin/users', { visitor: 401, reader: 403, author: 403, editor: 403, admin: 200 }],
      ['/admin/settings', { visitor: 401, reader: 403, author: 403, editor: 403, admin: 200 }],
    ] as const
  ).map(([path, expected]): Case<Page> => ({
    action: `open ${path}`,
    expect: expected,
    run: async (w, who) => ({ response: await w.clients[who].get(path) }),
  })),
  {
    action: 'comment with the form',
    expect: { visitor: 'login', reader: 303, author: 303, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].form(`/posts/${post.id}/comments`, { body: 'Via the form' });
      return { response, applied: async () => (await commentIds(w, post.id)).length === 1 };
    },
  },
  {
    action: 'delete own comment with the form',
    expect: { visitor: 401, reader: 303, author: 303, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, meOr(w, who, w.commenter));
      const response = await w.clients[who].form(`/comments/${comment.id}/delete`, {});
      return { response, applied: async () => !(await commentIds(w, post.id)).includes(comment.id) };
    },
  },
  {
    action: "delete another's comment with the form",
    expect: { visitor: 401, reader: 403, author: 403, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, w.commenter);
      const response = await w.clients[who].form(`/comments/${comment.id}/delete`, {});
      return { response, applied: async () => !(await commentIds(w, post.id)).includes(comment.id) };
    },
  },
  {
    action: 'hide a comment with the form',
    expect: { visitor: 401, reader: 403, author: 403, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const comment = await writeComment(w.t.app, post.id, w.commenter);
      const response = await w.clients[who].form(`/comments/${comment.id}/hide`, {});
      const applied = async () =>
        (await w.t.app.services.comments.listForPost(post.id, w.root))[0]?.status === 'hidden';
      return { response, applied };
    },
  },
  {
    action: "open the editor on another's post",
    expect: { visitor: 'login', reader: 403, author: 403, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      return { response: await w.clients[who].get(`/edit/${post.id}`) };
    },
  },
  {
    action: "open the editor on another's draft",
    expect: { visitor: 'login', reader: 404, author: 404, editor: 200, admin: 200 },
    async run(w, who) {
      const post = await writeDraft(w.t.app, w.owner);
      return { response: await w.clients[who].get(`/edit/${post.id}`) };
    },
  },
  {
    action: "save another's post with the editor form",
    expect: { visitor: 401, reader: 403, author: 403, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].form(`/edit/${post.id}`, {
        title: 'Taken over',
        body: post.body,
        status: 'published',
        version: String(post.version),
      });
      return {
        response,
        applied: async () => (await w.t.app.services.posts.get(post.id, w.root)).title === 'Taken over',
      };
    },
  },
  {
    action: 'save own post with the editor form',
    expect: { visitor: 401, reader: 403, author: 303, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, meOr(w, who, w.owner));
      const response = await w.clients[who].form(`/edit/${post.id}`, {
        title: 'Saved',
        body: post.body,
        status: 'published',
        version: String(post.version),
      });
      return {
        response,
        applied: async () => (await w.t.app.services.posts.get(post.id, w.root)).title === 'Saved',
      };
    },
  },
  {
    action: "delete another's post with the form",
    expect: { visitor: 401, reader: 403, author: 403, editor: 303, admin: 303 },
    async run(w, who) {
      const post = await writePost(w.t.app, w.owner);
      const response = await w.clients[who].form(`/edit/${post.id}/delete`, {});
      return { response, applied: () => postGone(w, post.id) };
    },
  },
  {
    action: 'save site settings with the form',
    expect: { visitor: 401, reader: 403, author: 403, editor: 403, admin: 303 },
    async run(w, who) {
      const description = `Form by ${who} ${Math.random()}`;
      const response = await w.clients[who].form('/admin/settings', {
        siteTitle: 'Inkstone',
        siteDescription: description,
        registrationOpen: 'on',
      });
      return {
        response,
        applied: async () => (await w.t.app.services.settings.get()).siteDescription === description,
      };
    },
  },
];

const dialects = await availableDialects();

describe.each(dialects)('permissions over HTTP on %s', (dialect) => {
  const w = {} as World;
  // Each describe below builds its own world, so the API and page cases never share rows.
  async function buildWorld() {
    w.t = await createTestApp(dialect);
    w.owner = await createUser(w.t.app, 'author');
    w.commenter = await createUser(w.t.app, 'reader');
    w.clients = { visitor: new Client(w.t.app) } as Record<Who, Client>;
    w.users = {} as Record<Role, User>;
    for (const role of ROLES) {
      const { user, client } = await signedIn(w.t.app, role);
      w.clients[role] = client;
      w.users[role] = user;
    }
    w.root = actorOf(w.users.admin);
  }

  describe('through the JSON API', () => {
    beforeAll(buildWorld);
    afterAll(async () => w.t?.close());

    for (const c of API_CASES) {
      it.each(WHO)(`${c.action}: %s`, async (who) => {
        const { response, applied } = await c.run(w, who);
        const expected = c.expect[who];
        expect(response.statusCode, response.body).toBe(expected);
        if (ERROR_CODES[expected]) expect(response.json().error.code).toBe(ERROR_CODES[expected]);
        if (applied) expect(await applied()).toBe(allowed(expected));
      });
    }
  });

  describe('through the HTML pages and forms', () => {
    beforeAll(buildWorld);
    afterAll(async () => w.t?.close());

    for (const c of HTML_CASES) {
      it.each(WHO)(`${c.action}: %s`, async (who) => {
        const { response, applied } = await c.run(w, who);
        const expected = c.expect[who];
        if (expected === 'login') {
          expect([302, 303]).toContain(response.statusCode);
          expect(response.headers.location).toMatch(/^\/login\?next=%2F/);
        } else {
          expect(response.statusCode).toBe(expected);
        }
        if (expected === 200 || (typeof expected === 'number' && expected >= 400)) {
          expect(response.headers['content-type']).toMatch(/^text\/html/);
        }
        if (expected === 401) expect(response.body).toContain('href="/login?next=');
        if (expected === 403) expect(response.body).toContain('Not allowed');
        if (applied) expect(await applied()).toBe(expected === 303);
      });
    }

    it.each(WHO)('change a role with the admin form: %s', async (who) => {
      const target = await createUser(w.t.app, 'reader');
      const response = await w.clients[who].form(`/admin/users/${target.id}/role`, { role: 'editor' });
      expect((await w.t.app.services.users.get(target.id)).role).toBe(who === 'admin' ? 'editor' : 'reader');
      if (who === 'admin') {
        expect(response.statusCode).toBe(303);
        expect(response.headers.location).toBe('/admin/users');
        const landing = await w.clients[who].get('/admin/users');
        expect(landing.body).toContain(`@${target.username} is now editor.`);
      } else {
        // Refused like every other form: the 401/403 page, not a redirect.
        expect(response.statusCode).toBe(who === 'visitor' ? 401 : 403);
        expect(response.headers['content-type']).toContain('text/html');
      }
    });
  });
});

// One test needs its admin to be the only one and the other makes a second: a site each.
describe.each(dialects)('role changes on %s', (dialect) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(dialect);
  });
  afterEach(async () => t?.close());

  it('refuses to demote the last admin (409) and allows it once there is another', async () => {
    const { user: first, client: firstClient } = await signedIn(t.app, 'admin');
    const refused = await firstClient.api('PUT', `/api/v1/users/${first.id}/role`, { role: 'editor' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('last_admin');
    expect(refused.json().error.fields).toHaveProperty('role');
    expect((await t.app.services.users.get(first.id)).role).toBe('admin');

    // The admin form says so too, and leaves the role alone.
    const viaForm = await firstClient.form(`/admin/users/${first.id}/role`, { role: 'reader' });
    expect(viaForm.statusCode).toBe(303);
    const flash = viaForm.cookies.find((c) => c.name === 'inkstone_flash');
    expect(flash?.value).toContain('The last admin cannot be demoted');
    expect((await t.app.services.users.get(first.id)).role).toBe('admin');

    const second = await createUser(t.app, 'reader');
    const promoted = await firstClient.api('PUT', `/api/v1/users/${second.id}/role`, { role: 'admin' });
    expect(promoted.statusCode).toBe(200);
    expect(promoted.json().role).toBe('admin');
    const stepDown = await firstClient.api('PUT', `/api/v1/users/${first.id}/role`, { role: 'editor' });
    expect(stepDown.statusCode).toBe(200);
    expect(stepDown.json().role).toBe('editor');

    const secondClient = await new Client(t.app).login(second.username, second.password);
    const last = await secondClient.api('PUT', `/api/v1/users/${second.id}/role`, { role: 'reader' });
    expect(last.statusCode).toBe(409);
  });

  it('applies a role change to an open session and an API token on the next request', async () => {
    const { client: admin } = await signedIn(t.app, 'admin');
    const { user, client } = await signedIn(t.app, 'reader');
    const post = { title: 'Promoted', status: 'published' };
    expect((await client.api('POST', '/api/v1/posts', post)).statusCode).toBe(403);
    expect((await client.get('/admin')).statusCode).toBe(403);

    expect((await admin.api('PUT', `/api/v1/users/${user.id}/role`, { role: 'editor' })).statusCode).toBe(
      200,
    );
    expect((await client.api('GET', '/api/v1/auth/me')).json().user.role).toBe('editor');
    expect((await client.api('POST', '/api/v1/posts', post)).statusCode).toBe(201);
    expect((await client.get('/admin')).statusCode).toBe(200);
    const { token } = (await client.api('POST', '/api/v1/tokens', { name: 'cli' })).json();
    const bearer = { authorization: `Bearer ${token}` };
    const drafts = () => t.app.inject({ method: 'GET', url: '/api/v1/posts?status=draft', headers: bearer });
    expect((await drafts()).statusCode).toBe(200);

    expect((await admin.api('PUT', `/api/v1/users/${user.id}/role`, { role: 'reader' })).statusCode).toBe(
      200,
    );
    expect((await client.api('POST', '/api/v1/posts', post)).statusCode).toBe(403);
    expect((await client.get('/admin')).statusCode).toBe(403);
    expect((await drafts()).statusCode).toBe(403);
  });
});
