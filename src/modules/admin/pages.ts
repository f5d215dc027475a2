import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { asFormFailure, type FormFailure, validationFailure } from '../../http/forms.js';
import { field, formErrors, pagination, time } from '../../views/components.js';
import { html, raw } from '../../views/html.js';
import { csrfField, sendPage } from '../../views/layout.js';
import { authorize, can } from '../access/permissions.js';
import { postTable } from '../posts/editor-pages.js';
import { PageNumber } from '../../http/schemas.js';

const PageQuery = Type.Object({ page: PageNumber });
const SettingsForm = Type.Object({
  siteTitle: Type.String({ minLength: 1, maxLength: 100 }),
  siteDescription: Type.String({ maxLength: 300 }),
  registrationOpen: Type.Optional(Type.String()),
  _csrf: Type.Optional(Type.String()),
});

/** The admin area: editors moderate posts and comments; admins also manage users and settings. */
export const adminPages: FastifyPluginAsyncTypebox = async (app) => {
  const { posts, comments, users, settings } = app.services;

  app.get('/admin', { schema: { hide: true } }, async (request, reply) => {
    authorize(request.actor, 'comment:moderate');
    const [published, drafts, recent, userCount] = await Promise.all([
      posts.list({ perPage: 1 }, request.actor),
      posts.list({ status: 'draft', perPage: 1 }, request.actor),
      comments.moderationList(request.actor, 1, 5),
      can(request.actor, 'user:manage') ? users.count() : Promise.resolve(null),
    ]);
    return sendPage(
      request,
      reply,
      { title: 'Admin', noindex: true },
      () => html`<h1>Admin</h1>
      <div class="admin-grid">
        <a class="stat" href="/admin/posts"><strong>${published.total}</strong>published posts</a>
        <a class="stat" href="/admin/posts?status=draft"><strong>${drafts.total}</strong>drafts</a>
        <a class="stat" href="/admin/comments"><strong>${recent.total}</strong>comments</a>
        ${userCount === null ? '' : html`<a class="stat" href="/admin/users"><strong>${userCount}</strong>users</a>`}
      </div>
      <p class="actions">
        <a class="button secondary" href="/admin/posts">All posts</a>
        <a class="button secondary" href="/admin/comments">Moderate comments</a>
        ${can(request.actor, 'user:manage') ? html`<a class="button secondary" href="/admin/users">Users and roles</a><a class="button secondary" href="/admin/settings">Site settings</a>` : ''}
      </p>`,
    );
  });

  app.get(
    '/admin/posts',
    {
      schema: {
        hide: true,
        querystring: Type.Object({
          status: Type.Union(
            [
              Type.Literal('all'),
              Type.Literal('draft'),
              Type.Literal('scheduled'),
              Type.Literal('published'),
            ],
            { default: 'all' },
          ),
          page: PageNumber,
        }),
      },
    },
    async (request, reply) => {
      authorize(request.actor, 'post:edit-any');
      const { status, page } = request.query;
      const list = await posts.list({ status, page, perPage: 30 }, request.actor);
      return sendPage(
        request,
        reply,
        { title: 'All posts', noindex: true },
        () => html`
        <p class="breadcrumbs"><a href="/admin">Admin</a> / Posts</p>
        <h1>All posts <span class="muted small">${list.total}</span></h1>
        <nav class="site-nav" aria-label="Filter">${(['all', 'draft', 'scheduled', 'published'] as const).map(
          (s) =>
            html`<a href="/admin/posts?status=${s}"${s === status ? html` aria-current="page"` : ''}>${s}</a>`,
        )}</nav>
        ${postTable(list.items)}
        ${pagination(list.page, list.totalPages, (p) => `/admin/posts?status=${status}&page=${p}`)}`,
      );
    },
  );

  app.get('/admin/comments', { schema: { hide: true, querystring: PageQuery } }, async (request, reply) => {
    const list = await comments.moderationList(request.actor, request.query.page, 30);
    const totalPages = Math.max(1, Math.ceil(list.total / 30));
    return sendPage(
      request,
      reply,
      { title: 'Comments', noindex: true },
      (ctx) => html`
      <p class="breadcrumbs"><a href="/admin">Admin</a> / Comments</p>
      <h1>Comments <span class="muted small">${list.total}</span></h1>
      ${list.items.length === 0 ? html`<p class="empty">No comments yet.</p>` : ''}
      ${list.items.map(
        (comment) => html`<article class="comment${comment.status === 'hidden' ? ' is-hidden' : ''}">
          <div class="comment-head">
            <strong>${comment.author.displayName}</strong> on
            <a href="/posts/${encodeURIComponent(comment.post?.slug ?? '')}#comment-${comment.id}">${comment.post?.title}</a>
            ${time(comment.createdAt)}
            ${comment.status === 'hidden' ? html`<span class="badge badge-hidden">hidden</span>` : ''}
          </div>
          <div class="comment-body">${raw(comment.bodyHtml)}</div>
          <div class="comment-actions">
            <form method="post" action="/comments/${comment.id}/${comment.status === 'hidden' ? 'show' : 'hide'}" class="inline">
              ${csrfField(ctx)}<input type="hidden" name="next" value="/admin/comments?page=${request.query.page}">
              <button class="link">${comment.status === 'hidden' ? 'Show' : 'Hide'}</button></form>
            <form method="post" action="/comments/${comment.id}/delete" class="inline">
              ${csrfField(ctx)}<input type="hidden" name="next" value="/admin/comments?page=${request.query.page}">
              <button class="link danger">Delete</button></form>
          </div>
        </article>`,
      )}
      ${pagination(request.query.page, totalPages, (p) => `/admin/comments?page=${p}`)}`,
    );
  });

  const settingsPage = async (request: FastifyRequest, reply: FastifyReply, failure?: FormFailure) => {
    authorize(request.actor, 'settings:manage');
    const current = await settings.get();
    return sendPage(
      request,
      reply,
      { title: 'Settings', noindex: true },
      (ctx) => html`
      <p class="breadcrumbs"><a href="/admin">Admin</a> / Settings</p>
      <h1>Site settings</h1>
      ${formErrors(failure?.message)}
      <form method="post" action="/admin/settings" class="stack card">
        ${csrfField(ctx)}
        ${field({ name: 'siteTitle', label: 'Site title', value: current.siteTitle, errors: failure?.fields, required: true, maxlength: 100 })}
        ${field({ name: 'siteDescription', label: 'Description', value: current.siteDescription, errors: failure?.fields, maxlength: 300, textarea: { rows: 2 } })}
        <label><input type="checkbox" name="registrationOpen" value="on"${current.registrationOpen ? html` checked` : ''}> Anyone may create an account</label>
        <button type="submit">Save settings</button>
      </form>`,
      failure?.status ?? 200,
    );
  };

  app.get('/admin/settings', { schema: { hide: true } }, async (request, reply) =>
    settingsPage(request, reply),
  );

  app.post(
    '/admin/settings',
    { schema: { hide: true, body: SettingsForm }, attachValidation: true },
    async (request, reply) => {
      const invalid = validationFailure(request);
      if (invalid) return settingsPage(request, reply, invalid);
      try {
        await settings.update(request.actor, {
          siteTitle: request.body.siteTitle,
          siteDescription: request.body.siteDescription,
          registrationOpen: request.body.registrationOpen === 'on',
        });
      } catch (error) {
        return settingsPage(request, reply, asFormFailure(error));
      }
      reply.flash('success', 'Settings saved.');
      return reply.redirect('/admin/settings', 303);
    },
  );
};
