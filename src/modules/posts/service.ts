import { noPageCache, type PageInvalidator, pageTags, postPageTags } from '../../cache/page-cache.js';
import { noQueryCache, type QueryReader } from '../../cache/query-cache.js';
import { type Clock, isoNow, systemClock } from '../../clock.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { IsoTime } from '../../db/types.js';
import { conflict, fieldError, forbidden, notFound, unauthorized } from '../../errors.js';
import { type Actor, authorize, can, canManagePost } from '../access/permissions.js';
import { deriveExcerpt, renderMarkdown } from './markdown.js';
import { cleanBody, cleanExcerpt, cleanSlug, cleanTags, cleanTitle, parseTime } from './post-input.js';
import type { PostFilter, PostRecord, PostSummaryRecord } from './post-query.js';
import { PostCatalog } from './catalog.js';
import { toPostApi, toPostList } from './post-mapping.js';
import { isVisible, publication, statusAt } from './publication.js';
import type { PostPatch, PostsRepository } from './repository.js';
import {
  PER_PAGE_MAX,
  type Post,
  type PostCreate,
  type PostList,
  type PostListQuery,
  type PostSummary,
  type PostUpdate,
} from './schemas.js';
import { slugify } from './slug.js';

export type { SearchOptions } from './catalog.js';

// How often create() picks a new derived slug when another request took it between the
// check and the insert; beyond a few tries something else is wrong.
const SLUG_ATTEMPTS = 3;

export class PostsService {
  constructor(
    private repo: PostsRepository,
    private clock: Clock = systemClock,
    private pages: PageInvalidator = noPageCache,
    /** Published posts, lists and tags: the same for every reader, so cached once for all. */
    private queries: QueryReader = noQueryCache,
  ) {
    this.catalog = new PostCatalog(repo, clock, queries);
  }

  /** Tags, search, feeds, the sitemap and the scheduling horizon (src/modules/posts/catalog.ts). */
  private readonly catalog: PostCatalog;
  private readonly nextScheduled = () => this.catalog.nextScheduled();
  msUntilNextScheduled = () => this.catalog.msUntilNextScheduled();
  search = (...args: Parameters<PostCatalog['search']>) => this.catalog.search(...args);
  listTags = () => this.catalog.listTags();
  getTag = (slug: string) => this.catalog.getTag(slug);
  recent = (limit?: number, tagSlug?: string) => this.catalog.recent(limit, tagSlug);
  sitemapEntries = () => this.catalog.sitemapEntries();

  async list(query: PostListQuery, actor: Actor | null): Promise<PostList> {
    const page = query.page ?? 1;
    const perPage = Math.min(Math.max(query.perPage ?? 10, 1), PER_PAGE_MAX);
    if (query.q?.trim()) {
      if (query.status && query.status !== 'published') {
        throw fieldError('status', 'Search covers published posts only; leave status out or use published.');
      }
      return this.search(query.q, page, actor, { perPage, tag: query.tag, author: query.author });
    }
    const now = this.now();
    const filter: PostFilter = { now, authorUsername: query.author, tagSlug: query.tag };
    const status = query.status ?? 'published';
    if (status !== 'published') {
      // Unpublished posts are listed only as "my posts", or to someone who may edit any post.
      if (!actor) throw unauthorized();
      if (query.author !== actor.username && !can(actor, 'post:edit-any')) {
        throw forbidden('Only your own drafts and scheduled posts can be listed.');
      }
    }
    const load = async () => {
      const { rows, total } = await this.repo.list({
        ...filter,
        limit: perPage,
        offset: (page - 1) * perPage,
      });
      return this.page(rows, page, perPage, total);
    };
    if (status !== 'published') {
      // Drafts and scheduled posts: per actor, and rarely read. Never cached.
      if (status !== 'all') filter.status = status;
      return load();
    }
    filter.visibleAt = now;
    // What every reader sees: keyed by everything in the filter but the time, which the
    // entry's `until` covers (it ends when the next scheduled post goes public).
    const key = JSON.stringify([page, perPage, query.tag ?? null, query.author ?? null]);
    return this.queries.get('list', key, load, {
      tags: (list) => [pageTags.lists, ...authorTags(list.items)],
      until: this.nextScheduled,
    });
  }

