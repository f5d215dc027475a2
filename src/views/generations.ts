import { pagination, time } from './components.js';
import { html } from './html.js';
import type { Page } from './layout.js';

export interface GenerationRowView {
  id: string;
  kind: string;
  status: string;
  error: string | null;
  created_at: string;
  webhook_status: string | null;
  output: string | null;
  model: string | null;
  username: string;
}

export interface GenerationsView {
  items: GenerationRowView[];
  /** An admin looking at everyone's jobs. */
  everyone: boolean;
  page: number;
  hasMore: boolean;
}

const PREVIEW = 240;

/** A user's generation jobs (admins: everyone's), newest first, with their outputs. */
export function generationsPage({ items, everyone, page, hasMore }: GenerationsView): Page {
  const title = everyone ? 'All generations' : 'My generations';
  return {
    meta: { title, noindex: true },
    body: (ctx) => html`<h1>${title}</h1>
      <p class="muted">Jobs submitted to <code>POST /api/v1/ai/generations</code>, newest first.
        ${ctx.actor?.role === 'admin' ? html`<a href="/my/generations${everyone ? '' : '?all=1'}">${everyone ? 'Only mine' : 'Everyone’s'}</a>` : ''}</p>
      ${
        items.length === 0
          ? html`<p class="empty">No generations yet.</p>`
          : html`<div class="table-wrap"><table class="table generations">
              <thead><tr><th>When</th>${everyone ? html`<th>Who</th>` : ''}<th>Task</th><th>Status</th><th>Output</th></tr></thead>
              <tbody>${items.map(
                (job) => html`<tr>
                  <td>${time(job.created_at)}</td>
                  ${everyone ? html`<td>@${job.username}</td>` : ''}
                  <td>${job.kind}${job.model ? html`<br><span class="muted small">${job.model}</span>` : ''}</td>
                  <td><span class="badge badge-${job.status === 'completed' ? 'published' : job.status === 'running' ? 'scheduled' : 'hidden'}">${job.status}</span>
                    ${job.webhook_status ? html`<br><span class="muted small">webhook ${job.webhook_status}</span>` : ''}
                    ${job.error ? html`<br><span class="muted small">${job.error}</span>` : ''}</td>
                  <td><details><summary>${(job.output ?? '').slice(0, PREVIEW)}${(job.output ?? '').length > PREVIEW ? '…' : ''}</summary>
                    <pre class="generation-output">${job.output ?? ''}</pre></details></td>
                </tr>`,
              )}</tbody></table></div>`
      }
      ${pagination(page, hasMore ? page + 1 : page, (p) => `/my/generations?page=${p}${everyone ? '&all=1' : ''}`)}`,
  };
}
