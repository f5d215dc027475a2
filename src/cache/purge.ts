import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { PageCacheListener } from './page-cache.js';

// The purge hook: after a write, the pages a CDN or nginx in front may hold with the tags it
// invalidated are sent to PAGE_PURGE_URL, so the shared cache follows without waiting for
// s-maxage. Which pages: an index of tag → page keys (path and query), filled when a page goes
// out as shareable and read (and emptied) when a tag is invalidated. With Redis it is shared,
// so the instance that writes knows the pages another instance served.

export interface PurgeConfig {
  url: string;
  /** `json`: one POST of `{ urls, tags }`; `purge`: one `PURGE <url><path>` per page (ngx_cache_purge, Varnish). */
  style: 'json' | 'purge';
  /** A header sent with every purge request, e.g. a token the endpoint checks. */
  header?: { name: string; value: string };
}

type Log = {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
};

/** Page keys by tag: which pages a shared cache may hold that show what a tag names. */
export interface PageIndex {
  /** A page went out as shareable until `expiresAt` (epoch ms). */
  add(key: string, tags: string[], expiresAt: number): Promise<void>;
  /** The keys filed under any of the tags; those tags' entries are gone afterwards. */
  take(tags: string[]): Promise<string[]>;
}

/** One process: a map per tag, swept of expired keys as it grows. */
export class MemoryPageIndex implements PageIndex {
  private readonly byTag = new Map<string, Map<string, number>>();
  // The size after the last sweep, per tag: sweeping again at twice that keeps adds O(1) amortised.
  private readonly swept = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async add(key: string, tags: string[], expiresAt: number): Promise<void> {
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Map()));
      keys.set(key, Math.max(expiresAt, keys.get(key) ?? 0));
      if (keys.size > 2 * Math.max(64, this.swept.get(tag) ?? 0)) {
        const now = this.now();
        for (const [k, until] of keys) if (until <= now) keys.delete(k);
        this.swept.set(tag, keys.size);
      }
    }
  }

  async take(tags: string[]): Promise<string[]> {
    const found = new Set<string>();
    const now = this.now();
    for (const tag of tags) {
      for (const [key, until] of this.byTag.get(tag) ?? []) if (until > now) found.add(key);
      this.byTag.delete(tag);
      this.swept.delete(tag);
    }
    return [...found];
  }
}

/**
 * Shared by every instance: a sorted set per tag (member: page key, score: until when a shared
 * cache may keep it). A store is one pipelined round trip (per tag: add, drop the expired, set
 * the set's own expiry); a take is one MULTI (read, delete), so no key added meanwhile is lost.
 */
export class RedisPageIndex implements PageIndex {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; maxAgeMs: number; now?: () => number },
  ) {}

  private keyOf(tag: string) {
    return `${this.options.prefix}purge:${tag}`;
  }

  async add(key: string, tags: string[], expiresAt: number): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    const pipeline = this.redis.pipeline();
    for (const tag of tags) {
      const set = this.keyOf(tag);
      pipeline
        .zadd(set, expiresAt, key)
        .zremrangebyscore(set, '-inf', now)
        .pexpire(set, this.options.maxAgeMs);
    }
    throwFirst(await pipeline.exec());
  }

  async take(tags: string[]): Promise<string[]> {
    const multi = this.redis.multi();
    for (const tag of tags) multi.zrange(this.keyOf(tag), 0, -1).del(this.keyOf(tag));
    const results = throwFirst(await multi.exec());
    const found = new Set<string>();
    for (const [, value] of results)
      if (Array.isArray(value)) for (const key of value) found.add(String(key));
    return [...found];
  }
}

function throwFirst(results: [Error | null, unknown][] | null): [Error | null, unknown][] {
  if (!results) throw new Error('Redis discarded the transaction');
  const failed = results.find(([error]) => error);
  if (failed?.[0]) throw failed[0];
  return results;
}

// One attempt may take this long; a failed one (no answer, 408, 429, 5xx) is tried again after
// these waits. A purge is worth little after a minute: the pages' s-maxage is of that order.
const TIMEOUT_MS = 5000;
const RETRY_DELAYS_MS = [500, 2000];
// `purge` style: requests in flight at once, and pages sent per write at most (a settings
// change names every page served within the TTL; past this many the TTL has to do).
const PURGE_CONCURRENCY = 8;
const MAX_URLS = 5000;
// Purges (index reads and sends) under way at once; past that, new ones are dropped and logged.
const MAX_PENDING = 100;

