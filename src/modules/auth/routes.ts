import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unauthorized } from '../../errors.js';
import { SESSION_COOKIE } from '../../http/request-context.js';
import { errors, IdParams, NoContent, SIGNED_IN } from '../../http/schemas.js';
import { NewUser } from '../users/schemas.js';
import { requireUser } from '../access/permissions.js';
import { ApiTokenSchema, CreatedToken, LoginBody, NewToken, PasswordChange, SessionInfo } from './schemas.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { auth, users } = app.services;

  app.post(
    '/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account (role reader) and sign in',
        body: NewUser,
        response: { 201: SessionInfo, ...errors(400, 403, 409, 413) },
      },
    },
    async (request, reply) => {
      const user = await auth.register(request.body);
      await reply.signIn(user.id);
      return reply.code(201).send({ user, csrfToken: reply.csrfToken() });
    },
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with username or email; sets the session cookie',
        body: LoginBody,
        response: { 200: SessionInfo, ...errors(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const user = await auth.login(request.body.login, request.body.password, request.ip);
      await reply.signIn(user.id);
      return { user, csrfToken: reply.csrfToken() };
    },
  );

  app.post(
    '/auth/logout',
    { schema: { tags: ['auth'], summary: 'End this session', response: { 204: NoContent, ...errors(403) } } },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      if (token) await auth.logout(token);
      return reply.endSession().code(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        security: SIGNED_IN,
        response: { 200: SessionInfo, ...errors(401) },
      },
    },
    async (request, reply) => {
      if (!request.actor) throw unauthorized();
      return { user: await users.get(request.actor.id, request.actor), csrfToken: reply.csrfToken() };
    },
  );

  app.put(
    '/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change password; signs out every other session',
        security: SIGNED_IN,
        body: PasswordChange,
        response: { 204: NoContent, ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { currentPassword, newPassword } = request.body;
      await auth.changePassword(request.actor, currentPassword, newPassword, request.cookies[SESSION_COOKIE]);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Your API tokens',
        security: SIGNED_IN,
        response: { 200: Type.Object({ items: Type.Array(ApiTokenSchema) }), ...errors(401) },
      },
    },
    async (request) => ({ items: await auth.listTokens(request.actor) }),
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a personal API token (shown once)',
        security: SIGNED_IN,
        body: NewToken,
        response: { 201: CreatedToken, ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      requireUser(request.actor);
      return reply.code(201).send(await auth.createToken(request.actor, request.body.name));
    },
  );

  app.delete(
    '/tokens/:id',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke a token',
        security: SIGNED_IN,
        params: IdParams,
        response: { 204: NoContent, ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await auth.revokeToken(request.actor, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
