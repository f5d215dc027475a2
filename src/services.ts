import type { Redis } from 'ioredis';
import type { AppCache } from './cache/cache.js';
import { HotPages } from './cache/hot-pages.js';
import { SharedBodies } from './cache/shared-bodies.js';
import { noPageCache, PageCache, type PageCacheListener } from './cache/page-cache.js';
import { clusterPageIndex } from './cache/ipc-bus.js';
import { clusterJobPeers } from './cluster-jobs.js';
import { MemoryPageIndex, PagePurger, RedisPageIndex } from './cache/purge.js';
import { QueryCache } from './cache/query-cache.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import type { DbHandle } from './db/index.js';
import { type LoginLimiter, MemoryLoginLimiter } from './modules/auth/login-limiter.js';
import { FallbackLoginLimiter, RedisLoginLimiter } from './modules/auth/redis-login-limiter.js';
import { AuthRepository } from './modules/auth/repository.js';
import { AuthService } from './modules/auth/service.js';
import { MemoryGenerationCache } from './modules/ai/cache.js';
import { Dispatcher } from './modules/ai/dispatcher.js';
import { MemoryUsageLimiter } from './modules/ai/limiter.js';
import { createProvider } from './modules/ai/providers/index.js';
import type { Provider } from './modules/ai/providers/types.js';
import { RedisEventStream } from './modules/ai/event-stream.js';
import { JobRunner } from './modules/ai/job-runner.js';
import { type DurableJobs, JobsService } from './modules/ai/jobs.js';
import { JobsRepository } from './modules/ai/jobs-repository.js';
import type { AiMetricsSink } from './modules/ai/metrics-sink.js';
import { GenerationsRepository } from './modules/ai/repository.js';
import { createSharedAiState, RedisFallback } from './modules/ai/redis-fallback.js';
import { ModelRouter } from './modules/ai/router.js';
import { AiService } from './modules/ai/service.js';
import { RedisFlights } from './modules/ai/flights.js';
import { WebhookSender, webhookSecret } from './modules/ai/webhooks.js';
import { CommentsRepository } from './modules/comments/repository.js';
import { CommentsService } from './modules/comments/service.js';
import { PostsRepository } from './modules/posts/repository.js';
import { PostsService } from './modules/posts/service.js';
import { JobQueue } from './queue/bullmq.js';
import { SettingsRepository } from './modules/settings/repository.js';
import { SettingsService } from './modules/settings/service.js';
import { type PasswordHasher, scryptHasher } from './modules/users/password.js';
import { UsersRepository } from './modules/users/repository.js';
import { UsersService } from './modules/users/service.js';
import type { Tracing } from './tracing/tracing.js';

/**
 * The outside parts services are built from. Tests (and later the AI, cache, queue and
 * metrics plugins) pass their own; anything not given gets the production default.
 */
export interface Collaborators {
  clock: Clock;
  passwordHasher: PasswordHasher;
  /** Model providers by the names the AI config gives them (tests: fakes or fake servers). */
  providers: Map<string, Provider>;
  /** Where AI failures are logged (the app's logger). */
  log: {
    info(object: object, message: string): void;
    warn(object: object, message: string): void;
    error(object: object, message: string): void;
  };
  /** The shared Redis (REDIS_URL): AI limits and cache count for every instance. Absent: per process. */
  redis: Redis;
  /** The cache module (src/cache/cache.ts); absent: no page cache. */
  cache: AppCache;
  /** Where the AI pipeline reports for the metrics (src/metrics/ai.ts); absent: nowhere. */
  aiMetrics: AiMetricsSink;
  /** Span export (src/tracing/): spans for cache lookups and model calls; absent: none. */
  tracing: Tracing;
}

export type ServiceOverrides = Partial<Collaborators>;

