import cluster from 'node:cluster';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { scrapeJsonThroughPrimary } from '../../metrics/cluster.js';
import { errors } from '../../http/schemas.js';
import { metricsPage } from '../../views/admin-metrics.js';
import { authorize } from '../access/permissions.js';
import { MetricsSnapshot, metricsSnapshot } from './metrics-snapshot.js';

const PageQuery = Type.Object({
  every: Type.Integer({
    minimum: 1,
    maximum: 60,
    default: 5,
    description: 'seconds between two refreshes of the charts',
  }),
});

/**
 * /admin/metrics: live charts of the key series for people who run no Grafana, and the JSON
 * they poll. Admins only (the grant that manages the site's settings): the numbers describe
 * the whole site, its traffic and its users.
 */
export const adminMetricsPages: FastifyPluginAsyncTypebox = async (app) => {
  const { registry } = app.metrics;

  // Under `serve --workers N` the whole cluster, aggregated by the primary (as /metrics is);
  // this worker's own registry alone if the primary does not answer in time.
  const read = async (): Promise<MetricsSnapshot> => {
    const whole = cluster.isWorker ? await scrapeJsonThroughPrimary() : undefined;
    if (whole) return metricsSnapshot(whole.metrics, Date.now(), whole.workers);
    return metricsSnapshot(await registry.getMetricsAsJSON(), Date.now(), 1);
  };

  app.get('/admin/metrics', { schema: { hide: true, querystring: PageQuery } }, async (request, reply) => {
    authorize(request.actor, 'settings:manage');
    return reply.page(metricsPage({ everySeconds: request.query.every }));
  });

  // Cumulative totals, not rates: the page keeps the previous snapshot and divides the
  // difference by the time between them. Kept in the browser rather than in a ring here
  // because under `serve --workers N` each poll may reach another worker, and rings kept per
  // worker would each see every other poll; the browser sees them all, and the server stays
  // stateless whoever asks and however many pages are open.
  app.get(
    '/admin/metrics.json',
    { schema: { hide: true, response: { 200: MetricsSnapshot, ...errors(401, 403) } } },
    async (request, reply) => {
      authorize(request.actor, 'settings:manage');
      reply.header('cache-control', 'no-store');
      return read();
    },
  );
};
