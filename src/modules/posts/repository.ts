import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Db, Dialect } from '../../db/index.js';
import type { Database, IsoTime, NewPostRow, PostRow } from '../../db/types.js';
import { markdownToText } from './markdown.js';
import { escapeLikeText, ftsQuery, likeMatch, postgresMatch, searchTerms } from './search-sql.js';
import { slugify } from './slug.js';

export interface TagRef {
  name: string;
  slug: string;
}

export interface PostRecord extends PostRow {
  author_username: string;
  author_display_name: string;
  tags: TagRef[];
}

/** A list row: everything but the (up to 100 KB) body and its HTML. */
export type PostSummaryRecord = Omit<PostRecord, 'body' | 'body_html'>;

export type NewPost = Omit<NewPostRow, 'id' | 'version'>;

export type PostPatch = Partial<
  Pick<
    PostRow,
    'title' | 'slug' | 'body' | 'body_html' | 'excerpt' | 'excerpt_custom' | 'status' | 'published_at'
  >
> & { updated_at: IsoTime };

export interface PostFilter {
  /** The current time: what 'published' and 'scheduled' are measured against. */
  now: IsoTime;
  /** Only published posts with published_at <= this. */
  visibleAt?: IsoTime;
  authorId?: number;
  authorUsername?: string;
  tagSlug?: string;
  status?: 'draft' | 'published' | 'scheduled';
}

export interface Page {
  limit: number;
  offset: number;
}

export interface RecordPage {
  rows: PostSummaryRecord[];
  total: number;
}

export interface TagCount extends TagRef {
  count: number;
}

type PostsEb = ExpressionBuilder<Database, 'posts' | 'users'>;

const SUMMARY_COLUMNS = [
  'posts.id',
  'posts.author_id',
  'posts.title',
  'posts.slug',
  'posts.excerpt',
  'posts.excerpt_custom',
  'posts.status',
  'posts.published_at',
  'posts.version',
  'posts.created_at',
  'posts.updated_at',
  'users.username as author_username',
  'users.display_name as author_display_name',
] as const;

