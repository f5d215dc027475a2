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
    const services = createServices(app.database, app.config, {
      log: app.log,
      ...(app.redis ? { redis: app.redis } : {}),
      ...overrides,
    });
    app.decorate('services', services);
    // Generations in flight end with the app, and in-process models free their memory.
    app.addHook('onClose', async () => {
      await services.ai.close();
      await services.jobQueue?.close();
    });
  },
  { name: 'services', dependencies: ['database', 'redis'], fastify: '5.x' },
);
