import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import { unauthorized } from '../../errors.js';
import { asFormFailure, type FormFailure, validationFailure } from '../../http/forms.js';
import { IdParams, PageNumber } from '../../http/schemas.js';
import { field, formErrors, pagination, time } from '../../views/components.js';
import { html, raw } from '../../views/html.js';
import { csrfField, sendPage } from '../../views/layout.js';
import { statusBadge } from '../../views/posts.js';
import { authorize } from '../access/permissions.js';
import { deriveExcerpt } from './markdown.js';
import {
  BODY_MAX,
  EXCERPT_MAX,
  type Post,
  type PostCreate,
  type PostListStatus,
  TITLE_MAX,
} from './schemas.js';

/** The editor form as the browser sends it: every field a string, tags comma-separated. */
const EditorForm = Type.Object({
  title: Type.String({ maxLength: TITLE_MAX * 4 }),
  slug: Type.Optional(Type.String({ maxLength: 400 })),
  tags: Type.Optional(Type.String({ maxLength: 2000 })),
  excerpt: Type.Optional(Type.String({ maxLength: EXCERPT_MAX * 4 })),
  body: Type.Optional(Type.String({ maxLength: BODY_MAX })),
  status: Type.Optional(
    Type.Union([Type.Literal('draft'), Type.Literal('published'), Type.Literal('scheduled')]),
  ),
  publishedAt: Type.Optional(Type.String({ maxLength: 40 })),
  /** The publishedAt value the form was rendered with: unchanged means "keep the stored time". */
  publishedAtShown: Type.Optional(Type.String({ maxLength: 40 })),
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  _csrf: Type.Optional(Type.String()),
});
type EditorForm = Static<typeof EditorForm>;

interface EditorState {
  post?: Post;
  values: Partial<Record<keyof EditorForm, string>>;
  failure?: FormFailure;
  /** Set when the post changed under the editor: the newer text, shown beside the author's own. */
  newer?: Post;
}

const splitTags = (tags: string | undefined) =>
  (tags ?? '')
    .split(/[,，、]/)
    .map((tag) => tag.trim())
    .filter(Boolean);

