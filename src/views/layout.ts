import { type Actor, can } from '../modules/access/permissions.js';
import type { SiteSettings } from '../modules/settings/service.js';
import { assetUrl } from './assets.js';
import { html, type Interpolation, type SafeHtml } from './html.js';

export interface Flash {
  kind: 'success' | 'error';
  text: string;
}

/** What every page needs to know about the request it renders for. */
export interface PageContext {
  actor: Actor | null;
  csrfToken: string;
  settings: SiteSettings;
  flash: Flash | null;
  publicUrl: string;
  path: string;
}

export interface PageMeta {
  title: string;
  description?: string;
  /** Absolute canonical URL; defaults to the public URL of the path. */
  canonical?: string;
  og?: { type: 'website' | 'article'; publishedTime?: string; tags?: string[] };
  noindex?: boolean;
  /** Extra <head> content such as feed links. */
  head?: SafeHtml;
  scripts?: string[];
}

/**
 * A page as a handler hands it over: its head, and a body rendered from the view model the
 * handler gathered. The layout adds what every page shows (site, user, flash).
 */
export interface Page {
  meta: PageMeta;
  body: (ctx: PageContext) => Interpolation;
  status?: number;
  /**
   * What the page shows, as page-cache tags (src/cache/page-cache.ts): set by a reader's
   * page that anonymous visitors may share; writes to any of these invalidate it.
   */
  cacheTags?: string[];
  /**
   * Set by a handler whose data is the same for every reader (published posts, public
   * profiles), on a page whose body reads nothing of who asks (no actor, CSRF token or flash:
   * the body is rendered with a context that throws if it does). Signed-in readers of the URL
   * then share the body (src/cache/shared-bodies.ts) and only the layout is drawn for each.
   */
  sharedBody?: boolean;
}

export const csrfField = (ctx: PageContext) =>
  html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}" />`;

/** The navigation: the reader's own (who is signed in, what they may do, their logout form). */
export function readerNav(ctx: PageContext): SafeHtml {
  const { actor } = ctx;
  const link = (href: string, label: string) =>
    html`<a href="${href}" ${ctx.path === href ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<nav class="site-nav" aria-label="Main">
    ${link('/', 'Home')} ${link('/search', 'Search')}
    ${can(actor, 'post:create') ? [link('/write', 'Write'), link('/my/posts', 'My posts')] : ''}
    ${can(actor, 'ai:use') ? link('/my/generations', 'Generations') : ''}
    ${can(actor, 'comment:moderate') ? link('/admin', 'Admin') : ''}
    ${
      actor
        ? html`<a href="/account" class="nav-user">${actor.displayName}</a>
            <form method="post" action="/logout" class="inline">
              ${csrfField(ctx)}<button class="link">Log out</button>
            </form>`
        : html`${link('/login', 'Log in')}${ctx.settings.registrationOpen ? html`<a class="button small" href="/register">Sign up</a>` : ''}`
    }
  </nav>`;
}

/** What the frame of a page reads: the site and the URL, never who asks. */
export type FrameContext = Pick<PageContext, 'settings' | 'publicUrl' | 'path'>;

/**
 * The layout's parts that are the same for every reader of a URL: the head, the header up to
 * the navigation, and everything after the body. A signed-in reader's page around a shared
 * body keeps these as bytes (src/http/pages.ts), so only the navigation and the flash are
 * drawn for each reader.
 */
export function layoutFrame(
  ctx: FrameContext,
  meta: PageMeta,
): { top: SafeHtml; middle: SafeHtml; bottom: SafeHtml } {
  const siteTitle = ctx.settings.siteTitle;
  const fullTitle = meta.title && meta.title !== siteTitle ? `${meta.title} · ${siteTitle}` : siteTitle;
  const description = meta.description ?? ctx.settings.siteDescription;
  const canonical = meta.canonical ?? `${ctx.publicUrl}${ctx.path}`;
  const og = meta.og ?? { type: 'website' as const };
  const top = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${fullTitle}</title>
        <meta name="description" content="${description}" />
        <link rel="canonical" href="${canonical}" />
        ${meta.noindex ? html`<meta name="robots" content="noindex" />` : ''}
        <meta property="og:site_name" content="${siteTitle}" />
        <meta property="og:title" content="${meta.title || siteTitle}" />
        <meta property="og:description" content="${description}" />
        <meta property="og:type" content="${og.type}" />
        <meta property="og:url" content="${canonical}" />
        ${og.publishedTime ? html`<meta property="article:published_time" content="${og.publishedTime}" />` : ''}
        ${(og.tags ?? []).map((tag) => html`<meta property="article:tag" content="${tag}" />`)}
        <meta name="twitter:card" content="summary" />
        <link rel="alternate" type="application/atom+xml" title="${siteTitle}" href="/feed.xml" />
        ${meta.head ?? ''}
        <link rel="stylesheet" href="${assetUrl('style.css')}" />
        <link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml" />
      </head>
      <body>
        <header class="site-header">
          <div class="wrap header-row">
            <a class="site-title" href="/">${siteTitle}</a>
            `;
  const middle = html`
          </div>
        </header>
        <main class="wrap" id="main">
          `;
  const bottom = html`
        </main>
        <footer class="site-footer">
          <div class="wrap">
            <p>${ctx.settings.siteDescription}</p>
            <p>
              <a href="/feed.xml">Atom feed</a> · <a href="/sitemap.xml">Sitemap</a> ·
              <a href="/docs">API</a> · Powered by Inkstone
            </p>
          </div>
        </footer>
        ${(meta.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
      </body>
    </html>`;
  return { top, middle, bottom };
}

/** The flash message, the reader's own too; '' when there is none. */
export function readerFlash(ctx: PageContext): SafeHtml | '' {
  return ctx.flash
    ? html`<div class="flash flash-${ctx.flash.kind}" role="${ctx.flash.kind === 'error' ? 'alert' : 'status'}">${ctx.flash.text}</div>`
    : '';
}

export function layout(ctx: PageContext, meta: PageMeta, body: Interpolation): SafeHtml {
  const { top, middle, bottom } = layoutFrame(ctx, meta);
  // The same bytes as a held body's page (src/http/pages.ts), which joins these parts too.
  return html`${top}${readerNav(ctx)}${middle}${readerFlash(ctx)}${body}${bottom}`;
}

/** The whole document for a page. */
export function renderPage(ctx: PageContext, page: Page): string {
  return layout(ctx, page.meta, page.body(ctx)).value;
}

/**
 * The context a sharedBody page's body is rendered with: the site and the URL, and no reader.
 * Reading who asks throws, so a body that does fails its tests instead of leaking. Getters on
 * a class's prototype, not defined on each object: fresh getter closures per render kept the
 * render's objects alive through young-generation collections (see RequestPageContext in
 * src/http/pages.ts).
 */
class NoReaderContext implements PageContext {
  constructor(
    readonly settings: SiteSettings,
    readonly publicUrl: string,
    readonly path: string,
  ) {}
  get actor(): never {
    return noReader('actor');
  }
  get csrfToken(): never {
    return noReader('csrfToken');
  }
  get flash(): never {
    return noReader('flash');
  }
}

function noReader(field: string): never {
  throw new Error(
    `A page marked sharedBody read ctx.${field} in its body: it is not the same for every reader`,
  );
}

/** A sharedBody page's body, rendered with a context that has no reader to read. */
export function renderSharedBody(ctx: PageContext, page: Page): string {
  return html`${page.body(new NoReaderContext(ctx.settings, ctx.publicUrl, ctx.path))}`.value;
}
