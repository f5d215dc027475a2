import type { EditorState } from '../modules/posts/editor-form.js';
import {
  BODY_MAX,
  EXCERPT_MAX,
  type PostList,
  type PostListStatus,
  STATUS_FILTERS,
  TITLE_MAX,
} from '../modules/posts/schemas.js';
import { field, formErrors, pagination } from './components.js';
import { assetUrl } from './assets.js';
import { html, raw } from './html.js';
import { can } from '../modules/access/permissions.js';
import { csrfField, type Page } from './layout.js';
import { postTable, statusBadge, statusFilter } from './posts.js';

export function editorPage(state: EditorState): Page {
  const { post, values, failure, newer } = state;
  const errors = failure?.fields;
  const action = post ? `/edit/${post.id}` : '/write';
  return {
    meta: {
      title: post ? `Edit: ${post.title}` : 'New post',
      noindex: true,
      scripts: [assetUrl('editor.js'), assetUrl('editor-ai.js')],
    },
    status: failure?.status ?? 200,
    body: (ctx) =>
      html`<div class="editor-page">
        <p class="breadcrumbs">
          <a href="/my/posts">My posts</a> /
          ${post ? html`<a href="${post.url}">${post.title}</a>` : 'New post'}
        </p>
        <h1>${post ? 'Edit post' : 'New post'} ${post ? statusBadge(post.status) : ''}</h1>
        ${formErrors(failure?.message)}
        ${
          newer
            ? html`<div class="card stack">
                <p>
                  <strong>Someone saved this post after you opened it</strong> (now version ${newer.version}).
                  Your text is still in the form below. Saving again replaces their version with yours.
                </p>
                <details>
                  <summary>Their version</summary>
                  <div class="prose">${raw(newer.bodyHtml)}</div>
                </details>
              </div>`
            : ''
        }
        <form method="post" action="${action}" class="stack" id="editor-form">
          ${csrfField(ctx)}
          ${values.version ? html`<input type="hidden" name="version" value="${values.version}" />` : ''}
          ${field({ name: 'title', label: 'Title', value: values.title, errors, required: true, maxlength: TITLE_MAX })}
          <div class="grid-2">
            ${field({ name: 'slug', label: 'Slug', value: values.slug, errors, maxlength: 100, hint: 'Leave empty to make one from the title.' })}
            ${field({ name: 'tags', label: 'Tags', value: values.tags, errors, hint: 'Separate with commas.' })}
          </div>
          ${can(ctx.actor, 'ai:use') ? aiPanel() : ''}
          <div class="editor with-preview">
            ${field({ name: 'body', label: 'Body (Markdown)', value: values.body, errors, maxlength: BODY_MAX, textarea: { rows: 20 }, attrs: html`data-preview="preview"` })}
            <div>
              <p class="preview-label">Preview</p>
              <div class="preview prose" id="preview" aria-live="polite">
                ${post ? raw(post.bodyHtml) : html`<p class="muted">The preview appears as you type (needs JavaScript).</p>`}
              </div>
            </div>
          </div>
          ${field({ name: 'excerpt', label: 'Excerpt', value: values.excerpt, errors, maxlength: EXCERPT_MAX, textarea: { rows: 2 }, hint: 'Shown in lists and feeds. Leave empty to use the start of the post.' })}
          <div class="grid-2">
            <div class="field${errors?.status ? ' has-error' : ''}">
              <label for="f-status">Status</label>
              <select id="f-status" name="status">
                ${(['draft', 'published', 'scheduled'] as const).map(
                  (s) =>
                    html`<option value="${s}" ${(values.status ?? 'draft') === s ? html` selected` : ''}>
                      ${s === 'draft' ? 'Draft (only you and editors)' : s === 'published' ? 'Published' : 'Scheduled'}
                    </option>`,
                )}
              </select>
            </div>
            ${(values.publishedAtShown ?? values.publishedAt) ? html`<input type="hidden" name="publishedAtShown" value="${values.publishedAtShown ?? values.publishedAt}">` : ''}
          ${field({ name: 'publishedAt', label: 'Publish at (UTC)', type: 'datetime-local', value: values.publishedAt, errors, hint: 'For scheduled posts; empty means now.' })}
          </div>
          <div class="actions">
            <button type="submit">${post ? 'Save' : 'Create post'}</button>
            ${post ? html`<a class="button secondary" href="${post.url}">View</a>` : ''}
          </div>
        </form>
        ${
          post
            ? html`<form
                method="post"
                action="/edit/${post.id}/delete"
                class="actions"
                onsubmit="return confirm('Delete this post and its comments?')"
              >
                ${csrfField(ctx)}<button class="link danger">Delete this post</button>
              </form>`
            : ''
        }
      </div>`,
  };
}

export interface MyPostsView {
  status: PostListStatus;
  list: PostList;
}

export function myPostsPage({ status, list }: MyPostsView): Page {
  return {
    meta: { title: 'My posts', noindex: true },
    body: () =>
      html` <div class="actions" style="justify-content: space-between">
          <h1>My posts</h1>
          <a class="button" href="/write">New post</a>
        </div>
        ${statusFilter(STATUS_FILTERS, status, (s) => `/my/posts?status=${s}`)}
        ${postTable(list.items)}
        ${pagination(list.page, list.totalPages, (p) => `/my/posts?status=${status}&page=${p}`)}`,
  };
}

/**
 * The writing assistant: hidden until editor-ai.js shows it, so the editor without
 * JavaScript is the plain form. The answer streams into a textarea the author can edit
 * before accepting it; it is shown as text, never as HTML.
 */
function aiPanel() {
  return html`<section class="ai-panel card" id="ai-panel" hidden aria-label="Writing assistant">
    <div class="ai-actions">
      <button type="button" class="small" data-ai-kind="draft" title="A whole post from the title">Draft with AI</button>
      <button type="button" class="small secondary" data-ai-kind="continue" title="From the cursor">Continue</button>
      <button type="button" class="small secondary" data-ai-kind="rewrite" title="The selected text">Rewrite</button>
      <button type="button" class="small secondary" data-ai-kind="polish" title="The selected text">Polish</button>
      <button type="button" class="small secondary" data-ai-kind="summarize">Excerpt</button>
      <button type="button" class="small secondary" data-ai-kind="titles">Titles</button>
      <button type="button" class="small secondary" data-ai-kind="tags">Tags</button>
      <label class="visually-hidden" for="ai-instruction">How to rewrite</label>
      <input id="ai-instruction" type="text" maxlength="500" placeholder="Rewrite how? (shorter, warmer…)" />
    </div>
    <div class="ai-result" hidden>
      <p class="ai-status muted" role="status" aria-live="polite"></p>
      <label class="visually-hidden" for="ai-output">The assistant's text</label>
      <textarea id="ai-output" rows="10" readonly></textarea>
      <div class="ai-controls">
        <button type="button" class="small secondary" data-ai="stop">Stop</button>
        <button type="button" class="small" data-ai="accept" disabled>Accept</button>
        <button type="button" class="small secondary" data-ai="regenerate" disabled>Regenerate</button>
        <button type="button" class="small secondary" data-ai="discard">Discard</button>
      </div>
    </div>
  </section>`;
}