/** datetime-local has no zone; the form labels it UTC and we read it so. */
function toIso(local: string | undefined): string | undefined {
  const value = local?.trim();
  if (!value) return undefined;
  return /(?:[zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value.length === 16 ? `${value}:00` : value}Z`;
}

const toLocal = (iso: string | null | undefined) => (iso ? iso.slice(0, 16) : '');

function formInput(body: EditorForm): PostCreate {
  return {
    title: body.title,
    body: body.body ?? '',
    tags: splitTags(body.tags),
    excerpt: body.excerpt ?? '',
    status: body.status ?? 'draft',
    ...(body.slug?.trim() ? { slug: body.slug } : {}),
    // The field shows minutes only; sending it back unchanged would cut the stored seconds.
    ...(toIso(body.publishedAt) && body.publishedAt !== body.publishedAtShown
      ? { publishedAt: toIso(body.publishedAt) }
      : {}),
  };
}

function valuesOf(post: Post): EditorState['values'] {
  return {
    title: post.title,
    slug: post.slug,
    tags: post.tags.map((t) => t.name).join(', '),
    // A derived excerpt stays out of the field: sent back, it would be saved as a custom one and
    // stop following the body.
    excerpt: post.excerpt === deriveExcerpt(post.body) ? '' : post.excerpt,
    body: post.body,
    status: post.status,
    publishedAt: toLocal(post.publishedAt),
    version: String(post.version),
  };
}

function editorPage(request: FastifyRequest, reply: FastifyReply, state: EditorState) {
  const { post, values, failure, newer } = state;
  const errors = failure?.fields;
  const action = post ? `/edit/${post.id}` : '/write';
  return sendPage(
    request,
    reply,
    { title: post ? `Edit: ${post.title}` : 'New post', noindex: true, scripts: ['/static/editor.js'] },
    (ctx) =>
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
    failure?.status ?? 200,
  );
}

const SAVED: Record<Post['status'], string> = {
  draft: 'Draft saved.',
  scheduled: 'Saved; the post is scheduled.',
  published: 'Saved and published.',
};

const MY_STATUSES: readonly PostListStatus[] = ['all', 'draft', 'scheduled', 'published'];

export const editorPages: FastifyPluginAsyncTypebox = async (app) => {
  const { posts } = app.services;

  const requireWriter = (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.actor) {
      reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
      return false;
    }
    authorize(request.actor, 'post:create');
    return true;
  };

  app.get('/write', { schema: { hide: true } }, async (request, reply) => {
    if (!requireWriter(request, reply)) return reply;
    return editorPage(request, reply, { values: {} });
  });

  app.post(
    '/write',
    { schema: { hide: true, body: EditorForm }, attachValidation: true },
    async (request, reply) => {
      if (!request.actor) throw unauthorized();
      const body = request.body;
      const values = { ...body, version: undefined };
      const invalid = validationFailure(request);
      if (invalid)
        return editorPage(request, reply, { values: values as EditorState['values'], failure: invalid });
      try {
        const post = await posts.create(formInput(body), request.actor);
        reply.flash('success', SAVED[post.status]);
        return reply.redirect(`/edit/${post.id}`, 303);
      } catch (error) {
        return editorPage(request, reply, {
          values: values as EditorState['values'],
          failure: asFormFailure(error),
        });
      }
    },
  );

  app.get('/edit/:id', { schema: { hide: true, params: IdParams } }, async (request, reply) => {
    if (!request.actor) return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
    const post = await posts.getForEdit(request.params.id, request.actor);
    return editorPage(request, reply, { post, values: valuesOf(post) });
  });

  app.post(
    '/edit/:id',
    { schema: { hide: true, params: IdParams, body: EditorForm }, attachValidation: true },
    async (request, reply) => {
      const post = await posts.getForEdit(request.params.id, request.actor);
      const body = request.body;
      const values = { ...body, version: String(body.version ?? post.version) } as EditorState['values'];
      const invalid = validationFailure(request);
      if (invalid) return editorPage(request, reply, { post, values, failure: invalid });
      try {
        const input = formInput(body);
        const updated = await posts.update(
          post.id,
          {
            ...input,
            excerpt: body.excerpt ?? null,
            slug: input.slug ?? post.slug,
            version: body.version ?? post.version,
          },
          request.actor,
        );
        reply.flash('success', SAVED[updated.status]);
        return reply.redirect(`/edit/${post.id}`, 303);
      } catch (error) {
        const failure = asFormFailure(error);
        if (failure.status === 409 && !failure.fields.slug) {
          // Keep the author's text; offer the newer version and let a second save win deliberately.
          return editorPage(request, reply, {
            post,
            values: { ...values, version: String(post.version) },
            failure,
            newer: post,
          });
        }
        return editorPage(request, reply, { post, values, failure });
      }
    },
  );

  app.post('/edit/:id/delete', { schema: { hide: true, params: IdParams } }, async (request, reply) => {
    await posts.delete(request.params.id, request.actor);
    reply.flash('success', 'Post deleted.');
    return reply.redirect('/my/posts', 303);
  });

  app.get(
    '/my/posts',
    {
      schema: {
        hide: true,
        querystring: Type.Object({
          status: Type.Union(
            MY_STATUSES.map((s) => Type.Literal(s)),
            { default: 'all' },
          ),
          page: PageNumber,
        }),
      },
    },
    async (request, reply) => {
      if (!requireWriter(request, reply)) return reply;
      const actor = request.actor!;
      const { status, page } = request.query;
      const list = await posts.list({ author: actor.username, status, page, perPage: 20 }, actor);
      return sendPage(
        request,
        reply,
        { title: 'My posts', noindex: true },
        () =>
          html` <div class="actions" style="justify-content: space-between">
              <h1>My posts</h1>
              <a class="button" href="/write">New post</a>
            </div>
            <nav class="site-nav" aria-label="Filter">
              ${MY_STATUSES.map(
                (s) =>
                  html`<a href="/my/posts?status=${s}" ${s === status ? html` aria-current="page"` : ''}
                    >${s}</a
                  >`,
              )}
            </nav>
            ${postTable(list.items)}
            ${pagination(list.page, list.totalPages, (p) => `/my/posts?status=${status}&page=${p}`)}`,
      );
    },
  );
};

export function postTable(
  items: {
    id: number;
    title: string;
    url: string;
    status: Post['status'];
    publishedAt: string | null;
    updatedAt: string;
    author: Post['author'];
  }[],
) {
  if (items.length === 0)
    return html`<p class="empty">Nothing here yet. <a href="/write">Write a post</a>.</p>`;
  return html`<div class="table-wrap">
    <table class="table">
      <thead>
        <tr>
          <th>Title</th>
          <th>Author</th>
          <th>Status</th>
          <th>Date</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (post) =>
            html`<tr>
              <td><a href="${post.url}">${post.title}</a></td>
              <td>${post.author.displayName}</td>
              <td>${post.status}</td>
              <td>${time(post.publishedAt ?? post.updatedAt)}</td>
              <td><a href="/edit/${post.id}">Edit</a></td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
