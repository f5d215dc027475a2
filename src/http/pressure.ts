import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { PressureConfig } from '../config.js';
import { wantsHtml } from './errors.js';
import { FLASH_COOKIE, SESSION_COOKIE } from './request-context.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** True while expensive requests are refused (under-pressure's isUnderPressure, after the start). */
    isOverloaded(): boolean;
  }
}

export interface LoadSheddingOptions {
  config: PressureConfig;
  /**
   * A signal of our own besides the thresholds (tests force overload with it): false sheds as
   * a threshold does. Asked every `checkIntervalMs`.
   */
  healthy?: () => boolean;
  checkIntervalMs?: number;
}

// Never shed: the load balancer's probes (shedding them would take the instance out and move its
// load onto the others), and files that cost a read from the page cache's neighbour, the disk.
const NEVER_SHED = ['/healthz', '/readyz', '/robots.txt'];
const STATIC_PREFIX = '/static/';

// under-pressure measures the mean event-loop delay over one-second samples from the moment it
// is registered, so the first samples cover the start itself (compiling schemas, migrations):
// more than a second of delay on a small machine. Its verdict counts from two samples after
// ready, so that the first requests of a fresh instance are not refused for its own start.
const SAMPLE_INTERVAL_MS = 1000;
const STARTUP_GRACE_MS = 2 * SAMPLE_INTERVAL_MS;

// A warning per overload episode, not per refused request: episodes less than this apart are one.
const EPISODE_GAP_MS = 10_000;

/**
 * Under overload (event-loop delay, heap or RSS over its threshold, measured by
 * @fastify/under-pressure once a second), expensive requests get 503 with Retry-After while
 * what is cheap keeps being served.
 *
 * Cheap: /healthz, static files, and a page an anonymous reader may get from the page cache.
 * That last one is only known after the lookup (a preHandler, after the session is resolved),
 * while under-pressure decides in onRequest. So an anonymous GET of a cacheable route is let
 * through onRequest and refused only if the lookup missed (a route-level preHandler, which runs
 * after the global lookup); everything else (a signed-in reader's page, API reads and writes,
 * search on a miss, AI) is refused in onRequest, before its session lookup or body parsing.
 */
export const loadShedding = fp<LoadSheddingOptions>(
  async (app, { config, healthy, checkIntervalMs = 100 }) => {
    const heapLimit = getHeapStatistics().heap_size_limit;
    const retryAfter = config.retryAfterSeconds;
    const message = `The server is overloaded; try again in ${retryAfter} seconds.`;
    const json = JSON.stringify({ error: { code: 'overloaded', message } });
    const page = `<!doctype html><meta charset="utf-8"><title>Busy right now</title>
<h1>Busy right now</h1>
<p>This site has more visitors than it can serve at the moment. Please try again in ${retryAfter} seconds.</p>`;

    // Requests let through onRequest only because the page cache may answer them.
    const onMiss = new WeakSet<FastifyRequest>();
    let lastShedAt = -Infinity;
    let shedInEpisode = 0;
    let judgedFrom = Infinity;
    app.addHook('onReady', async () => {
      judgedFrom = performance.now() + STARTUP_GRACE_MS;
    });
    const started = () => performance.now() >= judgedFrom;
    app.decorate('isOverloaded', () => started() && app.isUnderPressure());

    const shed = (request: FastifyRequest, reply: FastifyReply, type: string, value: unknown) => {
      const now = performance.now();
      if (now - lastShedAt > EPISODE_GAP_MS) {
        app.log.warn(
          { type, value, refusedBefore: shedInEpisode },
          'overloaded: answering expensive requests 503 until the load falls',
        );
        shedInEpisode = 0;
      }
      lastShedAt = now;
      shedInEpisode++;
      reply.code(503).header('retry-after', String(retryAfter)).header('cache-control', 'no-store');
      if (wantsHtml(request)) reply.type('text/html; charset=utf-8').send(page);
      else reply.type('application/json; charset=utf-8').send(json);
    };

    app.addHook('onRoute', (route: RouteOptions) => {
      if (route.config?.pageCache !== true) return;
      const own = route.preHandler ? [route.preHandler].flat() : [];
      route.preHandler = [
        async (request: FastifyRequest, reply: FastifyReply) => {
          if (!onMiss.has(request) || reply.sent) return;
          // The load may have fallen since onRequest; a render now is not a risk any more.
          if (!app.isOverloaded()) return;
          shed(request, reply, 'pageCacheMiss', undefined);
          return reply;
        },
        ...own,
      ];
    });

    await app.register(underPressure, {
      maxEventLoopDelay: config.maxEventLoopDelayMs,
      maxHeapUsedBytes: Math.floor((heapLimit * config.maxHeapPercent) / 100),
      maxRssBytes: config.maxRssBytes,
      retryAfter,
      sampleInterval: SAMPLE_INTERVAL_MS,
      ...(healthy ? { healthCheck: async () => healthy(), healthCheckInterval: checkIntervalMs } : {}),
      pressureHandler: (request, reply, type, value) => {
        if (!started()) return;
        const path = request.url;
        if (NEVER_SHED.includes(path.split('?')[0] ?? path) || path.startsWith(STATIC_PREFIX)) return;
        if (mayBeCached(request)) {
          onMiss.add(request);
          return;
        }
        shed(request, reply, type, value);
      },
    });
  },
  { name: 'load-shedding', fastify: '5.x' },
);

/**
 * What the page cache may answer: an anonymous GET of a cacheable route (isAnonymousRead in
 * page-cache.ts, without the actor, which is not known yet: a session cookie is enough to
 * go without the cache).
 */
function mayBeCached(request: FastifyRequest): boolean {
  return (
    (request.method === 'GET' || request.method === 'HEAD') &&
    request.routeOptions.config.pageCache === true &&
    request.cookies[SESSION_COOKIE] === undefined &&
    request.cookies[FLASH_COOKIE] === undefined &&
    request.headers.authorization === undefined
  );
}
