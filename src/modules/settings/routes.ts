import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors, SIGNED_IN } from '../../http/schemas.js';
import { SettingsUpdate, SiteSettings } from './service.js';

export const settingsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { settings } = app.services;

  app.get(
    '/settings',
    { schema: { tags: ['settings'], summary: 'Site settings', response: { 200: SiteSettings } } },
    async () => settings.get(),
  );

  app.patch(
    '/settings',
    {
      schema: {
        tags: ['settings'],
        summary: 'Change site settings (admin)',
        security: SIGNED_IN,
        body: SettingsUpdate,
        response: { 200: SiteSettings, ...errors(400, 401, 403) },
      },
    },
    async (request) => settings.update(request.actor, request.body),
  );
};