export interface PurgerOptions {
  config: PurgeConfig;
  index: PageIndex;
  /** PUBLIC_URL: makes page keys absolute (json) and is the Host of a PURGE. */
  publicUrl: string;
  /** How long after a page's own TTL a shared cache may still serve it (stale-while-revalidate). */
  staleMs: number;
  log: Log;
  now?: () => number;
}

/** The PageCacheListener that keeps the index and sends the purges, never delaying a request. */
export class PagePurger implements PageCacheListener {
  private readonly pending = new Set<Promise<void>>();
  private readonly base: string;
  private indexDown = false;
  // Purges under way (index writes are counted in `pending` only: they never wait on the endpoint).
  private purges = 0;

  constructor(private readonly options: PurgerOptions) {
    this.base = options.publicUrl.replace(/\/+$/, '');
  }

  stored(key: string, tags: string[], ttlMs: number): void {
    const expiresAt = (this.options.now ?? Date.now)() + ttlMs + this.options.staleMs;
    this.track(this.options.index.add(key, tags, expiresAt).then(() => this.indexUp(), this.indexFailed));
  }

  invalidated(tags: string[]): void {
    if (this.purges >= MAX_PENDING) {
      this.options.log.error({ tags }, 'Page purge dropped: too many purges under way');
      return;
    }
    this.purges++;
    this.track(this.purge(tags).finally(() => this.purges--));
  }

  /** Resolves once every purge and index write begun so far has ended (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** On shutdown: purges under way may finish, for at most `ms` (a hanging endpoint must not hold the exit). */
  async close(ms = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private track(work: Promise<void>) {
    const tracked = work.catch((error: unknown) => {
      this.options.log.error({ err: error }, 'Page purge failed');
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private indexUp() {
    this.indexDown = false;
  }

  // One line per outage, not one per page served.
  private indexFailed = (error: unknown) => {
    if (!this.indexDown) {
      this.options.log.error({ err: error }, 'Page purge index unreachable; shared caches follow by TTL');
    }
    this.indexDown = true;
  };

  private async purge(tags: string[]): Promise<void> {
    let keys: string[];
    try {
      keys = await this.options.index.take(tags);
      this.indexUp();
    } catch (error) {
      this.indexFailed(error);
      return;
    }
    if (keys.length === 0) return;
    if (keys.length > MAX_URLS) {
      this.options.log.warn({ tags, pages: keys.length, sent: MAX_URLS }, 'Page purge truncated');
      keys = keys.slice(0, MAX_URLS);
    }
    const { config } = this.options;
    if (config.style === 'json') {
      const body = JSON.stringify({ urls: keys.map((key) => this.base + key), tags });
      await this.send('POST', config.url, body, { tags, pages: keys.length });
      return;
    }
    const queue = [...keys];
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await this.send('PURGE', config.url.replace(/\/+$/, '') + key, undefined, { tags, page: key });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PURGE_CONCURRENCY, queue.length) }, worker));
  }

  /** One purge request, retried; a failure is logged, never thrown. */
  private async send(method: string, url: string, body: string | undefined, about: object) {
    let last = '';
    for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
      if (attempt > 0) await sleep(RETRY_DELAYS_MS[attempt - 1], undefined, { ref: false });
      try {
        const status = await this.request(method, url, body);
        // 404 to a PURGE: that page was not in the cache, which is what was wanted.
        if ((status >= 200 && status < 300) || (method === 'PURGE' && status === 404)) return;
        last = `HTTP ${status}`;
        if (status < 500 && status !== 408 && status !== 429) break;
      } catch (error) {
        last = (error as Error).message;
      }
    }
    this.options.log.error({ ...about, url: redact(url), reason: last }, 'Page purge failed');
  }

  private request(method: string, url: string, body: string | undefined): Promise<number> {
    const { header } = this.options.config;
    const headers: Record<string, string> = { 'user-agent': 'Inkstone page purge' };
    if (header) headers[header.name] = header.value;
    // A PURGE names the page as readers ask for it: nginx and Varnish key their caches by Host.
    if (method === 'PURGE') headers.host = new URL(this.base).host;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request(target, { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
      request.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      });
      request.on('error', reject);
      request.end(body);
    });
  }
}

/** The endpoint as logged: no user or password from the URL. */
function redact(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}
