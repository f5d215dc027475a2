import { BentoCache, bentostore, type CacheOperationMessage } from 'bentocache';
import { type MemoryDriver, memoryDriver } from 'bentocache/drivers/memory';
import type { Redis } from 'ioredis';
import { CacheCounters, type CacheStats, errorLogger, traced } from './cache-stats.js';
import { type ClusterCacheLayers, clusterCacheLayers } from './ipc-bus.js';
import { MemoryLru } from './memory-lru.js';
import { LocalTagClock, RedisTagClock, type TagClock } from './tag-clock.js';

/** What a namespace of the cache offers; routes never see the library behind it. */
export interface CacheNamespace {
  /**
   * A birth mark for `set`: take it before reading anything the value is made of. An entry
   * is valid only while none of its tags has been invalidated since its birth.
   */
  mark(): number;
  /** A fresh entry only: never one past its TTL or invalidated by a tag (no grace here). */
  get<T>(key: string): Promise<T | undefined>;
  /** false: not stored, as one of its tags was invalidated after `born` (default: now). */
  set<T>(key: string, value: T, options: { ttlMs: number; tags: string[]; born?: number }): Promise<boolean>;
  /**
   * One fill per key at a time on this instance (stampede protection). Without tags, stale
   * entries are served while it runs (grace); with tags, never an invalidated one.
   */
  getOrSet<T>(key: string, factory: () => Promise<T>, options: FillOptions): Promise<T>;
  /** Every entry carrying one of the tags is invalid, on every instance. */
  deleteByTag(tags: string[]): Promise<void>;
  /**
   * false while another instance's invalidation could be missed (Redis's channel is down):
   * a layer above that serves without asking `get` must not serve what it holds.
   */
  inSync(): boolean;
}

export interface FillOptions {
  ttlMs: number;
  tags: string[];
  /** false: never a stale value, even while a slow fill runs (default: grace on). */
  grace?: boolean;
}

/** One read of a namespace (`get`, or `getOrSet`'s lookup) as it ended: for traces. */
export interface CacheLookup {
  namespace: string;
  /** `stale`: an entry past its TTL served while a fill runs; `invalidated`: found, but a tag was. */
  outcome: 'hit' | 'stale' | 'miss' | 'invalidated';
  /** The layer that held the entry. */
  layer?: 'l1' | 'l2';
  ms: number;
}

export interface AppCache {
  namespace(name: string): CacheNamespace;
  /** Calls `listener` after every lookup (the traces' spans); returns the unsubscribe. */
  onLookup(listener: (lookup: CacheLookup) => void): () => void;
  /**
   * Called when another instance's tag invalidation arrives or may have been missed (the
   * channel was down), so layers above bentocache's L1 can drop what they hold.
   */
  onRemoteInvalidation(listener: () => void): void;
  /** Hits, misses, fills, evictions and bytes per namespace and layer; Redis errors. */
  stats(): CacheStats;
  close(): Promise<void>;
}

export interface CacheOptions {
  memoryMaxBytes: number;
  /** L2 and the invalidation bus; absent: memory only, one process. */
  redis?: Redis;
  /**
   * L2 and bus when there is no Redis; default: the cluster primary's (src/cache/ipc-bus.ts)
   * in a worker of `inkstone serve --workers N`, none in a single process.
   */
  shared?: ClusterCacheLayers;
  prefix: string;
  log: { error(object: object, message: string): void };
}

/** What is stored: the value, its birth and its tags, for the check on a hit. */
interface Stored<T> {
  v: T;
  b: number;
  t: string[];
  /** The process whose clock `b` is on, when the clock is not shared. */
  o?: string;
}

const isStored = <T>(entry: unknown): entry is Stored<T> =>
  typeof entry === 'object' && entry !== null && 'b' in entry && 'v' in entry;

type CacheInstance = NonNullable<ConstructorParameters<typeof MemoryDriver>[0]>['cacheInstance'];
type BentoLogger = NonNullable<ConstructorParameters<typeof BentoCache>[0]['logger']>;

