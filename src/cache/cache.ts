import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import type { Redis } from 'ioredis';

/** What a namespace of the cache offers; routes never see the library behind it. */
export interface CacheNamespace {
  /** A fresh entry only: never one past its TTL or invalidated by a tag (no grace here). */
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, options: { ttlMs: number; tags: string[] }): Promise<void>;
  /** One fill per key at a time (stampede protection); stale entries are served while it runs (grace). */
  getOrSet<T>(key: string, factory: () => Promise<T>, options: FillOptions): Promise<T>;
  /** Every entry carrying one of the tags is gone, on every instance (the bus clears their L1). */
  deleteByTag(tags: string[]): Promise<void>;
}

export interface FillOptions {
  ttlMs: number;
  tags: string[];
  /** false: never a stale value, even while a slow fill runs (default: grace on). */
  grace?: boolean;
}

export interface AppCache {
  namespace(name: string): CacheNamespace;
  /**
   * Called when the bus brings another instance's invalidation (a tag invalidated, a key
   * deleted or cleared), so layers above bentocache's L1 can drop what they hold.
   */
  onRemoteInvalidation(listener: () => void): void;
  close(): Promise<void>;
}

export interface CacheOptions {
  memoryMaxBytes: number;
  /** L2 and the invalidation bus; absent: memory only, one process. */
  redis?: Redis;
  prefix: string;
  log: { error(object: object, message: string): void };
}

/**
 * bentocache: L1 in process (LRU, bounded in bytes), L2 Redis and its bus when Redis is
 * configured. Redis errors never fail a request: bentocache suppresses L2 errors, opens a
 * circuit breaker for a while, and L1 keeps serving; a soft timeout keeps a slow Redis from
 * slowing a page.
 */
export async function createCache(options: CacheOptions): Promise<AppCache> {
  const { redis, prefix } = options;
  const store = bentostore().useL1Layer(
    memoryDriver({ maxSize: options.memoryMaxBytes, maxEntrySize: 4 * 1024 * 1024 }),
  );
  // Connections made from the shared client (same URL and fail-fast options): bentocache
  // closes its L2 connection when it closes, which must not be the app's, and the bus needs
  // a subscriber of its own. The bus's copy queues commands while Redis is away, so its
  // subscription comes back by itself after a reconnect.
  let l2: Redis | undefined;
  if (redis) {
    l2 = redis.duplicate();
    // One line per outage: bentocache then serves from L1 and retries Redis after its breaker.
    let reported = false;
    l2.on('error', (error: Error) => {
      if (!reported) options.log.error({ err: error }, 'Cache L2 (Redis) unreachable; serving from memory');
      reported = true;
    });
    l2.on('ready', () => (reported = false));
    await l2.connect();
    const bus = redis.duplicate({ enableOfflineQueue: true });
    // The bus transport makes its publisher and subscriber with duplicate() and listens for
    // no 'error' on them, so ioredis would print every reconnect attempt while Redis is away.
    const duplicate = bus.duplicate.bind(bus);
    bus.duplicate = (override) => duplicate(override).on('error', () => {});
    store
      .useL2Layer(redisDriver({ connection: l2, prefix: `${prefix}cache` }))
      .useBus(redisBusDriver({ connection: bus, retryQueue: { enabled: true, maxSize: 1000 } }));
  }
  // The store's name is the bus channel's suffix: with the prefix in it, sites (and tests)
  // sharing a Redis do not clear each other's L1.
  const storeName = `${prefix}cache`;
  const bento = new BentoCache({
    default: storeName,
    stores: { [storeName]: store },
    prefix: `${prefix}cache`,
    // Soft timeout: a slow Redis never holds a page longer than this when a stale copy exists.
    timeout: '50ms',
    hardTimeout: '1s',
    grace: '6h',
    graceBackoff: '30s',
    suppressL2Errors: true,
    l2CircuitBreakerDuration: '5s',
    onFactoryError: (error) => options.log.error({ err: error }, 'A cache fill failed'),
  });
  return {
    namespace(space) {
      const ns = bento.namespace(space);
      return {
        get: <T>(key: string) => ns.get<T>({ key, grace: false }) as Promise<T | undefined>,
        set: async (key, value, { ttlMs, tags }) => {
          await ns.set({ key, value, ttl: ttlMs, tags });
        },
        getOrSet: <T>(
          key: string,
          factory: () => Promise<T>,
          { ttlMs, tags }: { ttlMs: number; tags: string[] },
        ) => ns.getOrSet<T>({ key, factory, ttl: ttlMs, tags }),
        deleteByTag: async (tags) => {
          await ns.deleteByTag({ tags });
        },
      };
    },
    onRemoteInvalidation(listener) {
      // Another instance storing a page ('set' of a plain key) changes nothing here; a tag's
      // invalidation time is a 'set' of a tag key (bentocache's `___bc:t:` prefix).
      bento.on('bus:message:received', ({ message }) => {
        if (message.type !== 'set' || message.keys.some((key) => key.includes('___bc:t:'))) listener();
      });
    },
    async close() {
      await bento.disconnectAll();
    },
  };
}
