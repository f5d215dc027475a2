import { pageTags } from '../../cache/page-cache.js';
import { noQueryCache, type QueryReader } from '../../cache/query-cache.js';
import { type Clock, isoNow, systemClock } from '../../clock.js';
import type { IsoTime } from '../../db/types.js';
import { fieldError, notFound } from '../../errors.js';
import type { Actor } from '../access/permissions.js';
import type { SitemapEntry } from './feeds.js';
import { postUrl, toPostApi, toPostList } from './post-mapping.js';
import type { PostsRepository } from './repository.js';
import { PER_PAGE_MAX, type Post, type PostList, QUERY_MAX, type Tag } from './schemas.js';

export interface SearchOptions {
  perPage?: number;
  tag?: string;
  author?: string;
}

/**
 * The posts' read side beyond lists and single posts: search, tags, the feeds' and the
 * sitemap's entries, and when the next scheduled post goes public (which bounds every
 * cached list). PostsService hands these through, so callers keep one service.
 */
export class PostCatalog {
  constructor(
    private readonly repo: PostsRepository,
    private readonly clock: Clock = systemClock,
    private readonly queries: QueryReader = noQueryCache,
  ) {}

  /** Until the next scheduled post goes public: lists are cached no longer (no write marks it). */
  async msUntilNextScheduled(): Promise<number | null> {
    const at = await this.nextScheduled();
    return at === null ? null : at - this.clock.now().getTime();
  }

  /**
   * When the next scheduled post goes public (ms on the clock): a cached list is wrong from
   * then. Asked on every list fill and page store; scheduling a post invalidates `posts`.
   */
  readonly nextScheduled = (): Promise<number | null> =>
    this.queries.get(
      'tags',
      'next-scheduled',
      async () => {
        const at = await this.repo.nextScheduledAt(this.now());
        return at ? Date.parse(at) : null;
      },
      { tags: () => [pageTags.lists], until: (at) => at },
    );

  /** Visible posts matching `q`, best match first. */
  async search(
    q: string,
    page: number,
    _actor: Actor | null,
    options: SearchOptions = {},
  ): Promise<PostList> {
    const query = q.trim();
    if (!query) throw fieldError('q', 'Type something to search for.');
    if (Array.from(query).length > QUERY_MAX)
      throw fieldError('q', `Search for at most ${QUERY_MAX} characters.`);
    const perPage = Math.min(Math.max(options.perPage ?? 10, 1), PER_PAGE_MAX);
    const current = Math.max(1, page);
    const { rows, total } = await this.repo.search(query, {
      now: this.now(),
      authorUsername: options.author,
      tagSlug: options.tag,
      limit: perPage,
      offset: (current - 1) * perPage,
    });
    return toPostList(rows, current, perPage, total, this.now());
  }

  listTags(): Promise<Tag[]> {
    return this.queries.get('tags', 'all', () => this.repo.listTags({ now: this.now() }), {
      tags: () => [pageTags.lists],
      until: this.nextScheduled,
    });
  }

  /** A tag with at least one visible post; 404 otherwise, so empty tag pages are not indexed. */
  async getTag(slug: string): Promise<Tag> {
    const tag = await this.queries.get(
      'tags',
      `slug:${slug}`,
      async () => (await this.repo.getTag(slug, { now: this.now() })) ?? null,
      { tags: () => [pageTags.lists], until: this.nextScheduled },
    );
    if (!tag || tag.count === 0) throw notFound('Tag');
    return tag;
  }

  /** The newest visible posts with bodies, for the Atom feed. */
  async recent(limit = 20, tagSlug?: string): Promise<Post[]> {
    const rows = await this.repo.listRecent(this.now(), Math.min(Math.max(limit, 1), 100), tagSlug);
    return rows.map((row) => toPostApi(row, this.now()));
  }

  async sitemapEntries(): Promise<SitemapEntry[]> {
    const rows = await this.repo.listForSitemap(this.now());
    return rows.map((row) => ({ loc: postUrl(row.slug), lastmod: row.updated_at }));
  }

  private now(): IsoTime {
    return isoNow(this.clock);
  }
}
