import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pagination } from '../../views/components.js';
import { html, raw } from '../../views/html.js';
import { sendPage } from '../../views/layout.js';
import { postList, postMeta } from '../../views/posts.js';
import { canManagePost } from '../access/permissions.js';
import { commentSection } from '../comments/views.js';
import { absoluteUrl, atomFeed, robotsTxt, sitemapXml } from './feeds.js';
import { QUERY_MAX } from './schemas.js';
import { SLUG_MAX } from './slug.js';
import { validationFailure } from '../../http/forms.js';
import { PageNumber } from '../../http/schemas.js';

const PageQuery = Type.Object({ page: PageNumber });
const TagParams = Type.Object({ tag: Type.String({ minLength: 1, maxLength: SLUG_MAX }) });
const PER_PAGE = 10;

export const postPages: FastifyPluginAsyncTypebox = async (app) => {
  const { posts, comments, users, auth, settings } = app.services;
  const siteUrl = app.config.publicUrl;

  app.get('/', { schema: { hide: true, querystring: PageQuery } }, async (request, reply) => {
    if (await auth.needsSetup()) {
      return sendPage(
        request,
        reply,
        { title: 'Welcome' },
        () => html`<section class="hero">
        <h1>Welcome to Inkstone</h1>
        <p>Your blog is installed. Create the administrator account to start writing.</p>
        <p><a class="button" href="/setup">Set up your blog</a></p>
      </section>`,
      );
    }
    const page = request.query.page;
    const [list, tags] = await Promise.all([
      posts.list({ page, perPage: PER_PAGE }, request.actor),
      posts.listTags(),
    ]);
    return sendPage(
      request,
      reply,
      { title: '' },
      (ctx) => html`
      ${page === 1 ? html`<section class="hero"><h1>${ctx.settings.siteTitle}</h1><p>${ctx.settings.siteDescription}</p></section>` : ''}
      ${postList(list.items, html`<p>No posts yet.</p>${ctx.actor ? '' : html`<p><a href="/login">Log in</a> to write the first one.</p>`}`)}
      ${pagination(list.page, list.totalPages, (p) => `/?page=${p}`)}
      ${tags.length ? html`<section><h2>Tags</h2><div class="tag-cloud">${tags.map((tag) => html`<a class="tag" href="/tags/${encodeURIComponent(tag.slug)}">${tag.name} · ${tag.count}</a>`)}</div></section>` : ''}`,
    );
  });

  app.get(
    '/posts/:slug',
    { schema: { hide: true, params: Type.Object({ slug: Type.String({ minLength: 1, maxLength: 200 }) }) } },
    async (request, reply) => {
      const post = await posts.getBySlug(request.params.slug, request.actor);
      const list = await comments.listForPost(post.id, request.actor);
      const author = await users.get(post.author.id);
      const url = absoluteUrl(siteUrl, post.url);
      return sendPage(
        request,
        reply,
        {
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
        (ctx) => html`<article class="post">
          <header class="post-header">
            <h1>${post.title}</h1>
            ${postMeta(post)}
            ${canManagePost(ctx.actor, { authorId: post.author.id }) ? html`<p class="actions"><a class="button small secondary" href="/edit/${post.id}">Edit</a></p>` : ''}
          </header>
          <div class="prose">${raw(post.bodyHtml)}</div>
          <footer class="post-footer">
            <div class="author-box">
              <span class="avatar" aria-hidden="true">${Array.from(author.display_name)[0] ?? '?'}</span>
              <div><strong><a href="/@${encodeURIComponent(author.username)}">${author.display_name}</a></strong>
              ${author.bio ? html`<div class="muted">${author.bio}</div>` : ''}</div>
            </div>
          </footer>
        </article>
        ${commentSection(ctx, post, list)}`,
      );
    },
  );

  app.get('/tags', { schema: { hide: true } }, async (request, reply) => {
    const tags = await posts.listTags();
    return sendPage(
      request,
      reply,
      { title: 'Tags' },
      () => html`<h1>Tags</h1>
      ${tags.length ? html`<div class="tag-cloud">${tags.map((tag) => html`<a class="tag" href="/tags/${encodeURIComponent(tag.slug)}">${tag.name} · ${tag.count}</a>`)}</div>` : html`<p class="empty">No tags yet.</p>`}`,
    );
  });

  app.get(
    '/tags/:tag',
    {
      schema: {
        hide: true,
        params: TagParams,
        querystring: PageQuery,
      },
    },
    async (request, reply) => {
      const tag = await posts.getTag(request.params.tag);
      const list = await posts.list(
        { tag: tag.slug, page: request.query.page, perPage: PER_PAGE },
        request.actor,
      );
      const feed = `/tags/${encodeURIComponent(tag.slug)}/feed.xml`;
      return sendPage(
        request,
        reply,
        {
          title: `Posts tagged “${tag.name}”`,
          head: html`<link rel="alternate" type="application/atom+xml" title="${tag.name}" href="${feed}">`,
        },
        () => html`<p class="breadcrumbs"><a href="/tags">Tags</a></p>
          <h1>${tag.name} <span class="muted small">${tag.count} ${tag.count === 1 ? 'post' : 'posts'}</span></h1>
          <p><a href="${feed}">Feed for this tag</a></p>
          ${postList(list.items, 'Nothing here yet.')}
          ${pagination(list.page, list.totalPages, (p) => `/tags/${encodeURIComponent(tag.slug)}?page=${p}`)}`,
      );
    },
  );

  app.get(
    '/search',
    {
      schema: {
        hide: true,
        querystring: Type.Object({
          q: Type.Optional(Type.String({ maxLength: QUERY_MAX })),
          page: PageNumber,
        }),
      },
      attachValidation: true,
    },
    async (request, reply) => {
      // A bad page number is forgiven (page 1); an over-long query is shown as the error it is.
      const invalid = validationFailure(request);
      const given = (request.query as { q?: unknown }).q;
      const q = invalid?.fields.q || typeof given !== 'string' ? '' : given.trim();
      const page = invalid ? 1 : request.query.page;
      const results = q ? await posts.search(q, page, request.actor, { perPage: PER_PAGE }) : null;
      return sendPage(
        request,
        reply,
        { title: q ? `Search: ${q}` : 'Search', noindex: true },
        () => html`<h1>Search</h1>
          <form class="search-form" action="/search" method="get" role="search">
            <label class="visually-hidden" for="q">Search posts</label>
            <input type="search" id="q" name="q" value="${q}" maxlength="${QUERY_MAX}" placeholder="Words, phrases, 中文…" autofocus>
            <button type="submit">Search</button>
          </form>
          ${invalid?.fields.q ? html`<div class="flash flash-error" role="alert">Search for at most ${QUERY_MAX} characters.</div>` : ''}
          ${
            results
              ? html`<p class="muted">${results.total} ${results.total === 1 ? 'result' : 'results'} for “${q}”</p>
                ${postList(results.items, 'No posts match. Try other words.')}
                ${pagination(results.page, results.totalPages, (p) => `/search?q=${encodeURIComponent(q)}&page=${p}`)}`
              : ''
          }`,
        invalid?.fields.q ? 400 : 200,
      );
    },
  );

  app.get(
    '/@:username',
    {
      schema: {
        hide: true,
        params: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) }),
        querystring: PageQuery,
      },
    },
    async (request, reply) => {
      const user = await users.getByUsername(request.params.username);
      const list = await posts.list(
        { author: user.username, page: request.query.page, perPage: PER_PAGE },
        request.actor,
      );
      return sendPage(
        request,
        reply,
        { title: user.display_name, description: user.bio || `Posts by ${user.display_name}` },
        () => html`<section class="hero">
            <h1>${user.display_name}</h1>
            <p class="muted">@${user.username} · ${user.role}</p>
            ${user.bio ? html`<p>${user.bio}</p>` : ''}
          </section>
          ${postList(list.items, 'No published posts yet.', { author: false })}
          ${pagination(list.page, list.totalPages, (p) => `/@${encodeURIComponent(user.username)}?page=${p}`)}`,
      );
    },
  );

  app.get('/feed.xml', { schema: { hide: true } }, async (_request, reply) => {
    const [site, recent] = await Promise.all([settings.get(), posts.recent(20)]);
    const xml = atomFeed({
      siteTitle: site.siteTitle,
      subtitle: site.siteDescription,
      siteUrl,
      feedUrl: absoluteUrl(siteUrl, '/feed.xml'),
      posts: recent,
    });
    return reply.type('application/atom+xml; charset=utf-8').send(xml);
  });

  app.get('/tags/:tag/feed.xml', { schema: { hide: true, params: TagParams } }, async (request, reply) => {
    const tag = await posts.getTag(request.params.tag);
    const [site, full] = await Promise.all([settings.get(), posts.recent(20, tag.slug)]);
    const xml = atomFeed({
      siteTitle: `${site.siteTitle}: ${tag.name}`,
      siteUrl,
      feedUrl: absoluteUrl(siteUrl, `/tags/${encodeURIComponent(tag.slug)}/feed.xml`),
      posts: full,
    });
    return reply.type('application/atom+xml; charset=utf-8').send(xml);
  });

  app.get('/sitemap.xml', { schema: { hide: true } }, async (_request, reply) => {
    const entries = [{ loc: '/' }, ...(await posts.sitemapEntries())];
    return reply.type('application/xml; charset=utf-8').send(sitemapXml(siteUrl, entries));
  });

  app.get('/robots.txt', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/plain; charset=utf-8').send(robotsTxt(siteUrl)),
  );
};
