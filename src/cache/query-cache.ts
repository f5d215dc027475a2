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
  /** A post's visible comments (what every reader of its page sees). */
  comments: 1,
  session: 1,
} as const;

export type QueryKind = keyof typeof QUERY_KINDS;

/** Each entry's TTL is spread over ±this share, so entries filled together do not expire together. */
const JITTER = 0.1;

/** Entries of the hot layer (see QueryCache.hot); past this, the oldest stored goes. */
const HOT_MAX_ENTRIES = 2000;
/** Its default bound in bytes (estimated: see `freeze`); past this, the oldest stored goes. */
const HOT_MAX_BYTES = 16 * 1024 * 1024;

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

/** A value of the hot layer and what it was valid under. */
interface Hot {
  value: unknown;
  /** The tag clock's mark when the value was known valid: any invalidation since moves it. */
  mark: number;
  /** This layer's own epoch then (local writes and remote invalidations move it). */
  epoch: number;
  /** On the app's clock (`until`), 0: never. */
  until: number;
  /** Wall-clock ms: the bentocache entry's own expiry, which this copy does not outlive. */
  expires: number;
  /** Its estimated size (see `freeze`). */
  bytes: number;
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
  private readonly fills = new Map<string, { born: number; epoch: number; value: Promise<unknown> }>();
  // The hot layer: values as objects, synchronously, above bentocache, whose L1 hit costs a
  // JSON parse of the value (a tenth of a cached API list's CPU time; with a post's body and
  // comments, 8 % of an uncached post page's). Shared by every request that reads them, so
  // frozen: a caller that changed one would change it for the next reader (strict mode
  // throws instead). Bounded by entries and by estimated bytes, oldest stored out first.
  private readonly hot = new Map<string, Hot>();
  private hotBytes = 0;
  private epoch = 0;

  constructor(
    private readonly store: CacheNamespace,
    private readonly options: {
      /** QUERY_CACHE_TTL_SECONDS in ms; each kind gets its share of it. */
      ttlMs: number;
      /** The app's clock in ms: what `until` and session expiry are measured on. */
      now: () => number;
      log: { error(object: object, message: string): void };
      random?: () => number;
      /** The hot layer's bound in estimated bytes (default 16 MiB). */
      hotMaxBytes?: number;
      /** Called on each hit of the hot layer (traces: bentocache reports its own lookups). */
      hotHit?: (ms: number) => void;
    },
  ) {}

  async get<T>(kind: QueryKind, key: string, load: () => Promise<T>, options: QueryOptions<T>): Promise<T> {
    const id = `${kind}:${key}`;
    // Taken before the read: what the read returns was valid at this mark or later.
    const mark = this.store.mark();
    const epoch = this.epoch;
    const { hotHit } = this.options;
    const started = hotHit ? performance.now() : 0;
    const copy = this.hot.get(id);
    if (copy) {
      if (this.fresh(copy, mark)) {
        hotHit?.(performance.now() - started);
        return copy.value as T;
      }
      this.dropHotEntry(id);
    }
    let hit: Entry<T> | undefined;
    try {
      hit = await this.store.get<Entry<T>>(id);
    } catch (error) {
      this.options.log.error({ err: error }, 'Query cache read failed; reading the database');
    }
    if (hit && (hit.u === 0 || hit.u > this.options.now())) {
      // Its remaining TTL is not known here: a copy lives at most one base TTL of its kind.
      this.keepHot(id, hit.v, { mark, epoch }, hit.u, this.ttlMs(kind));
      return hit.v;
    }
    const born = mark;
    const running = this.fills.get(id);
    if (running && running.born === born && running.epoch === epoch) return running.value as Promise<T>;
    const value = this.fill(id, kind, { mark: born, epoch }, load, options);
    const fill = { born, epoch, value };
    this.fills.set(id, fill);
    void value.then(
      () => this.fills.get(id) === fill && this.fills.delete(id),
      () => this.fills.get(id) === fill && this.fills.delete(id),
    );
    return value;
  }