  /** A post by id (number) or slug (string); a draft or scheduled post is 404 to those who cannot manage it. */
  async get(idOrSlug: number | string, actor: Actor | null): Promise<Post> {
    const byId = typeof idOrSlug === 'number';
    const row = await this.queries.get(
      'post',
      byId ? `id:${idOrSlug}` : `slug:${idOrSlug}`,
      async () => (byId ? await this.repo.get(idOrSlug) : await this.repo.getBySlug(idOrSlug)) ?? null,
      {
        // Only what anyone may read: a draft or a scheduled post is read from the database
        // each time, for those who may manage it. A write to the post invalidates its tag.
        keep: (found) => found !== null && isVisible(found, this.now()),
        tags: (found) => (found ? [pageTags.post(found.id), pageTags.user(found.author_id)] : []),
      },
    );
    if (!row || (!isVisible(row, this.now()) && !canManagePost(actor, { authorId: row.author_id })))
      throw notFound('Post');
    return this.toApi(row);
  }

  getBySlug(slug: string, actor: Actor | null): Promise<Post> {
    return this.get(slug, actor);
  }

  /** A post for its editor: 404 when hidden from the actor, 401/403 when visible but not theirs to edit. */
  async getForEdit(id: number, actor: Actor | null): Promise<Post> {
    return this.toApi(await this.manageable(id, actor));
  }

  async create(input: PostCreate, actor: Actor | null): Promise<Post> {
    authorize(actor, 'post:create');
    const now = this.now();
    const title = cleanTitle(input.title);
    const body = cleanBody(input.body ?? '');
    const tags = cleanTags(input.tags ?? []);
    const excerpt = cleanExcerpt(input.excerpt);
    const published = publication(input.status ?? 'draft', input.publishedAt, now);
    const givenSlug = input.slug === undefined ? undefined : cleanSlug(input.slug);
    if (givenSlug && (await this.repo.slugExists(givenSlug))) throw slugTaken();
    const base = slugify(title) || 'post';

    for (let attempt = 1; ; attempt++) {
      const slug = givenSlug ?? (await this.uniqueSlug(base));
      try {
        const row = await this.repo.create(
          {
            author_id: actor.id,
            title,
            slug,
            body,
            body_html: renderMarkdown(body),
            excerpt: excerpt ?? deriveExcerpt(body),
            excerpt_custom: excerpt ? 1 : 0,
            ...published,
            created_at: now,
            updated_at: now,
          },
          tags,
        );
        await this.pages.invalidate(postPageTags(null, row));
        return this.toApi(row);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        if (givenSlug) throw slugTaken();
        if (attempt >= SLUG_ATTEMPTS) throw error;
      }
    }
  }

