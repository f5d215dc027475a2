import type { CacheNamespace } from './cache.js';
import type { PageInvalidator } from './page-cache.js';

/**
 * Kinds of cached read, each with its share of QUERY_CACHE_TTL_SECONDS. Writes invalidate by
 * tag at once, on every instance; the TTL only bounds what a lost invalidation could leave
 * (and how long an unread entry holds memory), so rows that change rarely keep longer.
 */
export const QUERY_KINDS = {
  /** Lists of published posts (home, tag and author pages, the API), feeds. */
  list: 1,
  /** Tags with their counts, a tag page's tag. */
  tags: 1,
  /** A published post with its tags. */
  post: 5,
  /** A user's public profile; who a session or API token belongs to. */
  profile: 5,
  session: 1,
} as const;

export type QueryKind = keyof typeof QUERY_KINDS;

/** Each entry's TTL is spread over ±this share, so entries filled together do not expire together. */
const JITTER = 0.1;

/** Tags of the query cache that no page carries: the sessions and API tokens of one user. */
export const queryTags = {
  sessions: (userId: number) => `sessions:${userId}`,
  tokens: (userId: number) => `tokens:${userId}`,
};

export interface QueryOptions<T> {
  /** What the value shows, so which writes invalidate it (pageTags and queryTags). */
  tags: (value: T) => string[];
  /** false: not stored (a draft, a row another actor may not see, a miss). Default: stored. */
  keep?: (value: T) => boolean;
  /**
   * Ms (on the clock) after which the value is wrong without any write: a scheduled post goes
   * public, a session expires. Read after the birth mark, with the value. null: never.
   */
  until?: (value: T) => Promise<number | null> | number | null;
}

/** What is stored: the value and when, on the app's clock, it stops being right (0: never). */
interface Entry<T> {
  v: T;
  u: number;
}

/**
 * Read models of the hot routes, in the cache module's `queries` namespace. An entry is born
 * (its mark taken) before its value is read and kept only while none of its tags was
 * invalidated since, here or on another instance (src/cache/tag-clock.ts), so a read racing a
 * write never stores the old rows.
 *
 * Writes reach it with the page cache's tags (pageTags): tags are one set for every namespace
 * of the cache module, so the page cache's invalidation drops these entries in the same epoch.
 * Only data that every reader may see goes in; what depends on who asks is added outside.
 */
export class QueryCache implements PageInvalidator {
  // One fill per key at a time on this instance (stampede protection). A fill may be joined
  // only while no invalidation at all arrived since it began: it may have read before a write.
  private readonly fills = new Map<string, { born: number; value: Promise<unknown> }>();

  constructor(
    private readonly store: CacheNamespace,
    private readonly options: {
      /** QUERY_CACHE_TTL_SECONDS in ms; each kind gets its share of it. */
      ttlMs: number;
      /** The app's clock in ms: what `until` and session expiry are measured on. */
      now: () => number;
      log: { error(object: object, message: string): void };
      random?: () => number;
    },
  ) {}

  async get<T>(kind: QueryKind, key: string, load: () => Promise<T>, options: QueryOptions<T>): Promise<T> {
    const id = `${kind}:${key}`;
    let hit: Entry<T> | undefined;
    try {
      hit = await this.store.get<Entry<T>>(id);
    } catch (error) {
      this.options.log.error({ err: error }, 'Query cache read failed; reading the database');
    }
    if (hit && (hit.u === 0 || hit.u > this.options.now())) return hit.v;
    const born = this.store.mark();
    const running = this.fills.get(id);
    if (running && running.born === born) return running.value as Promise<T>;
    const value = this.fill(id, kind, born, load, options);
    const fill = { born, value };
    this.fills.set(id, fill);
    void value.then(
      () => this.fills.get(id) === fill && this.fills.delete(id),
      () => this.fills.get(id) === fill && this.fills.delete(id),
    );
    return value;
  }

  async invalidate(tags: string[]): Promise<void> {
    try {
      // Refused here from its first, synchronous step, whatever Redis does.
      await this.store.deleteByTag(tags);
    } catch (error) {
      this.options.log.error({ err: error, tags }, 'Query cache invalidation failed');
    }
  }

  private async fill<T>(
    id: string,
    kind: QueryKind,
    born: number,
    load: () => Promise<T>,
    options: QueryOptions<T>,
  ): Promise<T> {
    const value = await load();
    if (options.keep && !options.keep(value)) return value;
    let ttlMs = this.ttlMs(kind);
    let until = 0;
    const at = options.until ? await options.until(value) : null;
    if (at !== null) {
      const left = at - this.options.now();
      if (left <= 0) return value;
      until = at;
      ttlMs = Math.min(ttlMs, left);
    }
    try {
      await this.store.set<Entry<T>>(id, { v: value, u: until }, { ttlMs, tags: options.tags(value), born });
    } catch (error) {
      this.options.log.error({ err: error }, 'Query cache write failed');
    }
    return value;
  }

  private ttlMs(kind: QueryKind): number {
    const base = this.options.ttlMs * QUERY_KINDS[kind];
    const spread = ((this.options.random ?? Math.random)() * 2 - 1) * JITTER;
    return Math.max(1, Math.round(base * (1 + spread)));
  }
}

/** No query cache (QUERY_CACHE_TTL_SECONDS=0, or no cache module): every read goes to the database. */
export const noQueryCache: Pick<QueryCache, 'get' | 'invalidate'> = {
  get: (_kind, _key, load) => load(),
  invalidate: async () => {},
};

export type QueryReader = Pick<QueryCache, 'get' | 'invalidate'>;
