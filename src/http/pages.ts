import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errorPage, bareErrorPage } from '../views/error-page.js';
import { raw } from '../views/html.js';
import type { Actor } from '../modules/access/permissions.js';
import {
  type Flash,
  layout,
  layoutFrame,
  type Page,
  type PageContext,
  type PageMeta,
  readerFlash,
  readerNav,
  renderPage,
  renderSharedBody,
} from '../views/layout.js';
import type { SharedBody } from '../cache/shared-bodies.js';
import type { SiteSettings } from '../modules/settings/service.js';
import { createPageResponder } from './page-cache.js';
import { type ErrorBody, registerErrorHandling } from './errors.js';
import { takeFlash } from './request-context.js';

declare module 'fastify' {
  interface FastifyReply {
    /** Renders a page (its view model already gathered) inside the layout and sends it. */
    page(page: Page): Promise<FastifyReply>;
    /**
     * Sends a body that is not a page (a feed, the sitemap) through the page cache: `tags`
     * say what it shows; see createPageResponder.
     */
    sendShared(body: string, type: string, tags: string[]): Promise<FastifyReply>;
  }
}

/**
 * What every page knows of its request. The CSRF token is read only by a form's hidden field
 * (a page without a form sets no CSRF cookie), so it is a getter: on the class's prototype.
 * An object literal's `get csrfToken()` closure, made anew for each request, kept each
 * request's objects (the reply and all it reaches, ~4 KB) alive through young-generation
 * collections into the old generation, until the next full collection: young collections
 * cost ~0.023 ms per HTML page that way, ~0.003 ms now (--trace-gc-nvp under wrk; a minimal
 * Fastify app shows the same). The likely cause: each such object gets a hidden class of its
 * own, reached from its parent class's transitions, which the young collector treats as strong.
 */
class RequestPageContext implements PageContext {
  constructor(
    readonly actor: Actor | null,
    private readonly reply: FastifyReply,
    readonly settings: SiteSettings,
    readonly flash: Flash | null,
    readonly publicUrl: string,
    readonly path: string,
  ) {}

  get csrfToken(): string {
    return this.reply.csrfToken();
  }
}

/** A held body's page as bytes, but for the reader's own parts (see sendHeld). */
interface HeldFrame {
  settings: SiteSettings;
  path: string;
  top: Buffer;
  middle: Buffer;
  body: Buffer;
  bottom: Buffer;
}

/**
 * The HTTP side of the views: what every page shows besides its own view model (the site
 * settings, the signed-in user, the flash message) is gathered here, once, and handed to
 * the pure render functions in src/views/. Also the HTML face of the one error handler.
 */
export const pagesPlugin = fp(
  async (app) => {
    const { settings, pageCache, posts } = app.services;
    const { publicUrl } = app.config;
    const responder = createPageResponder({
      cache: pageCache,
      config: app.config.cache,
      untilNextScheduled: () => posts.msUntilNextScheduled(),
    });
    // After the request context (the actor is known) and validation (bad input is still 4xx).
    app.addHook('preHandler', async (request, reply) => {
      const answered = await responder.lookup(request, reply);
      if (answered) return answered;
      // A signed-in reader of a page everyone sees alike: its body as rendered before, in
      // this reader's layout; the handler does not run.
      const held = responder.heldBody(request);
      if (held) {
        reply.header('x-page-cache', 'body');
        return sendHeld(request, reply, held);
      }
    });

    // A held body and the layout's frame around it as UTF-8, made once per held body: a page
    // with one character beyond Latin-1 (any Chinese title) is a two-byte string, and writing
    // it cost ~27 µs of encoding on every response; and of the layout only the navigation and
    // the flash are the reader's own, so only those are drawn for each signed-in reader.
    // The frame reads the site settings: a new settings object (after a write, or when the
    // held one lapses) draws it again.
    const frames = new WeakMap<SharedBody, HeldFrame>();
    const sendHeld = async (request: FastifyRequest, reply: FastifyReply, held: SharedBody) => {
      const ctx = await context(request, reply);
      let frame = frames.get(held);
      if (!frame || frame.settings !== ctx.settings || frame.path !== ctx.path) {
        // Only this plugin stores bodies, and always a Page's meta.
        const { top, middle, bottom } = layoutFrame(ctx, held.meta as PageMeta);
        frame = {
          settings: ctx.settings,
          path: ctx.path,
          top: Buffer.from(top.value),
          middle: Buffer.from(middle.value),
          body: Buffer.from(held.html),
          bottom: Buffer.from(bottom.value),
        };
        frames.set(held, frame);
      }
      const flash = readerFlash(ctx);
      const parts = [frame.top, navBytes(ctx), frame.middle];
      if (flash !== '') parts.push(Buffer.from(flash.value));
      parts.push(frame.body, frame.bottom);
      const page = Buffer.concat(parts);
      return responder.send(reply.code(200), page, 'text/html; charset=utf-8', undefined);
    };

    // A signed-in reader's navigation as bytes, remembered per actor object for the last path
    // and CSRF token it was drawn with (~4 % of a signed-in home page's CPU). The actor is the
    // session's cached entry: the same object until the session, the user's name or role
    // changes, when a new one draws it again. The navigation reads nothing else of the reader
    // but the token (the logout form), read first: it may set the CSRF cookie.
    const navs = new WeakMap<Actor, { path: string; token: string; bytes: Buffer }>();
    const navBytes = (ctx: PageContext): Buffer => {
      const { actor } = ctx;
      if (!actor) return Buffer.from(readerNav(ctx).value);
      const token = ctx.csrfToken;
      const drawn = navs.get(actor);
      if (drawn && drawn.path === ctx.path && drawn.token === token) return drawn.bytes;
      const bytes = Buffer.from(readerNav(ctx).value);
      navs.set(actor, { path: ctx.path, token, bytes });
      return bytes;
    };

    const context = async (request: FastifyRequest, reply: FastifyReply): Promise<PageContext> =>
      new RequestPageContext(
        request.actor,
        reply,
        await settings.get(),
        takeFlash(request, reply),
        publicUrl,
        request.url.split('?')[0] ?? '/',
      );

    app.decorateReply('page', async function (this: FastifyReply, page: Page) {
      const ctx = await context(this.request, this);
      let html: string;
      if (page.sharedBody && page.cacheTags && (page.status ?? 200) === 200) {
        const body = renderSharedBody(ctx, page);
        await responder.keepBody(this.request, page.meta, body, page.cacheTags);
        html = layout(ctx, page.meta, raw(body)).value;
      } else {
        html = renderPage(ctx, page);
      }
      return responder.send(this.code(page.status ?? 200), html, 'text/html; charset=utf-8', page.cacheTags);
    });
    app.decorateReply(
      'sendShared',
      async function (this: FastifyReply, body: string, type: string, tags: string[]) {
        return responder.send(this, body, type, tags);
      },
    );

    registerErrorHandling(app, async (request, reply, status, body: ErrorBody) => {
      const page = errorPage({ status, message: body.error.message, returnTo: request.url });
      try {
        return renderPage(await context(request, reply), page);
      } catch {
        // The site itself is failing (no settings): a page that needs nothing.
        return bareErrorPage(status, body.error.message);
      }
    });
  },
  { name: 'pages', dependencies: ['services'], fastify: '5.x' },
);
