import fp from 'fastify-plugin';
import { type AppCache, createCache } from '../cache/cache.js';
import { type AppMetrics, createMetrics } from '../metrics/index.js';
import { createServices, type ServiceOverrides, type Services } from '../services.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    /** The cache module, for its statistics (`cache.stats()`; the metrics read them). */
    cache: AppCache;
    /** The metrics registry and the series services report to (src/metrics/). */
    metrics: AppMetrics;
  }
}

/** The composition root as a plugin: services built once over the open database. */
export const servicesPlugin = fp<{ overrides?: ServiceOverrides }>(
  async (app, { overrides }) => {
    const cache = await createCache({
      memoryMaxBytes: app.config.cache.memoryMaxBytes,
      redis: overrides?.redis ?? app.redis,
      prefix: app.config.redis?.prefix ?? 'inkstone:',
      log: app.log,
    });
    const metrics = createMetrics();
    const services = createServices(app.database, app.config, {
      log: app.log,
      cache,
      aiMetrics: metrics.ai.sink,
      ...(app.redis ? { redis: app.redis } : {}),
      ...overrides,
    });
    app.decorate('services', services);
    app.decorate('cache', cache);
    app.decorate('metrics', metrics);
    // Generations in flight end with the app, and in-process models free their memory.
    app.addHook('onClose', async () => {
      await services.ai.close();
      await services.jobQueue?.close();
      // Before the cache and Redis close: a write's purge just begun still reaches the CDN.
      await services.pagePurger?.close();
      await cache.close();
    });
  },
  { name: 'services', dependencies: ['database', 'redis'], fastify: '5.x' },
);
