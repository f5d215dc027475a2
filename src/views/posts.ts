import type { PostSummary } from '../modules/posts/schemas.js';
import { time } from './components.js';
import { html, type Interpolation } from './html.js';

export const tagPath = (slug: string) => `/tags/${encodeURIComponent(slug)}`;

export const tagLinks = (tags: PostSummary['tags']): Interpolation =>
  tags.length
    ? html`<span class="tags"
        >${tags.map((tag) => html`<a class="tag" href="${tagPath(tag.slug)}">${tag.name}</a>`)}</span
      >`
    : '';

export function statusBadge(status: PostSummary['status']): Interpolation {
  return status === 'published' ? '' : html`<span class="badge badge-${status}">${status}</span>`;
}

export function postMeta(post: PostSummary, options: { author?: boolean } = {}): Interpolation {
  return html`<div class="meta">
    ${statusBadge(post.status)}
    ${post.publishedAt ? time(post.publishedAt) : html`<span>updated ${time(post.updatedAt)}</span>`}
    ${options.author === false ? '' : html`<span>by <a href="/@${encodeURIComponent(post.author.username)}">${post.author.displayName}</a></span>`}
    ${tagLinks(post.tags)}
  </div>`;
}

export function postList(
  posts: PostSummary[],
  empty: Interpolation,
  options: { author?: boolean } = {},
): Interpolation {
  if (posts.length === 0) return html`<div class="empty">${empty}</div>`;
  return html`<ol class="post-list">
    ${posts.map(
      (post) =>
        html`<li class="post-card">
          <h2><a href="${post.url}">${post.title}</a></h2>
          ${post.excerpt ? html`<p class="excerpt">${post.excerpt}</p>` : ''} ${postMeta(post, options)}
        </li>`,
    )}
  </ol>`;
}

/** Posts to manage: "my posts" and the admin's list. */
export function postTable(items: PostSummary[]): Interpolation {
  if (items.length === 0)
    return html`<p class="empty">Nothing here yet. <a href="/write">Write a post</a>.</p>`;
  return html`<div class="table-wrap">
    <table class="table">
      <thead>
        <tr>
          <th>Title</th>
          <th>Author</th>
          <th>Status</th>
          <th>Date</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (post) =>
            html`<tr>
              <td><a href="${post.url}">${post.title}</a></td>
              <td>${post.author.displayName}</td>
              <td>${post.status}</td>
              <td>${time(post.publishedAt ?? post.updatedAt)}</td>
              <td><a href="/edit/${post.id}">Edit</a></td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** Status filter links above a post table. */
export function statusFilter<S extends string>(statuses: readonly S[], current: S, href: (s: S) => string) {
  return html`<nav class="site-nav" aria-label="Filter">
    ${statuses.map((s) => html`<a href="${href(s)}" ${s === current ? html` aria-current="page"` : ''}>${s}</a>`)}
  </nav>`;
}
