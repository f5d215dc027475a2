import { createServer } from 'node:http';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { DbHandle } from './db/index.js';
import { registerDocs } from './http/docs.js';
import { createFrontDoor } from './http/front-door.js';
import { healthRoutes } from './http/health.js';
import { registerInputGuard } from './http/input-guard.js';
import { type AppLoggerOptions, appLogger, requestIdFrom } from './http/logging.js';
import { pagesPlugin } from './http/pages.js';
import { loadShedding } from './http/pressure.js';
import { registerRequestContext } from './http/request-context.js';
import { registerFingerprintedAssets } from './http/static-assets.js';
import { registerResponseHeaders } from './http/timing.js';
import { adminPages } from './modules/admin/pages.js';
import { openAiRoutes } from './modules/ai/openai-routes.js';
import { jobRoutes } from './modules/ai/jobs-routes.js';
import { aiPages } from './modules/ai/pages.js';
import { aiRoutes } from './modules/ai/routes.js';
import { authPages } from './modules/auth/pages.js';
import { authRoutes } from './modules/auth/routes.js';
import { commentPages } from './modules/comments/pages.js';
import { commentRoutes } from './modules/comments/routes.js';
import { editorPages } from './modules/posts/editor-pages.js';
import { accountPages } from './modules/users/account-pages.js';
import { postPages } from './modules/posts/pages.js';
import { postRoutes } from './modules/posts/routes.js';
import { settingsRoutes } from './modules/settings/routes.js';
import { userPages } from './modules/users/pages.js';
import { userRoutes } from './modules/users/routes.js';
import { databasePlugin } from './plugins/database.js';
import { metricsPlugin } from './plugins/metrics.js';
import { queuePlugin } from './plugins/queue.js';
import { redisPlugin } from './plugins/redis.js';
import { servicesPlugin } from './plugins/services.js';
import { tracingPlugin } from './tracing/plugin.js';
import { assets, PUBLIC_DIR } from './views/assets.js';
import type { ServiceOverrides } from './services.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
  }
}

const WORKER_HEADER = 'x-inkstone-worker';

export interface AppOptions {
  config: Config;
  /** An open database (tests pass theirs); otherwise one is opened from config and migrated. */
  database?: DbHandle;
  /** Collaborators to swap (a clock, a password hasher, …); see createServices. */
  overrides?: ServiceOverrides;
  /** false: no log; otherwise the level (config's when not given) and, for tests, a stream. */
  logger?: false | AppLoggerOptions;
  /** Tests: false makes the app shed load as if overloaded (see src/http/pressure.ts). */
  healthy?: () => boolean;
  /**
   * A worker of `serve --workers N`: its id (the pid), sent on every response as
   * x-inkstone-worker, for whoever checks the balancing (and the tests).
   */
  worker?: string;
}

export async function buildApp({
  config,
  database,
  overrides,
  logger,
  healthy,
  worker,
}: AppOptions): Promise<FastifyInstance> {
  // Anonymous page-cache hits are answered before Fastify (src/http/front-door.ts); the
  // services, and so the hot page store, exist by the time the server takes requests.
  const built: { services?: FastifyInstance['services']; metrics?: FastifyInstance['metrics'] } = {};
  // With traces exported, every request goes through Fastify, which gives it a span (and the
  // page-cache hit its cache-lookup child): a trace store wants each request, and the front
  // door's microseconds matter less than a request missing from the trace.
  const exporting = config.tracing.endpoint !== undefined;
  const frontDoor = createFrontDoor(
    () => (exporting ? undefined : built.services?.pageCache?.hot),
    (method, status, seconds) => built.metrics?.http.frontDoorHit(method, status, seconds),
    worker === undefined ? [] : [WORKER_HEADER, worker],
  );
  const app = Fastify({
    serverFactory: (handler) =>
      createServer((request, response) => {
        if (frontDoor(request, response)) return;
        // Here, ahead of Fastify, so that every route has it (Node merges it into the reply's headers).
        if (worker !== undefined) response.setHeader(WORKER_HEADER, worker);
        handler(request, response);
      }),
    logger: logger === false ? false : appLogger(logger ?? { level: config.logLevel }),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    genReqId: (req) => requestIdFrom(req.headers),
    requestIdHeader: false,
    // Requests Node cannot even parse (a raw non-ASCII URL, a broken header) still get the one error shape.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return;
      const body = JSON.stringify({
        error: {
          code: 'bad_request',
          message: `The HTTP request is malformed (${(error as NodeJS.ErrnoException).code ?? 'parse error'}); percent-encode non-ASCII characters in URLs.`,
        },
      });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('config', config);
  // Outside parts, one plugin each, opened here and closed with the app.
  await app.register(databasePlugin, { database });
  // First of the request hooks: everything a request does runs in its trace context.
  await app.register(tracingPlugin);
  await app.register(redisPlugin);
  await app.register(servicesPlugin, {
    overrides: app.tracing ? { tracing: app.tracing, ...overrides } : overrides,
  });
  built.services = app.services;
  // Before every route and the request context: its hooks see them all (src/plugins/metrics.ts).
  await app.register(metricsPlugin);
  built.metrics = app.metrics;
  await app.register(queuePlugin);
  registerResponseHeaders(app);

  await app.register(cookie, { secret: config.sessionSecret });
  await app.register(formbody, { bodyLimit: config.bodyLimit });
  // After the cookie parser (it reads the session cookie) and before every route (it adds a
  // check after the page-cache lookup to cacheable ones).
  await app.register(loadShedding, { config: config.pressure, ...(healthy ? { healthy } : {}) });
  // Pages link fingerprinted names, kept a year (src/http/static-assets.ts); plain names still
  // work, cached briefly since a deploy changes what they hold. Hashed now, at start-up.
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/static/',
    maxAge: config.env === 'production' ? '5m' : 0,
  });
  registerFingerprintedAssets(app, assets());
  await registerDocs(app);
  registerInputGuard(app);
  registerRequestContext(app, config, app.services.auth);
  await app.register(pagesPlugin);

  await app.register(healthRoutes);

  await app.register(
    async (api) => {
      await api.register(authRoutes);
      await api.register(userRoutes);
      await api.register(settingsRoutes);
      await api.register(postRoutes);
      await api.register(commentRoutes);
      await api.register(aiRoutes);
      await api.register(jobRoutes);
    },
    { prefix: '/api/v1' },
  );
  await app.register(openAiRoutes);
  await app.register(authPages);
  await app.register(userPages);
  await app.register(accountPages);
  await app.register(postPages);
  await app.register(editorPages);
  await app.register(commentPages);
  await app.register(adminPages);
  await app.register(aiPages);
  return app;
}