/**
 * bentocache: L1 in process (LRU, bounded in bytes), L2 Redis and its bus when Redis is
 * configured. Redis errors never fail a request: bentocache suppresses L2 errors, opens a
 * circuit breaker for a while, and L1 keeps serving; a soft timeout keeps a slow Redis from
 * slowing a page.
 *
 * Tags are not bentocache's: its tags compare an entry's set time with the tag's invalidation
 * time, so a value read before a write on another instance and stored after it stays valid.
 * Entries carry their birth instead, checked against a tag clock (src/cache/tag-clock.ts).
 */
export async function createCache(options: CacheOptions): Promise<AppCache> {
  const { redis, prefix } = options;
  const base = `${prefix}cache`;
  const lru = new MemoryLru({
    maxBytes: options.memoryMaxBytes,
    maxEntryBytes: 4 * 1024 * 1024,
    // Keys are `<base>:<namespace>:<key>` (bentocache's namespaces).
    spaceOf: (key) => key.slice(base.length + 1, key.indexOf(':', base.length + 1) >>> 0),
  });
  const store = bentostore().useL1Layer(
    memoryDriver({ cacheInstance: lru as unknown as CacheInstance } as Parameters<typeof memoryDriver>[0]),
  );
  // Connections made from the shared client (same URL and fail-fast options): bentocache
  // closes its L2 connection when it closes, which must not be the app's, and the bus needs
  // a subscriber of its own. The bus's copy queues commands while Redis is away, so its
  // subscription comes back by itself after a reconnect.
  let l2: Redis | undefined;
  let shared: ClusterCacheLayers | undefined;
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
    // Imported here, not at the top: the drivers load ioredis, which nothing without Redis needs.
    const { redisBusDriver, redisDriver } = await import('bentocache/drivers/redis');
    store
      .useL2Layer(redisDriver({ connection: l2, prefix: base }))
      .useBus(redisBusDriver({ connection: bus, retryQueue: { enabled: true, maxSize: 1000 } }));
  } else {
    shared = options.shared ?? clusterCacheLayers();
    if (shared) store.useL2Layer(shared.l2).useBus(shared.bus);
  }
  const counters = new CacheCounters(lru, redis !== undefined || shared !== undefined);
  const logger = errorLogger(counters, options.log) as BentoLogger;
  // Workers of a cluster without Redis share a clock whose epochs the primary gives.
  const clock: TagClock = redis
    ? await RedisTagClock.create(redis, `${base}:`, { error: () => counters.errors.bus++ })
    : shared
      ? await shared.clock()
      : new LocalTagClock();
  const origin = clock instanceof LocalTagClock ? String(process.pid) : undefined;
  // The store's name is the bus channel's suffix: with the prefix in it, sites (and tests)
  // sharing a Redis do not clear each other's L1.
  const storeName = base;
  const bento = new BentoCache({
    default: storeName,
    stores: { [storeName]: store },
    prefix: base,
    // Soft timeout: a slow Redis never holds a page longer than this when a stale copy exists.
    timeout: '50ms',
    hardTimeout: '1s',
    grace: '6h',
    graceBackoff: '30s',
    suppressL2Errors: true,
    l2CircuitBreakerDuration: '5s',
    logger,
    onFactoryError: (error) => options.log.error({ err: error }, 'A cache fill failed'),
  });
  const lookups = new Set<(lookup: CacheLookup) => void>();
  // Timed only while someone listens: `started` is 0 otherwise, and nothing is reported.
  const lookedUp = (
    namespace: string,
    message: CacheOperationMessage | undefined,
    outcome: 'hit' | 'miss' | 'invalidated',
    started: number,
  ) => {
    if (lookups.size === 0 || started === 0) return;
    const layer = message?.hit ? (message.tier ?? 'l1') : undefined;
    const lookup: CacheLookup = {
      namespace,
      outcome: outcome === 'hit' && message?.graced ? 'stale' : outcome,
      ms: performance.now() - started,
      ...(layer ? { layer } : {}),
    };
    for (const listener of lookups) listener(lookup);
  };
  const valid = (entry: Stored<unknown>) => {
    if (origin !== undefined && entry.o !== origin) return true;
    return clock.check(entry.t, entry.b) ?? clock.verify(entry.t, entry.b);
  };

  return {
    namespace(space) {
      const ns = bento.namespace(space);
      const counts = counters.space(space);
      // Tags are one set for every namespace: a write invalidates what it shows, wherever it
      // is cached, in one epoch. Two namespaces invalidated one after the other would let an
      // instance that has heard only the second (a page's) render from the first's old entry
      // (a cached query) under a birth that makes the page valid.
      const tagged = (tags: string[]) => tags;
      const fills = new Map<string, { born: number; tags: string[]; value: Promise<unknown> }>();

      const get = async <T>(key: string): Promise<T | undefined> => {
        const started = lookups.size ? performance.now() : 0;
        const [reading, op] = traced(() => ns.get<Stored<T>>({ key, grace: false }));
        const entry = await reading;
        if (!isStored<T>(entry)) {
          counters.read(space, undefined, 'miss');
          lookedUp(space, undefined, 'miss', started);
          return undefined;
        }
        const ok = await valid(entry);
        counters.read(space, op.message, ok ? 'hit' : 'invalidated');
        lookedUp(space, op.message, ok ? 'hit' : 'invalidated', started);
        return ok ? entry.v : undefined;
      };

      const set = async <T>(
        key: string,
        value: T,
        opts: { ttlMs: number; tags: string[]; born?: number },
      ) => {
        const tags = tagged(opts.tags);
        const born = opts.born ?? clock.now();
        if (!(clock.check(tags, born) ?? (await clock.verify(tags, born)))) {
          counts.refused++;
          return false;
        }
        const stored: Stored<T> = { v: value, b: born, t: tags, ...(origin ? { o: origin } : {}) };
        await ns.set({ key, value: stored, ttl: opts.ttlMs });
        counts.writes++;
        return true;
      };

      return {
        mark: () => clock.now(),
        get,
        set,
        async getOrSet<T>(key: string, factory: () => Promise<T>, opts: FillOptions): Promise<T> {
          if (opts.tags.length === 0) {
            const started = lookups.size ? performance.now() : 0;
            const [filling, op] = traced(() =>
              ns.getOrSet<Stored<T>>({
                key,
                factory: async () => {
                  counts.fills++;
                  return { v: await factory(), b: clock.now(), t: [] };
                },
                ttl: opts.ttlMs,
                ...(opts.grace === false ? { grace: false } : {}),
              }),
            );
            const entry = await filling;
            counters.read(space, op.message, op.message?.hit ? 'hit' : 'miss');
            lookedUp(space, op.message, op.message?.hit ? 'hit' : 'miss', started);
            return entry.v;
          }
          const hit = await get<T>(key);
          if (hit !== undefined) return hit;
          // A fill may be joined only if none of its tags was invalidated since it began:
          // its value may have been read before that write.
          const tags = tagged(opts.tags);
          const running = fills.get(key);
          if (running && clock.check(tags, running.born) === true) return running.value as Promise<T>;
          const born = clock.now();
          counts.fills++;
          const value = factory().then(async (result) => {
            await set(key, result, { ttlMs: opts.ttlMs, tags: opts.tags, born });
            return result;
          });
          const fill = { born, tags, value };
          fills.set(key, fill);
          void value
            .catch((error: unknown) => options.log.error({ err: error }, 'A cache fill failed'))
            .finally(() => fills.get(key) === fill && fills.delete(key));
          return value;
        },
        async deleteByTag(tags) {
          const names = tagged(tags);
          await clock.invalidate(names);
        },
        inSync: () => clock.connected,
      };
    },
    onRemoteInvalidation(listener) {
      // Tags are the tag clock's (src/cache/tag-clock.ts), not bentocache's: another instance's
      // invalidation arrives on its channel.
      clock.onRemote(listener);
    },
    onLookup(listener) {
      lookups.add(listener);
      return () => void lookups.delete(listener);
    },
    stats: () => counters.snapshot(),
    async close() {
      await clock.close();
      await bento.disconnectAll();
    },
  };
}
