import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { RowsAndTotal } from '../../db/paging.js';
import type { Database, IsoTime, PostRow } from '../../db/types.js';
import type { TagRef } from './tag-repository.js';

// What the post queries (the repository's lists and search) share: the record shapes, the
// columns of a list row and the filter conditions.

export interface PostRecord extends PostRow {
  author_username: string;
  author_display_name: string;
  tags: TagRef[];
}

/** A list row: everything but the (up to 100 KB) body and its HTML. */
export type PostSummaryRecord = Omit<PostRecord, 'body' | 'body_html'>;

export type RecordPage = RowsAndTotal<PostSummaryRecord>;

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

export type PostsEb = ExpressionBuilder<Database, 'posts' | 'users'>;

export const SUMMARY_COLUMNS = [
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

/** The filter as a where clause over posts joined with their authors. */
export function conditions(eb: PostsEb, f: PostFilter): Expression<SqlBool> {
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