  async update(id: number, input: PostUpdate, actor: Actor | null): Promise<Post> {
    const current = await this.manageable(id, actor);
    if (input.version !== current.version) throw staleVersion(current.version);
    const now = this.now();
    const patch: PostPatch = { updated_at: now };
    if (input.title !== undefined) patch.title = cleanTitle(input.title);
    const body = input.body === undefined ? current.body : cleanBody(input.body);
    patch.body = body;
    // Re-rendered on every edit, so a tightened sanitiser reaches old posts as they are touched.
    patch.body_html = renderMarkdown(body);
    if (input.excerpt !== undefined) {
      const excerpt = cleanExcerpt(input.excerpt);
      patch.excerpt_custom = excerpt ? 1 : 0;
      patch.excerpt = excerpt ?? deriveExcerpt(body);
    } else if (!current.excerpt_custom) {
      patch.excerpt = deriveExcerpt(body);
    }
    if (input.slug !== undefined) {
      patch.slug = cleanSlug(input.slug);
      if (patch.slug !== current.slug && (await this.repo.slugExists(patch.slug, id))) throw slugTaken();
    }
    if (input.status !== undefined) {
      Object.assign(patch, publication(input.status, input.publishedAt, now, current));
    } else if (input.publishedAt !== undefined) {
      if (current.status === 'draft') {
        throw fieldError('publishedAt', 'Publish or schedule the post to give it a publication time.');
      }
      const at = parseTime(input.publishedAt);
      Object.assign(patch, publication(statusAt(at, now), at, now, current));
    }
    const tags = input.tags === undefined ? undefined : cleanTags(input.tags);
    return this.write(current, patch, tags);
  }

  /** Publishes now, at a past time (backdated) or at a future one (scheduled). */
  async publish(id: number, actor: Actor | null, publishedAt?: string): Promise<Post> {
    const current = await this.manageable(id, actor);
    const now = this.now();
    const at = publishedAt === undefined ? undefined : parseTime(publishedAt);
    return this.write(current, {
      ...publication(statusAt(at, now), at, now, current),
      updated_at: now,
    });
  }

  /** Back to draft: hidden from the public, publication time forgotten. */
  async unpublish(id: number, actor: Actor | null): Promise<Post> {
    const current = await this.manageable(id, actor);
    return this.write(current, { status: 'draft', published_at: null, updated_at: this.now() });
  }

  async delete(id: number, actor: Actor | null): Promise<void> {
    const current = await this.manageable(id, actor);
    await this.repo.delete(id);
    await this.pages.invalidate(postPageTags(current, null));
  }

  toApi(row: PostRecord): Post;
  toApi(row: PostSummaryRecord): PostSummary;
  toApi(row: PostRecord | PostSummaryRecord): Post | PostSummary {
    return toPostApi(row, this.now());
  }

  private now(): IsoTime {
    return isoNow(this.clock);
  }

  /** The post if the actor may change it; a post they cannot even see is 404, not 403. */
  private async manageable(id: number, actor: Actor | null): Promise<PostRecord> {
    const row = await this.repo.get(id);
    if (!row) throw notFound('Post');
    if (canManagePost(actor, { authorId: row.author_id })) return row;
    if (!isVisible(row, this.now())) throw notFound('Post');
    if (!actor) throw unauthorized();
    throw forbidden('You can only change your own posts.');
  }

  private async write(current: PostRecord, patch: PostPatch, tags?: string[]): Promise<Post> {
    const { id, version } = current;
    let row: PostRecord | null;
    try {
      row = await this.repo.update(id, version, patch, tags);
    } catch (error) {
      if (isUniqueViolation(error)) throw slugTaken();
      throw error;
    }
    if (row) {
      await this.pages.invalidate(postPageTags(current, row));
      return this.toApi(row);
    }
    const latest = await this.repo.get(id);
    if (!latest) throw notFound('Post');
    throw staleVersion(latest.version);
  }

  private async uniqueSlug(base: string): Promise<string> {
    const taken = await this.repo.slugsWithPrefix(base);
    if (!taken.has(base)) return base;
    for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
  }

  private page(rows: PostSummaryRecord[], page: number, perPage: number, total: number): PostList {
    return toPostList(rows, page, perPage, total, this.now());
  }
}

const authorTags = (posts: { author: { id: number } }[]) => [
  ...new Set(posts.map((post) => pageTags.user(post.author.id))),
];

const slugTaken = () =>
  conflict('Another post already uses this slug.', { slug: 'Another post already uses this slug.' });

const staleVersion = (version: number) =>
  conflict(
    `This post was changed since you opened it (it is now at version ${version}). Reload it and apply your changes again.`,
    { version: String(version) },
  );
