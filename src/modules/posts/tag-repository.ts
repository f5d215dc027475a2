import type { Kysely } from 'kysely';
import type { Db } from '../../db/index.js';
import type { Database, IsoTime } from '../../db/types.js';
import { slugify } from './slug.js';

export interface TagRef {
  name: string;
  slug: string;
}

export interface TagCount extends TagRef {
  count: number;
}

/**
 * The one de-duplication rule for tag names: one tag per slug, the first spelling given
 * wins, and a name with no letter or digit (no slug) is dropped. The service runs it on
 * input (after refusing such names with a message); the repository runs it again because
 * it is also called directly, and the post_tags key would reject a repeated tag.
 */
export function uniqueTags(names: readonly string[]): TagRef[] {
  const bySlug = new Map<string, string>();
  for (const raw of names) {
    const name = normalizeTagName(raw);
    const slug = slugify(name);
    if (slug && !bySlug.has(slug)) bySlug.set(slug, name);
  }
  return [...bySlug].map(([slug, name]) => ({ name, slug }));
}

export const normalizeTagName = (raw: string): string => raw.trim().replace(/\s+/g, ' ');

/** Tags and their links to posts. Visible means published at or before `now`. */
export class TagRepository {
  constructor(private db: Db) {}

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

  /** The rows with their tags attached, in name order: one query for the whole list. */
  async withTags<T extends { id: number }>(rows: T[]): Promise<(T & { tags: TagRef[] })[]> {
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

  /** Runs inside the caller's transaction; a new tag is named as first given, an existing tag keeps its name. */
  async replaceTags(trx: Kysely<Database>, postId: number, names: readonly string[]): Promise<void> {
    const tags = uniqueTags(names);
    await trx.deleteFrom('post_tags').where('post_id', '=', postId).execute();
    if (tags.length === 0) return;
    await trx
      .insertInto('tags')
      .values(tags)
      .onConflict((oc) => oc.column('slug').doNothing())
      .execute();
    const ids = await trx
      .selectFrom('tags')
      .select('id')
      .where(
        'slug',
        'in',
        tags.map((t) => t.slug),
      )
      .execute();
    await trx
      .insertInto('post_tags')
      .values(ids.map((t) => ({ post_id: postId, tag_id: t.id })))
      .execute();
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
}