/** The composition root: every service gets exactly the collaborators it uses. */
export function createServices(handle: DbHandle, config: Config, overrides: ServiceOverrides = {}) {
  const { db } = handle;
  const clock = overrides.clock ?? systemClock;
  const { tracing } = overrides;
  if (tracing) overrides.cache?.onLookup((lookup) => tracing.cacheLookup(lookup));
  const hasher = overrides.passwordHasher ?? scryptHasher();
  const pagePurger = createPurger(config, clock, overrides);
  const pageCache =
    overrides.cache && config.cache.pageTtlSeconds > 0
      ? createPageCache(overrides.cache, config, overrides.log ?? console, pagePurger)
      : undefined;
  // The hot reads (src/cache/query-cache.ts), invalidated by the page cache's tags.
  const queries =
    overrides.cache && config.cache.queryTtlSeconds > 0
      ? new QueryCache(overrides.cache.namespace('queries'), {
          ttlMs: config.cache.queryTtlSeconds * 1000,
          now: () => clock.now().getTime(),
          log: overrides.log ?? console,
          // Its objects are a second copy of part of the L1's (which holds them serialised).
          hotMaxBytes: config.cache.memoryMaxBytes / 4,
          // A hit of its object layer is in process memory: the traces show it as an L1 hit.
          ...(tracing
            ? {
                hotHit: (ms: number) =>
                  tracing.cacheLookup({ namespace: 'queries', outcome: 'hit', layer: 'l1', ms }),
              }
            : {}),
        })
      : undefined;
  // Tags are one set for every namespace of the cache module: the page cache's invalidation
  // reaches the cached queries in the same epoch; with no page cache, the query cache's does.
  const pages = queries ? queries.invalidator(pageCache) : (pageCache ?? noPageCache);
  if (queries) overrides.cache?.onRemoteInvalidation(() => queries.dropHot());
  const users = new UsersService({ repo: new UsersRepository(db), hasher, clock, pages, queries });
  const settings = new SettingsService(
    new SettingsRepository(db),
    pages,
    overrides.cache?.namespace('settings'),
  );
  const auth = new AuthService({
    repo: new AuthRepository(db),
    users,
    settings,
    limiter: createLoginLimiter(config, clock, overrides),
    clock,
    queries,
  });
  const posts = new PostsService(new PostsRepository(db, handle.dialect), clock, pages, queries);
  const comments = new CommentsService({ repo: new CommentsRepository(db), posts, clock, pages, queries });
  const { ai, limiter } = createAi(handle, config, clock, overrides);
  const repo = new JobsRepository(db);
  // With Redis, jobs go through BullMQ and their events through Redis Streams.
  const prefix = config.redis?.prefix ?? 'inkstone:';
  const jobQueue = overrides.redis && new JobQueue(overrides.redis, { prefix });
  const durable: DurableJobs | undefined = overrides.redis &&
    jobQueue && {
      queue: jobQueue,
      events: new RedisEventStream(overrides.redis, { prefix, log: overrides.log }),
      limiter,
      aiEnabled: config.ai.enabled,
    };
  const jobs = new JobsService({
    ai,
    repo,
    webhooks: new WebhookSender({ ...config.webhooks, clock, tracing: overrides.tracing }),
    webhookSecret: (userId) => webhookSecret(config.sessionSecret, userId),
    clock,
    log: overrides.log,
    durable,
    // Without Redis, the workers of `serve --workers N` find each other's jobs through the primary.
    peers: durable ? undefined : clusterJobPeers(),
  });
  // What `inkstone worker` (and the web process, unless AI_WEB_WORKER_CONCURRENCY=0) runs.
  const jobRunner =
    durable &&
    new JobRunner({
      ai,
      jobs,
      repo,
      events: durable.events,
      users,
      clock,
      log: overrides.log,
      tracing: overrides.tracing,
    });
  return { users, settings, auth, posts, comments, ai, jobs, jobQueue, jobRunner, pageCache, pagePurger };
}

/** The page cache: bentocache's layers under a synchronous hot layer the front door serves. */
function createPageCache(
  cache: AppCache,
  config: Config,
  log: Collaborators['log'],
  listener?: PageCacheListener,
) {
  // A quarter of the cache's memory: the hot layer holds the most read pages and their
  // compressed copies; everything else is one trip to bentocache's L1 away.
  const hot = new HotPages({ maxBytes: Math.max(1024 * 1024, config.cache.memoryMaxBytes / 4) });
  const bodies = new SharedBodies({ maxBytes: Math.max(1024 * 1024, config.cache.memoryMaxBytes / 8) });
  cache.onRemoteInvalidation(() => {
    hot.invalidateAll();
    bodies.invalidateAll();
  });
  return new PageCache(cache.namespace('pages'), log, listener, hot, bodies);
}

