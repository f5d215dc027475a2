import type { PostSummary } from '../modules/posts/schemas.js';
import { time } from './components.js';
import { html, type Interpolation } from './html.js';

export const tagLinks = (tags: PostSummary['tags']): Interpolation =>
  tags.length
    ? html`<span class="tags"
        >${tags.map((tag) => html`<a class="tag" href="/tags/${encodeURIComponent(tag.slug)}">${tag.name}</a>`)}</span
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
