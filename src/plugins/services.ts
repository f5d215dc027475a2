import fp from 'fastify-plugin';
import { createServices, type ServiceOverrides, type Services } from '../services.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

/** The composition root as a plugin: services built once over the open database. */
export const servicesPlugin = fp<{ overrides?: ServiceOverrides }>(
  async (app, { overrides }) => {
    app.decorate('services', createServices(app.database, app.config, overrides));
  },
  { name: 'services', dependencies: ['database'], fastify: '5.x' },
);
