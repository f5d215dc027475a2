import cluster from 'node:cluster';
import { timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import fp from 'fastify-plugin';
import { aiGauges } from '../metrics/ai.js';
import { cacheMetrics } from '../metrics/cache.js';
import { answerClusterScrapes, scrapeThroughPrimary } from '../metrics/cluster.js';
import { dbMetrics } from '../metrics/db.js';
import { queueMetrics } from '../metrics/queue.js';
import { timeRedisCommands } from '../metrics/redis.js';
import { startMetricsServer } from '../metrics/server.js';

const METRICS_PATH = '/metrics';

/** Whether `header` is `Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header?.toLowerCase().startsWith('bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Prometheus metrics: the HTTP series from Fastify's hooks, the gauges that read the cache,
 * the pool and the AI queue at each scrape, and `/metrics` — on METRICS_PORT (a second server;
 * under `serve --workers N` the primary serves it for all workers, src/cluster.ts) and/or on the
 * main port behind METRICS_TOKEN. Neither set: not served, only counted. Registered before the
 * request context, whose hook would take the scrape's Bearer token for an API token.
 */
export const metricsPlugin = fp(
  async (app) => {
    const { metrics, services, database } = app;
    const { registry } = metrics;
    cacheMetrics(
      registry,
      () => app.cache.stats(),
      () => services.pageCache?.hot?.stats(),
    );
    const db = dbMetrics(registry, () => database.poolStats());
    const stopQueries = database.onQuery(db.query);
    aiGauges(registry, () => services.ai.load());
    const { jobQueue } = services;
    if (jobQueue) queueMetrics(registry, () => jobQueue.counts());
    const untimeRedis = app.redis ? timeRedisCommands(registry, app.redis) : undefined;
    counted(services.posts, 'create', metrics.users.postCreated);
    counted(services.users, 'create', metrics.users.userRegistered);

    // A callback hook, not an async one: no promise and microtask on every response.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.http.observe(
        request.method,
        request.routeOptions.url,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      const actor = (request as { actor?: { id: number } | null }).actor;
      if (actor) metrics.users.userSeen(actor.id);
      done();
    });

    const { token, port } = app.config.metrics;
    // Under `serve --workers N`, the main port's /metrics is the whole cluster's too (the
    // primary asks every worker); this worker's own series if the primary does not answer.
    const scrape = async () =>
      (cluster.isWorker ? await scrapeThroughPrimary() : undefined) ?? (await registry.metrics());
    if (token) {
      // In a hook, not the handler: it must answer before the request context's hook runs.
      app.addHook('onRequest', async (request, reply) => {
        if (request.routeOptions.url !== METRICS_PATH) return;
        if (!bearerMatches(request.headers.authorization, token)) {
          return reply
            .code(401)
            .header('www-authenticate', 'Bearer')
            .send({ error: { code: 'unauthorized', message: 'Send the METRICS_TOKEN as a Bearer token.' } });
        }
        return reply.type(registry.contentType).send(await scrape());
      });
      app.get(METRICS_PATH, { schema: { hide: true } }, async (_request, reply) =>
        reply.type(registry.contentType).send(await scrape()),
      );
    }

    if (cluster.isWorker) {
      // The primary serves METRICS_PORT and asks each worker for its registry over IPC.
      const stop = answerClusterScrapes(registry, metrics.users.activeIds);
      app.addHook('onClose', async () => stop());
    } else if (port !== undefined) {
      let server: Server | undefined;
      // At ready, not at listen: a port in use stops the start instead of being logged.
      app.addHook('onReady', async () => {
        server = await startMetricsServer(
          app.config.host,
          port,
          () => registry.metrics(),
          registry.contentType,
          (error) => app.log.error({ err: error }, 'metrics scrape failed'),
        );
      });
      app.addHook('onClose', async () => {
        server?.closeAllConnections();
        await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      });
    }
    app.addHook('onClose', async () => {
      stopQueries();
      untimeRedis?.();
    });
  },
  { name: 'metrics', dependencies: ['services', 'redis'], fastify: '5.x' },
);

/**
 * Counts each successful call of a service method. The services know nothing of metrics; this
 * wraps the one instance the composition root built, so every door (API, pages) is counted.
 */
function counted<T extends object, K extends keyof T>(target: T, method: K, count: () => void): void {
  const original = target[method];
  if (typeof original !== 'function') return;
  const call = original as (...args: unknown[]) => Promise<unknown>;
  target[method] = async function (this: unknown, ...args: unknown[]) {
    const result = await call.apply(this, args);
    if (result !== null && result !== undefined) count();
    return result;
  } as T[K];
}