  /**
   * What services call after a write: this layer's copies go at once, then `next` (the page
   * cache, whose tags are the same set) or this namespace invalidates the tags everywhere.
   */
  invalidator(next?: PageInvalidator): PageInvalidator {
    if (!next) return this;
    return {
      invalidate: async (tags) => {
        this.dropHot();
        await next.invalidate(tags);
      },
    };
  }

  /** Every hot copy goes: a local write, or another instance's invalidation (or a missed one). */
  dropHot(): void {
    this.epoch++;
    this.hot.clear();
    this.hotBytes = 0;
  }

  async invalidate(tags: string[]): Promise<void> {
    this.dropHot();
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
    birth: { mark: number; epoch: number },
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
      const stored = await this.store.set<Entry<T>>(
        id,
        { v: value, u: until },
        { ttlMs, tags: options.tags(value), born: birth.mark },
      );
      if (stored) this.keepHot(id, value, birth, until, ttlMs);
    } catch (error) {
      this.options.log.error({ err: error }, 'Query cache write failed');
    }
    return value;
  }

  private fresh(copy: Hot, mark: number): boolean {
    return (
      copy.mark === mark &&
      copy.epoch === this.epoch &&
      this.store.inSync() &&
      (copy.until === 0 || copy.until > this.options.now()) &&
      copy.expires > Date.now()
    );
  }

  private keepHot(
    id: string,
    value: unknown,
    { mark, epoch }: { mark: number; epoch: number },
    until: number,
    ttlMs: number,
  ): void {
    // Only if nothing was invalidated since the read began: it may predate that write.
    if (mark !== this.store.mark() || epoch !== this.epoch || !this.store.inSync()) return;
    const max = this.options.hotMaxBytes ?? HOT_MAX_BYTES;
    const bytes = freeze(value);
    this.dropHotEntry(id);
    // One value larger than a tenth of the layer is read from bentocache's L1 instead.
    if (bytes > max / 10) return;
    for (const [oldest] of this.hot) {
      if (this.hot.size < HOT_MAX_ENTRIES && this.hotBytes + bytes <= max) break;
      this.dropHotEntry(oldest);
    }
    this.hot.set(id, { value, mark, epoch: this.epoch, until, expires: Date.now() + ttlMs, bytes });
    this.hotBytes += bytes;
  }

  private dropHotEntry(id: string): void {
    const entry = this.hot.get(id);
    if (!entry) return;
    this.hot.delete(id);
    this.hotBytes -= entry.bytes;
  }

  private ttlMs(kind: QueryKind): number {
    const base = this.options.ttlMs * QUERY_KINDS[kind];
    const spread = ((this.options.random ?? Math.random)() * 2 - 1) * JITTER;
    return Math.max(1, Math.round(base * (1 + spread)));
  }
}

/**
 * Freezes `value` deeply and returns its size, estimated: 2 bytes a string's character (V8
 * keeps a non-Latin-1 string as UTF-16), 8 a number, 16 an object or array and 8 each of its
 * slots. Parts already frozen are shared with another copy and count as nothing.
 */
function freeze(value: unknown): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (typeof value !== 'object' || value === null) return 8;
  // A Buffer cannot be frozen (its bytes stay writable): counted, left as it is.
  if (ArrayBuffer.isView(value)) return 16 + value.byteLength;
  if (Object.isFrozen(value)) return 8;
  Object.freeze(value);
  let bytes = 16;
  for (const inner of Object.values(value)) bytes += 8 + freeze(inner);
  return bytes;
}

/** No query cache (QUERY_CACHE_TTL_SECONDS=0, or no cache module): every read goes to the database. */
export const noQueryCache: Pick<QueryCache, 'get' | 'invalidate'> = {
  get: (_kind, _key, load) => load(),
  invalidate: async () => {},
};

export type QueryReader = Pick<QueryCache, 'get' | 'invalidate'>;
