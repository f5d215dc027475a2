import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors.js';
import { errors, ID_MAX, IdParams, NoContent, SIGNED_IN } from '../../http/schemas.js';
import { serializedOnce } from '../../http/serialized.js';
import { authorize } from '../access/permissions.js';
import { renderMarkdown } from './markdown.js';
import {
  BODY_MAX,
  PostCreateSchema,
  PostListQuerySchema,
  PostListSchema,
  PostPublishSchema,
  PostSchema,
  PostSearchQuerySchema,
  PostUpdateSchema,
  TagSchema,
  TagSlugParamsSchema,
} from './schemas.js';

export const postRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { posts } = app.services;
  // The published lists are the query cache's shared objects: each is serialised once.
  const sendList = serializedOnce();

  app.get(
    '/posts',
    {
      schema: {
        tags: ['posts'],
        summary: 'List posts, newest first',
        description:
          'The public sees published posts. `status` draft, scheduled or all lists unpublished posts: ' +
          'your own with `author=<your username>`, or anyone’s for editors. `q` searches.',
        querystring: PostListQuerySchema,
        response: { 200: PostListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => sendList(reply, await posts.list(request.query, request.actor)),
  );

  app.get(
    '/search',
    {
      schema: {
        tags: ['posts'],
        summary: 'Full-text search over published posts (any language, Chinese included)',
        querystring: PostSearchQuerySchema,
        response: { 200: PostListSchema, ...errors(400) },
      },
    },
    async (request) =>
      posts.search(request.query.q, request.query.page ?? 1, request.actor, {
        perPage: request.query.perPage,
      }),
  );

  app.get(
    '/posts/:idOrSlug',
    {
      schema: {
        tags: ['posts'],
        summary: 'One post by numeric id or by slug',
        params: Type.Object({ idOrSlug: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: PostSchema, ...errors(404) },
      },
    },
    async (request) => {
      const key = request.params.idOrSlug;
      // All digits is an id first; a post titled "2024" has the slug "2024", so fall back to it.
      const id = /^\d+$/.test(key) ? Number(key) : Number.NaN;
      if (!(id >= 1 && id <= ID_MAX)) return posts.get(key, request.actor);
      try {
        return await posts.get(id, request.actor);
      } catch (error) {
        if (error instanceof AppError && error.status === 404) return posts.get(key, request.actor);
        throw error;
      }
    },
  );

  app.post(
    '/posts',
    {
      schema: {
        tags: ['posts'],
        summary: 'Write a post (author and up); status draft (default), published or scheduled',
        security: SIGNED_IN,
        body: PostCreateSchema,
        response: { 201: PostSchema, ...errors(400, 401, 403, 409, 413) },
      },
    },
    async (request, reply) => reply.code(201).send(await posts.create(request.body, request.actor)),
  );

  app.patch(
    '/posts/:id',
    {
      schema: {
        tags: ['posts'],
        summary: 'Edit a post; send the `version` you loaded (a stale one gets 409)',
        security: SIGNED_IN,
        params: IdParams,
        body: PostUpdateSchema,
        response: { 200: PostSchema, ...errors(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => posts.update(request.params.id, request.body, request.actor),
  );

  app.post(
    '/posts/:id/publish',
    {
      schema: {
        tags: ['posts'],
        summary: 'Publish now, or at `publishedAt` (a future time schedules it)',
        security: SIGNED_IN,
        params: IdParams,
        body: Type.Optional(PostPublishSchema),
        'x-body-optional': true,
        response: { 200: PostSchema, ...errors(400, 401, 403, 404, 409) },
      },
      // A bare POST (no body) means "now"; AJV would otherwise refuse the missing body as "not an object".
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => posts.publish(request.params.id, request.actor, request.body?.publishedAt),
  );

  app.post(
    '/posts/:id/unpublish',
    {
      schema: {
        tags: ['posts'],
        summary: 'Back to draft',
        security: SIGNED_IN,
        params: IdParams,
        response: { 200: PostSchema, ...errors(401, 403, 404, 409) },
      },
    },
    async (request) => posts.unpublish(request.params.id, request.actor),
  );

  app.delete(
    '/posts/:id',
    {
      schema: {
        tags: ['posts'],
        summary: 'Delete a post and its comments',
        security: SIGNED_IN,
        params: IdParams,
        response: { 204: NoContent, ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await posts.delete(request.params.id, request.actor);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/tags',
    {
      schema: {
        tags: ['tags'],
        summary: 'Tags with their number of published posts',
        response: { 200: Type.Object({ items: Type.Array(TagSchema) }) },
      },
    },
    async () => ({ items: await posts.listTags() }),
  );

  app.get(
    '/tags/:slug',
    {
      schema: {
        tags: ['tags'],
        summary: 'One tag (list its posts with GET /posts?tag=slug)',
        params: TagSlugParamsSchema,
        response: { 200: TagSchema, ...errors(404) },
      },
    },
    async (request) => posts.getTag(request.params.slug),
  );

  app.post(
    '/render',
    {
      schema: {
        tags: ['posts'],
        summary: 'Render Markdown to sanitised HTML, as a post would show it (the editor preview)',
        security: SIGNED_IN,
        body: Type.Object(
          { markdown: Type.String({ maxLength: BODY_MAX }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ html: Type.String() }), ...errors(400, 401, 403, 413) },
      },
    },
    async (request) => {
      authorize(request.actor, 'post:create');
      return { html: renderMarkdown(request.body.markdown) };
    },
  );
};
