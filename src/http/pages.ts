import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errorPage, bareErrorPage } from '../views/error-page.js';
import { raw } from '../views/html.js';
import {
  layout,
  type Page,
  type PageContext,
  type PageMeta,
  renderPage,
  renderSharedBody,
} from '../views/layout.js';
import type { SharedBody } from '../cache/shared-bodies.js';
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

/** Where a held body goes in the layout rendered around it (no page can contain it). */
const BODY_MARK = '\u0000inkstone-body\u0000';

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

    // A held body as UTF-8, encoded once: a page with one character beyond Latin-1 (any
    // Chinese title) is a two-byte string, and writing 30 KB of it cost ~27 µs of encoding on
    // every response (a CPU profile put writevGeneric at 8 % of a signed-in page, now 1.4 %).
    const encoded = new WeakMap<SharedBody, Buffer>();
    const sendHeld = async (request: FastifyRequest, reply: FastifyReply, held: SharedBody) => {
      let body = encoded.get(held);
      if (!body) {
        body = Buffer.from(held.html);
        encoded.set(held, body);
      }
      // Only this plugin stores bodies, and always a Page's meta.
      const around = layout(await context(request, reply), held.meta as PageMeta, raw(BODY_MARK)).value;
      const at = around.indexOf(BODY_MARK);
      const page = Buffer.concat([
        Buffer.from(around.slice(0, at)),
        body,
        Buffer.from(around.slice(at + BODY_MARK.length)),
      ]);
      return responder.send(reply.code(200), page, 'text/html; charset=utf-8', undefined);
    };

    const context = async (request: FastifyRequest, reply: FastifyReply): Promise<PageContext> => ({
      actor: request.actor,
      // Read only by a form's hidden field: a page without a form sets no CSRF cookie.
      get csrfToken() {
        return reply.csrfToken();
      },
      settings: await settings.get(),
      flash: takeFlash(request, reply),
      publicUrl,
      path: request.url.split('?')[0] ?? '/',
    });

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
