import { hash } from 'node:crypto';
import type { CacheNamespace } from './cache.js';
import type { HotPages } from './hot-pages.js';
import type { SharedBodies } from './shared-bodies.js';

/** Tag names in one place: what a page shows, and so which writes invalidate it. */
export const pageTags = {
  /** Every page: the site settings (title, description, registration) are on each. */
  site: 'site',
  /** Every list of posts: home, tag and author pages, feeds, the sitemap. */
  lists: 'posts',
  post: (id: number) => `post:${id}`,
  /** A user's name and profile, wherever it appears (their posts, comments, author page). */
  user: (id: number) => `user:${id}`,
};

/**
 * A post written: its page, and every list when it is or was published (or scheduled: a
 * changed time moves it in or out of the lists). A draft's page is 404 and never stored.
 */
export function postPageTags(
  before: { id: number; status: string } | null,
  after: { id: number; status: string } | null,
) {
  const id = (after ?? before)!.id;
  const listed = before?.status === 'published' || after?.status === 'published';
  return listed ? [pageTags.post(id), pageTags.lists] : [pageTags.post(id)];
}

/** A rendered page as the cache keeps it: a hit sends these bytes and renders nothing. */
export interface CachedPage {
  body: string;
  etag: string;
  type: string;
  /** When it stops being fresh, ms since the epoch (a layer above keeps it no longer). */
  expiresAt?: number;
}

/** What services tell the page cache after a write. */
export interface PageInvalidator {
  invalidate(tags: string[]): Promise<void>;
}

export const noPageCache: PageInvalidator = { invalidate: async () => {} };

/**
 * Told which pages went out as shareable and what was invalidated (the purge hook,
 * src/cache/purge.ts). It must return at once and never throw.
 */
export interface PageCacheListener {
  stored(key: string, tags: string[], ttlMs: number): void;
  invalidated(tags: string[]): void;
}

export function etagOf(body: string | Uint8Array): string {
  return `"${hash('sha1', body, 'base64url')}"`;
}

/**
 * The full-page cache for anonymous readers, keyed by path and query. Writes invalidate by
 * tag on every instance. A page carries the mark taken at its lookup, before its render read
 * anything: it is stored and served only while none of its tags was invalidated since, on any
 * instance (src/cache/tag-clock.ts says why no interleaving of a render and another
 * instance's write serves the old page).
 */
export class PageCache implements PageInvalidator {
  constructor(
    private readonly store: CacheNamespace,
    private readonly log: { error(object: object, message: string): void },
    private readonly listener?: PageCacheListener,
    /** The synchronous first layer the front door serves from (src/cache/hot-pages.ts). */
    readonly hot?: HotPages,
    /** Signed-in readers' share of shared pages (src/cache/shared-bodies.ts). */
    readonly bodies?: SharedBodies,
  ) {}

  /** false while another instance's invalidation could be missed: the layers above must not serve. */
  inSync(): boolean {
    const synced = this.store.inSync();
    if (!synced) this.dropLocal();
    return synced;
  }

  private dropLocal(): void {
    this.hot?.invalidateAll();
    this.bodies?.invalidateAll();
  }

  async get(key: string): Promise<CachedPage | undefined> {
    // Another instance's write could go unnoticed: the hot layer, which serves without
    // asking, must hold nothing (and refuses what the lookup under way would give it).
    if (!this.store.inSync()) this.dropLocal();
    try {
      return await this.store.get<CachedPage>(key);
    } catch (error) {
      this.log.error({ err: error }, 'Page cache read failed; rendering the page');
      return undefined;
    }
  }

  /** The birth mark of a page about to be rendered: take it before the render reads anything. */
  mark(): number {
    return this.store.mark();
  }

  /** false: not stored (a tag of the page was invalidated after `mark`, or the TTL is 0). */
  async set(
    key: string,
    page: CachedPage,
    options: { ttlMs: number; tags: string[]; mark: number },
  ): Promise<boolean> {
    if (options.ttlMs <= 0) return false;
    // Sent as shareable whether or not it is kept here: a shared cache in front may hold it.
    this.listener?.stored(key, options.tags, options.ttlMs);
    try {
      return await this.store.set(key, page, {
        ttlMs: options.ttlMs,
        tags: options.tags,
        born: options.mark,
      });
    } catch (error) {
      this.log.error({ err: error }, 'Page cache write failed');
      return false;
    }
  }

  async invalidate(tags: string[]): Promise<void> {
    this.dropLocal();
    try {
      // Refused here from its first, synchronous step, whatever Redis does.
      await this.store.deleteByTag(tags);
    } catch (error) {
      // The write itself succeeded; readers may see the old page until its TTL ends.
      this.log.error({ err: error, tags }, 'Page cache invalidation failed');
    }
    // After the local delete: a purged shared cache that asks again gets the new page.
    this.listener?.invalidated(tags);
  }
}
