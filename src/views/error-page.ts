import { html } from './html.js';
import type { Page } from './layout.js';

const TITLES: Record<number, string> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  409: 'Changed in the meantime',
  413: 'Too large',
  429: 'Slow down',
};

const titleOf = (status: number) => TITLES[status] ?? 'Something went wrong';

export interface ErrorView {
  status: number;
  message: string;
  /** Where a "Log in" link should return to. */
  returnTo: string;
}

export function errorPage({ status, message, returnTo }: ErrorView): Page {
  const title = titleOf(status);
  return {
    meta: { title, noindex: true },
    body: (ctx) => html`<section class="error-page">
      <p class="error-code">${status}</p>
      <h1>${title}</h1>
      <p>${message}</p>
      ${
        status === 401 || (status === 403 && !ctx.actor)
          ? html`<p><a class="button" href="/login?next=${encodeURIComponent(returnTo)}">Log in</a></p>`
          : html`<p><a href="/">Back to the home page</a></p>`
      }
    </section>`,
  };
}

/** For when the layout itself cannot be rendered. */
export function bareErrorPage(status: number, message: string): string {
  const title = titleOf(status);
  return html`<!doctype html><title>${title}</title>
    <h1>${title}</h1>
    <p>${message}</p>`.value;
}
