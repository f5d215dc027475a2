import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../http/errors.js';
import { html } from './html.js';
import { layout, type PageContext, pageContext } from './layout.js';

const TITLES: Record<number, string> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  409: 'Changed in the meantime',
  413: 'Too large',
  429: 'Slow down',
};

/** The HTML face of the one error handler; falls back to a bare page if the site itself is failing. */
export async function renderErrorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  body: ErrorBody,
): Promise<string> {
  const title = TITLES[status] ?? 'Something went wrong';
  const content = html`<section class="error-page">
    <p class="error-code">${status}</p>
    <h1>${title}</h1>
    <p>${body.error.message}</p>
    ${
      status === 401 || (status === 403 && !request.actor)
        ? html`<p><a class="button" href="/login?next=${encodeURIComponent(request.url)}">Log in</a></p>`
        : html`<p><a href="/">Back to the home page</a></p>`
    }
  </section>`;
  let ctx: PageContext;
  try {
    ctx = await pageContext(request, reply);
  } catch {
    return html`<!doctype html><title>${title}</title>
      <h1>${title}</h1>
      <p>${body.error.message}</p>`.value;
  }
  return layout(ctx, { title, noindex: true }, content).value;
}
