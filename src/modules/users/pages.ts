import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { asFormFailure } from '../../http/forms.js';
import { IdParams, PageNumber } from '../../http/schemas.js';
import { usersPage } from '../../views/admin.js';
import { authorize } from '../access/permissions.js';
import { RoleSchema } from './schemas.js';

/** Admin: users and their roles. */
export const userPages: FastifyPluginAsyncTypebox = async (app) => {
  const { users } = app.services;

  app.get(
    '/admin/users',
    { schema: { hide: true, querystring: Type.Object({ page: PageNumber }) } },
    async (request, reply) => {
      authorize(request.actor, 'user:manage');
      const list = await users.list(request.actor, request.query.page, 50);
      return reply.page(usersPage(list));
    },
  );

  app.post(
    '/admin/users/:id/role',
    {
      schema: {
        hide: true,
        params: IdParams,
        body: Type.Object({ role: RoleSchema, _csrf: Type.Optional(Type.String()) }),
      },
    },
    async (request, reply) => {
      authorize(request.actor, 'user:manage');
      try {
        const user = await users.setRole(request.actor, request.params.id, request.body.role);
        reply.flash('success', `@${user.username} is now ${user.role}.`);
      } catch (error) {
        reply.flash('error', asFormFailure(error).message);
      }
      return reply.redirect('/admin/users', 303);
    },
  );
};
