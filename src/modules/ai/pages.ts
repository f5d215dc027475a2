import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { PageNumber } from '../../http/schemas.js';
import { generationsPage } from '../../views/generations.js';

const PER_PAGE = 20;

/** "My generations": a user's AI jobs with status and output; admins may see everyone's. */
export const aiPages: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs } = app.services;

  app.get(
    '/my/generations',
    {
      schema: {
        hide: true,
        querystring: Type.Object({ page: PageNumber, all: Type.Optional(Type.String({ maxLength: 5 })) }),
      },
    },
    async (request, reply) => {
      if (!request.actor) return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
      const { page, all } = request.query;
      // One more than a page tells whether there is a next one, without a count.
      const { everyone, items } = await jobs.list(request.actor, {
        all: all === '1',
        limit: PER_PAGE + 1,
        offset: (page - 1) * PER_PAGE,
      });
      return reply.page(
        generationsPage({
          items: items.slice(0, PER_PAGE),
          everyone,
          page,
          hasMore: items.length > PER_PAGE,
        }),
      );
    },
  );
};