/**
 * The purge hook (PAGE_PURGE_URL). Its index of pages by tag lives in Redis when there is one,
 * so the instance that writes also purges the pages other instances served.
 */
function createPurger(config: Config, clock: Clock, overrides: ServiceOverrides) {
  const { purge, pageTtlSeconds, pageStaleSeconds } = config.cache;
  if (!purge || pageTtlSeconds <= 0 || !overrides.cache) return undefined;
  const now = () => clock.now().getTime();
  const staleMs = pageStaleSeconds * 1000;
  const index = overrides.redis
    ? new RedisPageIndex(overrides.redis, {
        prefix: config.redis?.prefix ?? 'inkstone:',
        maxAgeMs: pageTtlSeconds * 1000 + staleMs,
        now,
      })
    : // In a cluster without Redis, the primary keeps it for every worker (src/cache/ipc-bus.ts).
      (clusterPageIndex() ?? new MemoryPageIndex(now));
  const log = overrides.log ?? console;
  return new PagePurger({ config: purge, index, publicUrl: config.publicUrl, staleMs, log, now });
}

function createAi(handle: DbHandle, config: Config, clock: Clock, overrides: ServiceOverrides) {
  const { ai } = config;
  const given =
    overrides.providers ??
    new Map(ai.providers.map((spec) => [spec.name, createProvider(spec, overrides.log)]));
  const { tracing } = overrides;
  const providers = tracing
    ? new Map([...given].map(([name, provider]) => [name, tracing.traceProvider(name, provider)]))
    : given;
  const metrics = overrides.aiMetrics;
  const dispatcher = new Dispatcher({
    maxQueue: ai.limits.maxQueue,
    perUser: ai.limits.perUser,
    ...(metrics ? { metrics } : {}),
  });
  const cacheOptions = { ttlMs: ai.cacheTtlMs, maxEntries: 1000 };
  const prefix = config.redis?.prefix ?? 'inkstone:';
  const shared =
    overrides.redis &&
    createSharedAiState(overrides.redis, clock, {
      limits: ai.limits,
      cache: cacheOptions,
      prefix,
      log: overrides.log,
    });
  const { limiter, cache } = shared ?? {
    limiter: new MemoryUsageLimiter(ai.limits, clock),
    cache: new MemoryGenerationCache(cacheOptions, clock),
  };
  // Identical requests on different instances: one model call, the others follow its stream.
  const flights =
    overrides.redis && shared
      ? new RedisFlights(
          overrides.redis,
          // Every generation is relayed, so its copy goes soon after the end: long enough
          // for a late follower or a reconnect, not an hour of every answer in Redis.
          new RedisEventStream(overrides.redis, { prefix, log: overrides.log, finishedTtlSeconds: 120 }),
          shared.gate,
          { prefix, readersTtlMs: ai.timeouts.totalMs + 10_000 },
        )
      : undefined;
  const service = new AiService({
    config: ai,
    providers,
    router: new ModelRouter({ config: ai, providers, dispatcher, clock, ...(metrics ? { metrics } : {}) }),
    dispatcher,
    limiter,
    cache,
    repo: new GenerationsRepository(handle.db),
    clock,
    log: overrides.log,
    flights,
    metrics,
  });
  return { ai: service, limiter };
}

/**
 * Failed sign-ins through every instance add up when Redis is configured; while Redis is
 * away each instance counts its own (see FallbackLoginLimiter). Sessions need nothing of the
 * kind: they are rows in the database, which every instance reads.
 */
function createLoginLimiter(config: Config, clock: Clock, overrides: ServiceOverrides): LoginLimiter {
  const local = new MemoryLoginLimiter(config.login, () => clock.now().getTime());
  if (!overrides.redis) return local;
  const shared = new RedisLoginLimiter(overrides.redis, config.login, config.redis?.prefix ?? 'inkstone:');
  const gate = new RedisFallback(overrides.log, { subject: 'sign-in limits' });
  return new FallbackLoginLimiter(shared, local, gate);
}

export type Services = ReturnType<typeof createServices>;
