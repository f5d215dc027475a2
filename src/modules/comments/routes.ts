import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errors, IdParams, NoContent, PageNumber, SIGNED_IN } from '../../http/schemas.js';
import {
  CommentListSchema,
  CommentSchema,
  CommentStatusSchema,
  CommentStatusUpdateSchema,
  NewCommentSchema,
} from './schemas.js';

export const commentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { comments } = app.services;

  app.get(
    '/posts/:id/comments',
    {
      schema: {
        tags: ['comments'],
        summary: "A post's comments, oldest first (moderators also see hidden ones)",
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(CommentSchema) }), ...errors(404) },
      },
    },
    async (request) => ({ items: await comments.listForPost(request.params.id, request.actor) }),
  );

  app.post(
    '/posts/:id/comments',
    {
      schema: {
        tags: ['comments'],
        summary: 'Comment on a published post',
        security: SIGNED_IN,
        params: IdParams,
        body: NewCommentSchema,
        response: { 201: CommentSchema, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await comments.create(request.params.id, request.body.body, request.actor)),
  );

  app.delete(
    '/comments/:id',
    {
      schema: {
        tags: ['comments'],
        summary: 'Delete a comment (its writer, or an editor/admin)',
        security: SIGNED_IN,
        params: IdParams,
        response: { 204: NoContent, ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await comments.delete(request.params.id, request.actor);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/comments/:id/status',
    {
      schema: {
        tags: ['comments'],
        summary: 'Hide or show a comment (editor/admin)',
        security: SIGNED_IN,
        params: IdParams,
        body: CommentStatusUpdateSchema,
        response: { 200: CommentSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => comments.setStatus(request.params.id, request.body.status, request.actor),
  );

  app.get(
    '/comments',
    {
      schema: {
        tags: ['comments'],
        summary: 'Newest comments on every post, for moderation (editor/admin)',
        security: SIGNED_IN,
        querystring: Type.Object({
          page: PageNumber,
          perPage: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          status: Type.Optional(CommentStatusSchema),
        }),
        response: { 200: CommentListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) =>
      comments.moderationList(request.actor, request.query.page, request.query.perPage, request.query.status),
  );
};
