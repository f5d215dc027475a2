import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { toPage } from '../../db/paging.js';
import { type FormFailure, submitForm } from '../../http/forms.js';
import { PageNumber } from '../../http/schemas.js';
import { adminPostsPage, dashboardPage, moderationPage, settingsPage } from '../../views/admin.js';
import { authorize, can } from '../access/permissions.js';
import { adminMetricsPages } from './metrics-pages.js';
import { StatusFilterQuery } from '../posts/schemas.js';

const PageQuery = Type.Object({ page: PageNumber });
const SettingsForm = Type.Object({
  siteTitle: Type.String({ minLength: 1, maxLength: 100 }),
  siteDescription: Type.String({ maxLength: 300 }),
  registrationOpen: Type.Optional(Type.String()),
  _csrf: Type.Optional(Type.String()),
});
const COMMENTS_PER_PAGE = 30;

/** The admin area: editors moderate posts and comments; admins also manage users and settings. */
export const adminPages: FastifyPluginAsyncTypebox = async (app) => {
  const { posts, comments, users, settings, ai } = app.services;
  await app.register(adminMetricsPages);

  app.get('/admin', { schema: { hide: true } }, async (request, reply) => {
    authorize(request.actor, 'comment:moderate');
    const [published, drafts, recent, userCount, aiStatus] = await Promise.all([
      posts.list({ perPage: 1 }, request.actor),
      posts.list({ status: 'draft', perPage: 1 }, request.actor),
      comments.moderationList(request.actor, 1, 5),
      can(request.actor, 'user:manage') ? users.count() : Promise.resolve(null),
      ai.status(),
    ]);
    return reply.page(
      dashboardPage({
        published: published.total,
        drafts: drafts.total,
        comments: recent.total,
        users: userCount,
        ai: aiStatus,
      }),
    );
  });

  app.get(
    '/admin/posts',
    { schema: { hide: true, querystring: StatusFilterQuery } },
    async (request, reply) => {
      authorize(request.actor, 'post:edit-any');
      const { status, page } = request.query;
      const list = await posts.list({ status, page, perPage: 30 }, request.actor);
      return reply.page(adminPostsPage({ status, list }));
    },
  );

  app.get('/admin/comments', { schema: { hide: true, querystring: PageQuery } }, async (request, reply) => {
    const { page } = request.query;
    const list = await comments.moderationList(request.actor, page, COMMENTS_PER_PAGE);
    const { totalPages } = toPage(list.items, page, COMMENTS_PER_PAGE, list.total);
    return reply.page(moderationPage({ list, page, totalPages }));
  });

  const showSettings = async (request: FastifyRequest, reply: FastifyReply, failure?: FormFailure) => {
    authorize(request.actor, 'settings:manage');
    return reply.page(settingsPage(await settings.get(), failure));
  };

  app.get('/admin/settings', { schema: { hide: true } }, async (request, reply) =>
    showSettings(request, reply),
  );

  app.post(
    '/admin/settings',
    { schema: { hide: true, body: SettingsForm }, attachValidation: true },
    async (request, reply) =>
      submitForm(request, reply, {
        run: () =>
          settings.update(request.actor, {
            siteTitle: request.body.siteTitle,
            siteDescription: request.body.siteDescription,
            registrationOpen: request.body.registrationOpen === 'on',
          }),
        done: () => ({ flash: 'Settings saved.', to: '/admin/settings' }),
        fail: (failure) => showSettings(request, reply, failure),
      }),
  );
};
