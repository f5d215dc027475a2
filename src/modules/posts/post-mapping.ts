import { toPage } from '../../db/paging.js';
import type { IsoTime } from '../../db/types.js';
import type { PostRecord, PostSummaryRecord } from './post-query.js';
import { apiStatus } from './publication.js';
import type { Post, PostList, PostSummary } from './schemas.js';

export const postUrl = (slug: string) => `/posts/${encodeURIComponent(slug)}`;

/** A post row as the API (and the pages) show it; its status as of `now`. */
export function toPostApi(row: PostRecord, now: IsoTime): Post;
export function toPostApi(row: PostSummaryRecord, now: IsoTime): PostSummary;
export function toPostApi(row: PostRecord | PostSummaryRecord, now: IsoTime): Post | PostSummary {
  const summary: PostSummary = {
    id: row.id,
    title: row.title,
    slug: row.slug,
    excerpt: row.excerpt,
    status: apiStatus(row, now),
    publishedAt: row.published_at,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    url: postUrl(row.slug),
    author: { id: row.author_id, username: row.author_username, displayName: row.author_display_name },
    tags: row.tags.map((tag) => ({ name: tag.name, slug: tag.slug })),
  };
  return 'body' in row ? { ...summary, body: row.body, bodyHtml: row.body_html } : summary;
}

/** One page of a post list as the API shows it. */
export function toPostList(
  rows: PostSummaryRecord[],
  page: number,
  perPage: number,
  total: number,
  now: IsoTime,
): PostList {
  return toPage(
    rows.map((row) => toPostApi(row, now)),
    page,
    perPage,
    total,
  );
}
