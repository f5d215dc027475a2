import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { asFormFailure, safeNext } from '../../http/forms.js';
import { IdParams } from '../../http/schemas.js';
import { COMMENT_MAX } from './schemas.js';

const Back = Type.Object({ next: Type.Optional(Type.String()), _csrf: Type.Optional(Type.String()) });

/** Form posts behind the comment section on post pages; each redirects back to the post. */
export const commentPages: FastifyPluginAsyncTypebox = async (app) => {
  const { comments, posts } = app.services;

  app.post(
    '/posts/:id/comments',
    {
      schema: {
        hide: true,
        params: IdParams,
        body: Type.Object({
          body: Type.String({ maxLength: COMMENT_MAX }),
          _csrf: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const post = await posts.get(request.params.id, request.actor);
      try {
        const comment = await comments.create(post.id, request.body.body, request.actor);
        reply.flash('success', 'Comment posted.');
        return reply.redirect(`${post.url}#comment-${comment.id}`, 303);
      } catch (error) {
        const failure = asFormFailure(error);
        if (failure.status === 401) return reply.redirect(`/login?next=${encodeURIComponent(post.url)}`, 303);
        reply.flash('error', Object.values(failure.fields)[0] ?? failure.message);
        return reply.redirect(`${post.url}#comment-form`, 303);
      }
    },
  );

  app.post(
    '/comments/:id/delete',
    { schema: { hide: true, params: IdParams, body: Back } },
    async (request, reply) => {
      const removed = await comments.delete(request.params.id, request.actor);
      reply.flash('success', 'Comment deleted.');
      return reply.redirect(
        safeNext(request.body.next, `/posts/${encodeURIComponent(removed.post?.slug ?? '')}`),
        303,
      );
    },
  );

  for (const [action, status] of [
    ['hide', 'hidden'],
    ['show', 'visible'],
  ] as const) {
    app.post(
      `/comments/:id/${action}`,
      { schema: { hide: true, params: IdParams, body: Back } },
      async (request, reply) => {
        const comment = await comments.setStatus(request.params.id, status, request.actor);
        reply.flash('success', status === 'hidden' ? 'Comment hidden.' : 'Comment shown again.');
        return reply.redirect(
          safeNext(request.body.next, `/posts/${encodeURIComponent(comment.post?.slug ?? '')}`),
          303,
        );
      },
    );
  }
};