/** True for the error a unique index raises on either database (e.g. a slug taken concurrently). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export class PostsRepository {
  constructor(
    private db: Db,
    private dialect: Dialect,
  ) {}

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

  async list(filter: PostFilter & Page): Promise<RecordPage> {
    const where = (eb: PostsEb) => conditions(eb, filter);
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('posts')
        .innerJoin('users', 'users.id', 'posts.author_id')
        .select(SUMMARY_COLUMNS)
        .where(where)
        // Published (and scheduled) first, newest first; drafts after, last edited first.
        .orderBy(sql`case when posts.status = 'published' then 0 else 1 end`)
        .orderBy('posts.published_at', 'desc')
        .orderBy('posts.updated_at', 'desc')
        .orderBy('posts.id', 'desc')
        .limit(filter.limit)
        .offset(filter.offset)
        .execute(),
      this.db
        .selectFrom('posts')
        .innerJoin('users', 'users.id', 'posts.author_id')
        .select((eb) => eb.fn.countAll<number | string>().as('total'))
        .where(where)
        .executeTakeFirstOrThrow(),
    ]);
    return { rows: await this.withTags(rows), total: Number(count.total) };
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
    return this.withTags(rows);
  }

  async create(row: NewPost, tagNames: readonly string[]): Promise<PostRecord> {
    const id = await this.db.transaction().execute(async (trx) => {
      const { id } = await trx
        .insertInto('posts')
        .values({ ...row, version: 1 })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.replaceTags(trx, id, tagNames);
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
      if (tagNames) await this.replaceTags(trx, id, tagNames);
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
  async search(
    q: string,
    options: { now: IsoTime; authorUsername?: string; tagSlug?: string } & Page,
  ): Promise<RecordPage> {
    const terms = searchTerms(q);
    if (terms.length === 0) return { rows: [], total: 0 };
    const visible = (eb: PostsEb) => conditions(eb, { ...options, visibleAt: options.now });
    const from = this.db.selectFrom('posts').innerJoin('users', 'users.id', 'posts.author_id').where(visible);

    // The trigram tokenizer cannot match a term shorter than three characters (and two
    // characters is a common Chinese word), so such queries scan with LIKE instead.
    if (this.dialect === 'sqlite' && terms.every((term) => Array.from(term).length >= 3)) {
      const hits = this.db
        .selectFrom('posts_fts')
        .select(['rowid', sql<number>`bm25(posts_fts, 10.0, 1.0, 5.0)`.as('score')])
        .where(sql<SqlBool>`posts_fts match ${ftsQuery(terms)}`)
        .as('hit');
      const matched = from.innerJoin(hits, 'hit.rowid', 'posts.id');
      const [rows, count] = await Promise.all([
        matched
          .select(SUMMARY_COLUMNS)
          // bm25 is lower for a better match.
          .orderBy('hit.score')
          .orderBy('posts.published_at', 'desc')
          .orderBy('posts.id', 'desc')
          .limit(options.limit)
          .offset(options.offset)
          .execute(),
        matched.select((eb) => eb.fn.countAll<number | string>().as('total')).executeTakeFirstOrThrow(),
      ]);
      return { rows: await this.withTags(rows), total: Number(count.total) };
    }

    const match = this.dialect === 'sqlite' ? likeMatch(terms) : postgresMatch(q, terms);
    const matched = from.where(match.where);
    const [rows, count] = await Promise.all([
      matched
        .select(SUMMARY_COLUMNS)
        .orderBy(match.rank)
        .orderBy('posts.published_at', 'desc')
        .orderBy('posts.id', 'desc')
        .limit(options.limit)
        .offset(options.offset)
        .execute(),
      matched.select((eb) => eb.fn.countAll<number | string>().as('total')).executeTakeFirstOrThrow(),
    ]);
    return { rows: await this.withTags(rows), total: Number(count.total) };
  }

  /** Tags with the number of visible posts each; tags with none are left out. */
  async listTags(options: { now: IsoTime }): Promise<TagCount[]> {
    const rows = await this.tagCounts(options.now).orderBy('count', 'desc').orderBy('tags.name').execute();
    return rows.map((r) => ({ name: r.name, slug: r.slug, count: Number(r.count) }));
  }

  /** A tag and its number of visible posts (0 when it has none). */
  async getTag(slug: string, options: { now: IsoTime }): Promise<TagCount | undefined> {
    const tag = await this.db
      .selectFrom('tags')
      .select(['name', 'slug'])
      .where('slug', '=', slug)
      .executeTakeFirst();
    if (!tag) return undefined;
    const counted = await this.tagCounts(options.now).where('tags.slug', '=', slug).executeTakeFirst();
    return { ...tag, count: counted ? Number(counted.count) : 0 };
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

  private tagCounts(now: IsoTime) {
    return this.db
      .selectFrom('tags')
      .innerJoin('post_tags', 'post_tags.tag_id', 'tags.id')
      .innerJoin('posts', 'posts.id', 'post_tags.post_id')
      .select(['tags.name', 'tags.slug', (eb) => eb.fn.countAll<number | string>().as('count')])
      .where('posts.status', '=', 'published')
      .where('posts.published_at', '<=', now)
      .groupBy(['tags.id', 'tags.name', 'tags.slug']);
  }

  private async getWhere(where: (eb: PostsEb) => Expression<SqlBool>): Promise<PostRecord | undefined> {
    const row = await this.db
      .selectFrom('posts')
      .innerJoin('users', 'users.id', 'posts.author_id')
      .selectAll('posts')
      .select(['users.username as author_username', 'users.display_name as author_display_name'])
      .where(where)
      .executeTakeFirst();
    return row ? (await this.withTags([row]))[0] : undefined;
  }

  private async withTags<T extends { id: number }>(rows: T[]): Promise<(T & { tags: TagRef[] })[]> {
    if (rows.length === 0) return [];
    const links = await this.db
      .selectFrom('post_tags')
      .innerJoin('tags', 'tags.id', 'post_tags.tag_id')
      .select(['post_tags.post_id', 'tags.name', 'tags.slug'])
      .where(
        'post_tags.post_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('tags.name')
      .execute();
    const byPost = new Map<number, TagRef[]>();
    for (const { post_id, name, slug } of links) {
      const list = byPost.get(post_id) ?? [];
      list.push({ name, slug });
      byPost.set(post_id, list);
    }
    return rows.map((row) => ({ ...row, tags: byPost.get(row.id) ?? [] }));
  }

  private async replaceTags(trx: Kysely<Database>, postId: number, names: readonly string[]): Promise<void> {
    // One tag per slug; the first spelling given names a new tag, an existing tag keeps its name.
    const bySlug = new Map<string, string>();
    for (const raw of names) {
      const name = raw.trim();
      const slug = slugify(name);
      if (slug && !bySlug.has(slug)) bySlug.set(slug, name);
    }
    await trx.deleteFrom('post_tags').where('post_id', '=', postId).execute();
    if (bySlug.size === 0) return;
    await trx
      .insertInto('tags')
      .values([...bySlug].map(([slug, name]) => ({ slug, name })))
      .onConflict((oc) => oc.column('slug').doNothing())
      .execute();
    const tags = await trx
      .selectFrom('tags')
      .select('id')
      .where('slug', 'in', [...bySlug.keys()])
      .execute();
    await trx
      .insertInto('post_tags')
      .values(tags.map((t) => ({ post_id: postId, tag_id: t.id })))
      .execute();
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

function conditions(eb: PostsEb, f: PostFilter): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = [];
  if (f.visibleAt !== undefined) {
    parts.push(eb('posts.status', '=', 'published'), eb('posts.published_at', '<=', f.visibleAt));
  }
  if (f.status === 'draft') parts.push(eb('posts.status', '=', 'draft'));
  if (f.status === 'published') {
    parts.push(eb('posts.status', '=', 'published'), eb('posts.published_at', '<=', f.now));
  }
  if (f.status === 'scheduled') {
    parts.push(eb('posts.status', '=', 'published'), eb('posts.published_at', '>', f.now));
  }
  if (f.authorId !== undefined) parts.push(eb('posts.author_id', '=', f.authorId));
  if (f.authorUsername !== undefined) parts.push(eb('users.username', '=', f.authorUsername));
  if (f.tagSlug !== undefined) {
    const tagSlug = f.tagSlug;
    parts.push(
      eb.exists(
        eb
          .selectFrom('post_tags')
          .innerJoin('tags', 'tags.id', 'post_tags.tag_id')
          .select('post_tags.post_id')
          .whereRef('post_tags.post_id', '=', 'posts.id')
          .where('tags.slug', '=', tagSlug),
      ),
    );
  }
  return eb.and(parts);
}
