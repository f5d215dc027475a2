import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errors, IdParams, SIGNED_IN } from '../../http/schemas.js';
import { requireUser } from '../access/permissions.js';
import { Pagination, ProfileUpdate, RoleUpdate, User, UserList } from './schemas.js';

export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { users } = app.services;
  const security = SIGNED_IN;

  app.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'All users (admin)',
        security,
        querystring: Pagination,
        response: { 200: UserList, ...errors(400, 401, 403) },
      },
    },
    async (request) => users.list(request.actor, request.query.page, request.query.perPage),
  );

  app.get(
    '/users/:username',
    {
      schema: {
        tags: ['users'],
        summary: 'A public profile',
        params: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: User, ...errors(404) },
      },
    },
    async (request) => users.getByUsername(request.params.username, request.actor),
  );

  app.patch(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Edit your display name and bio',
        security,
        body: ProfileUpdate,
        response: { 200: User, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      requireUser(request.actor);
      return users.updateProfile(request.actor, request.body);
    },
  );

  app.put(
    '/users/:id/role',
    {
      schema: {
        tags: ['users'],
        summary: "Change a user's role (admin); the last admin cannot be demoted",
        security,
        params: IdParams,
        body: RoleUpdate,
        response: { 200: User, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request) => users.setRole(request.actor, request.params.id, request.body.role),
  );
};
