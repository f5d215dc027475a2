import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pageTags } from '../../cache/page-cache.js';
import { validationFailure } from '../../http/forms.js';
import { PageNumber } from '../../http/schemas.js';
import {
  authorPage,
  homePage,
  postPage,
  searchPage,
  tagPage,
  tagsPage,
  welcomePage,
} from '../../views/blog.js';
import { absoluteUrl, atomFeed, robotsTxt, sitemapXml } from './feeds.js';
import { QUERY_MAX } from './schemas.js';
import { SLUG_MAX } from './slug.js';

const PageQuery = Type.Object({ page: PageNumber });
const TagParams = Type.Object({ tag: Type.String({ minLength: 1, maxLength: SLUG_MAX }) });
const PER_PAGE = 10;
// An anonymous GET of these routes may come from the full-page cache (src/http/page-cache.ts).
const shared = { pageCache: true };
const authorsOf = (posts: { author: { id: number } }[]) => posts.map((post) => pageTags.user(post.author.id));
const listTags = (posts: { author: { id: number } }[]) => [
  pageTags.site,
  pageTags.lists,
  ...authorsOf(posts),
];
// Longer queries are rendered every time: repeats are rare, and each would be one more entry.
const SEARCH_CACHE_QUERY_MAX = 64;

/**
 * Whether a search page may be stored: only under the URL the search form (`q=green+tea`) or
 * the pagination (`q=green%20tea&page=2`) spells for this query and page, so the entries for
 * one query are at most four, whatever spellings (spaces, extra parameters) arrive.
 */
function canonicalSearch(url: string, q: string, page: number): boolean {
  if (!q) return url === '/search';
  if (q.length > SEARCH_CACHE_QUERY_MAX) return false;
  const pages = page === 1 ? ['', '&page=1'] : [`&page=${page}`];
  const queries = [new URLSearchParams({ q }).toString(), `q=${encodeURIComponent(q)}`];
  return queries.some((query) => pages.some((suffix) => url === `/search?${query}${suffix}`));
}

/** The reader's pages: each gathers its view model from the services and hands it to a view. */
export const postPages: FastifyPluginAsyncTypebox = async (app) => {
  const { posts, comments, users, auth, settings } = app.services;
  const siteUrl = app.config.publicUrl;

  app.get('/', { schema: { hide: true, querystring: PageQuery }, config: shared }, async (request, reply) => {
    // No tags: the welcome page is never stored, so the first user's home is not hidden by it.
    if (await auth.needsSetup()) return reply.page(welcomePage());
    const [list, tags] = await Promise.all([
      posts.list({ page: request.query.page, perPage: PER_PAGE }, request.actor),
      posts.listTags(),
    ]);
    // Empty, the home page invites a visitor to log in: it is not the same for every reader.
    const sharedBody = list.items.length > 0;
    return reply.page({ ...homePage({ list, tags }), cacheTags: listTags(list.items), sharedBody });
  });

  app.get(
    '/posts/:slug',
    {
      schema: { hide: true, params: Type.Object({ slug: Type.String({ minLength: 1, maxLength: 200 }) }) },
      config: shared,
    },
    async (request, reply) => {
      const post = await posts.getBySlug(request.params.slug, request.actor);
      const [list, author] = await Promise.all([
        comments.listForPost(post, request.actor),
        users.get(post.author.id),
      ]);
      return reply.page({
        ...postPage({ post, author, comments: list, url: absoluteUrl(siteUrl, post.url) }),
        cacheTags: [
          pageTags.site,
          pageTags.post(post.id),
          pageTags.user(author.id),
          ...list.map((comment) => pageTags.user(comment.author.id)),
        ],
      });
    },
  );

  app.get('/tags', { schema: { hide: true }, config: shared }, async (_request, reply) =>
    reply.page({
      ...tagsPage(await posts.listTags()),
      cacheTags: [pageTags.site, pageTags.lists],
      sharedBody: true,
    }),
  );

  app.get(
    '/tags/:tag',
    { schema: { hide: true, params: TagParams, querystring: PageQuery }, config: shared },
    async (request, reply) => {
      const tag = await posts.getTag(request.params.tag);
      const list = await posts.list(
        { tag: tag.slug, page: request.query.page, perPage: PER_PAGE },
        request.actor,
      );
      return reply.page({ ...tagPage({ tag, list }), cacheTags: listTags(list.items), sharedBody: true });
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
      config: shared,
    },
    async (request, reply) => {
      // A bad page number is forgiven (page 1); an over-long query is shown as the error it is.
      const invalid = validationFailure(request);
      const tooLong = Boolean(invalid?.fields.q);
      const given = (request.query as { q?: unknown }).q;
      const q = tooLong || typeof given !== 'string' ? '' : given.trim();
      const page = invalid ? 1 : request.query.page;
      const results = q ? await posts.search(q, page, request.actor, { perPage: PER_PAGE }) : null;
      // Results are a list of posts: any publication, edit or unpublish may change them. A page
      // past the last is not kept either: page numbers are as arbitrary as queries.
      const cacheTags =
        tooLong || !canonicalSearch(request.url, q, page) || page > Math.max(1, results?.totalPages ?? 1)
          ? undefined
          : results
            ? listTags(results.items)
            : [pageTags.site];
      return reply.page({ ...searchPage({ q, tooLong, results }, QUERY_MAX), cacheTags });
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
      config: shared,
    },
    async (request, reply) => {
      const user = await users.getByUsername(request.params.username);
      const list = await posts.list(
        { author: user.username, page: request.query.page, perPage: PER_PAGE },
        request.actor,
      );
      return reply.page({
        ...authorPage({ user, list }),
        cacheTags: [...listTags(list.items), pageTags.user(user.id)],
        sharedBody: true,
      });
    },
  );

  app.get('/feed.xml', { schema: { hide: true }, config: shared }, async (_request, reply) => {
    const [site, recent] = await Promise.all([settings.get(), posts.recent(20)]);
    const xml = atomFeed({
      siteTitle: site.siteTitle,
      subtitle: site.siteDescription,
      siteUrl,
      feedUrl: absoluteUrl(siteUrl, '/feed.xml'),
      posts: recent,
    });
    return reply.sendShared(xml, 'application/atom+xml; charset=utf-8', listTags(recent));
  });

  app.get(
    '/tags/:tag/feed.xml',
    { schema: { hide: true, params: TagParams }, config: shared },
    async (request, reply) => {
      const tag = await posts.getTag(request.params.tag);
      const [site, full] = await Promise.all([settings.get(), posts.recent(20, tag.slug)]);
      const xml = atomFeed({
        siteTitle: `${site.siteTitle}: ${tag.name}`,
        siteUrl,
        feedUrl: absoluteUrl(siteUrl, `/tags/${encodeURIComponent(tag.slug)}/feed.xml`),
        posts: full,
      });
      return reply.sendShared(xml, 'application/atom+xml; charset=utf-8', listTags(full));
    },
  );

  app.get('/sitemap.xml', { schema: { hide: true }, config: shared }, async (_request, reply) => {
    const entries = [{ loc: '/' }, ...(await posts.sitemapEntries())];
    return reply.sendShared(sitemapXml(siteUrl, entries), 'application/xml; charset=utf-8', [pageTags.lists]);
  });

  app.get('/robots.txt', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/plain; charset=utf-8').send(robotsTxt(siteUrl)),
  );
};
