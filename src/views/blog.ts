import { canManagePost } from '../modules/access/permissions.js';
import type { Comment } from '../modules/comments/schemas.js';
import type { Post, PostList, Tag } from '../modules/posts/schemas.js';
import type { User } from '../modules/users/schemas.js';
import { commentSection } from './comments.js';
import { pagination } from './components.js';
import { html, type Interpolation, raw } from './html.js';
import type { Page } from './layout.js';
import { postList, postMeta, tagPath } from './posts.js';

// The reader's pages. Each takes the view model its handler gathered and touches nothing else.

export function welcomePage(): Page {
  return {
    meta: { title: 'Welcome' },
    body: () => html`<section class="hero">
      <h1>Welcome to Inkstone</h1>
      <p>Your blog is installed. Create the administrator account to start writing.</p>
      <p><a class="button" href="/setup">Set up your blog</a></p>
    </section>`,
  };
}

const tagCloud = (tags: Tag[]): Interpolation =>
  html`<div class="tag-cloud">
    ${tags.map((tag) => html`<a class="tag" href="${tagPath(tag.slug)}">${tag.name} · ${tag.count}</a>`)}
  </div>`;

export interface HomeView {
  list: PostList;
  tags: Tag[];
}

export function homePage({ list, tags }: HomeView): Page {
  return {
    meta: { title: '' },
    body: (ctx) => html`
      ${list.page === 1 ? html`<section class="hero"><h1>${ctx.settings.siteTitle}</h1><p>${ctx.settings.siteDescription}</p></section>` : ''}
      ${list.items.length ? postList(list.items, '') : html`<div class="empty"><p>No posts yet.</p>${ctx.actor ? '' : html`<p><a href="/login">Log in</a> to write the first one.</p>`}</div>`}
      ${pagination(list.page, list.totalPages, (p) => `/?page=${p}`)}
      ${tags.length ? html`<section><h2>Tags</h2>${tagCloud(tags)}</section>` : ''}`,
  };
}

export interface PostView {
  post: Post;
  author: User;
  comments: Comment[];
  /** The absolute URL: canonical link and OpenGraph. */
  url: string;
}

export function postPage({ post, author, comments, url }: PostView): Page {
  return {
    meta: {
      title: post.title,
      description: post.excerpt,
      canonical: url,
      noindex: post.status !== 'published',
      og: {
        type: 'article',
        publishedTime: post.publishedAt ?? undefined,
        tags: post.tags.map((t) => t.name),
      },
    },
    body: (ctx) => html`<article class="post">
        <header class="post-header">
          <h1>${post.title}</h1>
          ${postMeta(post)}
          ${canManagePost(ctx.actor, { authorId: post.author.id }) ? html`<p class="actions"><a class="button small secondary" href="/edit/${post.id}">Edit</a></p>` : ''}
        </header>
        <div class="prose">${raw(post.bodyHtml)}</div>
        <footer class="post-footer">
          <div class="author-box">
            <span class="avatar" aria-hidden="true">${Array.from(author.displayName)[0] ?? '?'}</span>
            <div><strong><a href="${author.url}">${author.displayName}</a></strong>
            ${author.bio ? html`<div class="muted">${author.bio}</div>` : ''}</div>
          </div>
        </footer>
      </article>
      ${commentSection(ctx, post, comments)}`,
  };
}

export function tagsPage(tags: Tag[]): Page {
  return {
    meta: { title: 'Tags' },
    body: () => html`<h1>Tags</h1>
      ${tags.length ? tagCloud(tags) : html`<p class="empty">No tags yet.</p>`}`,
  };
}

export interface TagView {
  tag: Tag;
  list: PostList;
}

export function tagPage({ tag, list }: TagView): Page {
  const feed = `${tagPath(tag.slug)}/feed.xml`;
  return {
    meta: {
      title: `Posts tagged “${tag.name}”`,
      head: html`<link rel="alternate" type="application/atom+xml" title="${tag.name}" href="${feed}">`,
    },
    body: () => html`<p class="breadcrumbs"><a href="/tags">Tags</a></p>
      <h1>${tag.name} <span class="muted small">${tag.count} ${tag.count === 1 ? 'post' : 'posts'}</span></h1>
      <p><a href="${feed}">Feed for this tag</a></p>
      ${postList(list.items, 'Nothing here yet.')}
      ${pagination(list.page, list.totalPages, (p) => `${tagPath(tag.slug)}?page=${p}`)}`,
  };
}

export interface SearchView {
  q: string;
  /** The query was refused as too long: shown as the error it is, with status 400. */
  tooLong: boolean;
  results: PostList | null;
}

export function searchPage({ q, tooLong, results }: SearchView, queryMax: number): Page {
  return {
    meta: { title: q ? `Search: ${q}` : 'Search', noindex: true },
    status: tooLong ? 400 : 200,
    body: () => html`<h1>Search</h1>
      <form class="search-form" action="/search" method="get" role="search">
        <label class="visually-hidden" for="q">Search posts</label>
        <input type="search" id="q" name="q" value="${q}" maxlength="${queryMax}" placeholder="Words, phrases, 中文…" autofocus>
        <button type="submit">Search</button>
      </form>
      ${tooLong ? html`<div class="flash flash-error" role="alert">Search for at most ${queryMax} characters.</div>` : ''}
      ${
        results
          ? html`<p class="muted">${results.total} ${results.total === 1 ? 'result' : 'results'} for “${q}”</p>
            ${postList(results.items, 'No posts match. Try other words.')}
            ${pagination(results.page, results.totalPages, (p) => `/search?q=${encodeURIComponent(q)}&page=${p}`)}`
          : ''
      }`,
  };
}

export interface AuthorView {
  user: User;
  list: PostList;
}

export function authorPage({ user, list }: AuthorView): Page {
  return {
    meta: { title: user.displayName, description: user.bio || `Posts by ${user.displayName}` },
    body: () => html`<section class="hero">
        <h1>${user.displayName}</h1>
        <p class="muted">@${user.username} · ${user.role}</p>
        ${user.bio ? html`<p>${user.bio}</p>` : ''}
      </section>
      ${postList(list.items, 'No published posts yet.', { author: false })}
      ${pagination(list.page, list.totalPages, (p) => `${user.url}?page=${p}`)}`,
  };
}
