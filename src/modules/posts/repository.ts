import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import type { Db, Dialect } from '../../db/index.js';
import { type PageWindow, pageWithTotal } from '../../db/paging.js';
import type { Database, IsoTime, NewPostRow, PostRow } from '../../db/types.js';
import { markdownToText } from './markdown.js';
import {
  conditions,
  type PostFilter,
  type PostRecord,
  type PostsEb,
  type RecordPage,
  SUMMARY_COLUMNS,
} from './post-query.js';
import { SearchRepository, type SearchQuery } from './search-repository.js';
import { escapeLikeText } from './search-sql.js';
import { type TagCount, TagRepository } from './tag-repository.js';

export type NewPost = Omit<NewPostRow, 'id' | 'version'>;

export type PostPatch = Partial<
  Pick<
    PostRow,
    'title' | 'slug' | 'body' | 'body_html' | 'excerpt' | 'excerpt_custom' | 'status' | 'published_at'
  >
> & { updated_at: IsoTime };

/** Posts and their writes; tags and search are their own repositories, reached through this one. */
export class PostsRepository {
  private readonly tags: TagRepository;
  private readonly searcher: SearchRepository;

  constructor(
    private db: Db,
    private dialect: Dialect,
  ) {
    this.tags = new TagRepository(db);
    this.searcher = new SearchRepository(db, dialect, this.tags);
  }

  async get(id: number): Promise<PostRecord | undefined> {
    return this.getWhere((eb) => eb('posts.id', '=', id));
  }

  async getBySlug(slug: string): Promise<PostRecord | undefined> {
    return this.getWhere((eb) => eb('posts.slug', '=', slug));
  }

  async slugExists(slug: string, exceptId?: number): Promise<boolean> {
    let query = this.db.selectFrom('posts').select('id').where('slug', '=', slug);
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  /** Slugs equal to `base` or starting with `base-`: what a unique suffix must avoid. */
  async slugsWithPrefix(base: string): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('posts')
      .select('slug')
      .where((eb) =>
        eb.or([eb('slug', '=', base), sql<SqlBool>`slug like ${`${escapeLikeText(base)}-%`} escape '\\'`]),
      )
      .execute();
    return new Set(rows.map((r) => r.slug));
  }

  async list(filter: PostFilter & PageWindow): Promise<RecordPage> {
    const { rows, total } = await pageWithTotal(
      this.db
        .selectFrom('posts')
        .innerJoin('users', 'users.id', 'posts.author_id')
        .where((eb) => conditions(eb, filter)),
      (query) =>
        query
          .select(SUMMARY_COLUMNS)
          // Published (and scheduled) first, newest first; drafts after, last edited first.
          .orderBy(sql`case when posts.status = 'published' then 0 else 1 end`)
          .orderBy('posts.published_at', 'desc')
          .orderBy('posts.updated_at', 'desc')
          .orderBy('posts.id', 'desc'),
      filter,
    );
    return { rows: await this.tags.withTags(rows), total };
  }

  /** The newest visible posts with their bodies, for feeds. */
  async listRecent(now: IsoTime, limit: number, tagSlug?: string): Promise<PostRecord[]> {
    const rows = await this.db
      .selectFrom('posts')
      .innerJoin('users', 'users.id', 'posts.author_id')
      .selectAll('posts')
      .select(['users.username as author_username', 'users.display_name as author_display_name'])
      .where((eb) => conditions(eb, { now, visibleAt: now, tagSlug }))
      .orderBy('posts.published_at', 'desc')
      .orderBy('posts.id', 'desc')
      .limit(limit)
      .execute();
    return this.tags.withTags(rows);
  }

  async create(row: NewPost, tagNames: readonly string[]): Promise<PostRecord> {
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx
        .insertInto('posts')
        .values({ ...row, version: 1 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.tags.replaceTags(trx, id, tagNames);
      await this.syncSearchIndex(trx, id);
      return id;
    });
    return (await this.get(id))!;
  }

  /** Applies the patch only if the post is still at `expectedVersion`; null (and no write) if not. */
  async update(
    id: number,
    expectedVersion: number,
    patch: PostPatch,
    tagNames?: readonly string[],
  ): Promise<PostRecord | null> {
    const applied = await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('posts')
        .set({ ...patch, version: (eb) => eb('version', '+', 1) })
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      if (tagNames) await this.tags.replaceTags(trx, id, tagNames);
      await this.syncSearchIndex(trx, id);
      return true;
    });
    return applied ? ((await this.get(id)) ?? null) : null;
  }

  /** post_tags and comments go by ON DELETE CASCADE; the FTS table has no foreign keys. */
  async delete(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'sqlite') await trx.deleteFrom('posts_fts').where('rowid', '=', id).execute();
      const result = await trx.deleteFrom('posts').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /** Full-text search over visible posts, best match first. */
  search(q: string, options: SearchQuery): Promise<RecordPage> {
    return this.searcher.search(q, options);
  }

  listTags(options: { now: IsoTime }): Promise<TagCount[]> {
    return this.tags.listTags(options);
  }

  getTag(slug: string, options: { now: IsoTime }): Promise<TagCount | undefined> {
    return this.tags.getTag(slug, options);
  }

  async nextScheduledAt(now: IsoTime): Promise<IsoTime | null> {
    const row = await this.db
      .selectFrom('posts')
      .select((eb) => eb.fn.min('published_at').as('at'))
      .where('status', '=', 'published')
      .where('published_at', '>', now)
      .executeTakeFirst();
    return row?.at ?? null;
  }

  async listForSitemap(now: IsoTime): Promise<{ slug: string; updated_at: IsoTime }[]> {
    return (
      this.db
        .selectFrom('posts')
        .select(['slug', 'updated_at'])
        .where('status', '=', 'published')
        .where('published_at', '<=', now)
        .orderBy('published_at', 'desc')
        // The sitemap protocol's limit for one file.
        .limit(50_000)
        .execute()
    );
  }

  private async getWhere(where: (eb: PostsEb) => Expression<SqlBool>): Promise<PostRecord | undefined> {
    const row = await this.db
      .selectFrom('posts')
      .innerJoin('users', 'users.id', 'posts.author_id')
      .selectAll('posts')
      .select(['users.username as author_username', 'users.display_name as author_display_name'])
      .where(where)
      .executeTakeFirst();
    return row ? (await this.tags.withTags([row]))[0] : undefined;
  }

  /** SQLite's FTS table is not tied to posts by triggers, so every write goes through here. */
  private async syncSearchIndex(trx: Kysely<Database>, postId: number): Promise<void> {
    if (this.dialect !== 'sqlite') return;
    const post = await trx
      .selectFrom('posts')
      .select(['title', 'body'])
      .where('id', '=', postId)
      .executeTakeFirstOrThrow();
    const tags = await trx
      .selectFrom('post_tags')
      .innerJoin('tags', 'tags.id', 'post_tags.tag_id')
      .select('tags.name')
      .where('post_tags.post_id', '=', postId)
      .execute();
    await trx.deleteFrom('posts_fts').where('rowid', '=', postId).execute();
    await trx
      .insertInto('posts_fts')
      .values({
        rowid: postId,
        title: post.title,
        body: markdownToText(post.body),
        tags: tags.map((t) => t.name).join(' '),
      })
      .execute();
  }
}
