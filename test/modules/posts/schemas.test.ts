import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  PostCreateSchema,
  PostListQuerySchema,
  PostUpdateSchema,
} from '../../../src/modules/posts/schemas.js';

// The schemas must compile in Fastify's own AJV (the slug pattern uses \p{…} classes).
async function validator() {
  const app = Fastify();
  app.post('/create', { schema: { body: PostCreateSchema } }, async (request) => request.body);
  app.patch('/update', { schema: { body: PostUpdateSchema } }, async (request) => request.body);
  app.get('/list', { schema: { querystring: PostListQuerySchema } }, async (request) => request.query);
  await app.ready();
  return app;
}

describe('post schemas in Fastify', () => {
  it('accepts a valid create body with a Unicode slug', async () => {
    const app = await validator();
    const payload = {
      title: 'Hi',
      slug: '你好-世界',
      tags: ['a'],
      status: 'scheduled',
      publishedAt: '2030-01-01T00:00:00Z',
    };
    const response = await app.inject({ method: 'POST', url: '/create', payload });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(payload);
  });

  it('rejects an empty title, a bad slug, too many tags, a bad status and a bad date', async () => {
    const app = await validator();
    for (const [payload, path] of [
      [{ title: '' }, 'title'],
      [{ title: 'x'.repeat(201) }, 'title'],
      [{ title: 'a', slug: 'has space' }, 'slug'],
      [{ title: 'a', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
      [{ title: 'a', tags: ['x'.repeat(41)] }, 'tags'],
      [{ title: 'a', status: 'live' }, 'status'],
      [{ title: 'a', publishedAt: 'tomorrow' }, 'publishedAt'],
    ] as const) {
      const response = await app.inject({ method: 'POST', url: '/create', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().message).toContain(path);
    }
  });

  it('requires version on update', async () => {
    const app = await validator();
    expect((await app.inject({ method: 'PATCH', url: '/update', payload: { title: 'x' } })).statusCode).toBe(
      400,
    );
    const ok = await app.inject({
      method: 'PATCH',
      url: '/update',
      payload: { title: 'x', version: 3, excerpt: null },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('fills list defaults and bounds perPage', async () => {
    const app = await validator();
    expect((await app.inject({ url: '/list' })).json()).toEqual({ page: 1, perPage: 10 });
    expect((await app.inject({ url: '/list?perPage=51' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/list?page=0' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/list?status=all&author=alice&page=2' })).json()).toEqual({
      page: 2,
      perPage: 10,
      status: 'all',
      author: 'alice',
    });
  });
});
