import type { FormFailure } from '../http/forms.js';
import { can, ROLES } from '../modules/access/permissions.js';
import type { AiStatus } from '../modules/ai/service.js';
import type { CommentList } from '../modules/comments/schemas.js';
import { type PostList, type PostListStatus, STATUS_FILTERS } from '../modules/posts/schemas.js';
import type { SiteSettings } from '../modules/settings/service.js';
import type { UserList } from '../modules/users/schemas.js';
import { field, formErrors, pagination, time } from './components.js';
import { html, raw } from './html.js';
import { csrfField, type Page } from './layout.js';
import { postTable, statusFilter } from './posts.js';

// The admin area: editors moderate posts and comments; admins also manage users and settings.

export interface DashboardView {
  published: number;
  drafts: number;
  comments: number;
  /** Shown to admins only. */
  users: number | null;
  ai: AiStatus;
}

function aiSection(ai: AiStatus) {
  if (!ai.enabled) {
    return html`<section><h2>Writing assistant</h2><p class="muted">Off: no model server is configured (set <code>AI_PROVIDER</code>).</p></section>`;
  }
  const inFlight = Object.values(ai.queue.inFlight).reduce((sum, n) => sum + n, 0);
  return html`<section>
    <h2>Writing assistant</h2>
    <table class="table ai-status">
      <thead><tr><th>Provider</th><th>Status</th><th>Circuit</th><th>Models</th></tr></thead>
      <tbody>${ai.providers.map(
        (p) => html`<tr>
          <td>${p.name} <span class="muted">${p.kind}</span></td>
          <td>${p.ok ? html`<span class="badge badge-published">up</span>` : html`<span class="badge badge-hidden">down</span>`} ${p.message}</td>
          <td>${p.circuit}</td>
          <td>${(p.models ?? []).join(', ')}</td>
        </tr>`,
      )}</tbody>
    </table>
    <p class="muted">${inFlight} generating, ${ai.queue.queued} waiting.</p>
  </section>`;
}

export function dashboardPage(view: DashboardView): Page {
  return {
    meta: { title: 'Admin', noindex: true },
    body: (ctx) => html`<h1>Admin</h1>
      <div class="admin-grid">
        <a class="stat" href="/admin/posts"><strong>${view.published}</strong>published posts</a>
        <a class="stat" href="/admin/posts?status=draft"><strong>${view.drafts}</strong>drafts</a>
        <a class="stat" href="/admin/comments"><strong>${view.comments}</strong>comments</a>
        ${view.users === null ? '' : html`<a class="stat" href="/admin/users"><strong>${view.users}</strong>users</a>`}
      </div>
      <p class="actions">
        <a class="button secondary" href="/admin/posts">All posts</a>
        <a class="button secondary" href="/admin/comments">Moderate comments</a>
        ${can(ctx.actor, 'user:manage') ? html`<a class="button secondary" href="/admin/users">Users and roles</a><a class="button secondary" href="/admin/settings">Site settings</a><a class="button secondary" href="/admin/metrics">Live metrics</a>` : ''}
      </p>
      ${aiSection(view.ai)}`,
  };
}

export function adminPostsPage({ status, list }: { status: PostListStatus; list: PostList }): Page {
  return {
    meta: { title: 'All posts', noindex: true },
    body: () => html`
      <p class="breadcrumbs"><a href="/admin">Admin</a> / Posts</p>
      <h1>All posts <span class="muted small">${list.total}</span></h1>
      ${statusFilter(STATUS_FILTERS, status, (s) => `/admin/posts?status=${s}`)}
      ${postTable(list.items)}
      ${pagination(list.page, list.totalPages, (p) => `/admin/posts?status=${status}&page=${p}`)}`,
  };
}

export interface ModerationView {
  list: CommentList;
  page: number;
  totalPages: number;
}

export function moderationPage({ list, page, totalPages }: ModerationView): Page {
  const back = `/admin/comments?page=${page}`;
  return {
    meta: { title: 'Comments', noindex: true },
    body: (ctx) => html`
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
              ${csrfField(ctx)}<input type="hidden" name="next" value="${back}">
              <button class="link">${comment.status === 'hidden' ? 'Show' : 'Hide'}</button></form>
            <form method="post" action="/comments/${comment.id}/delete" class="inline">
              ${csrfField(ctx)}<input type="hidden" name="next" value="${back}">
              <button class="link danger">Delete</button></form>
          </div>
        </article>`,
      )}
      ${pagination(page, totalPages, (p) => `/admin/comments?page=${p}`)}`,
  };
}

export function settingsPage(current: SiteSettings, failure?: FormFailure): Page {
  return {
    meta: { title: 'Settings', noindex: true },
    status: failure?.status ?? 200,
    body: (ctx) => html`
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
  };
}

export function usersPage(list: UserList): Page {
  return {
    meta: { title: 'Users', noindex: true },
    body: (ctx) => html`
      <p class="breadcrumbs"><a href="/admin">Admin</a> / Users</p>
      <h1>Users <span class="muted small">${list.total}</span></h1>
      <table class="table">
        <thead><tr><th>User</th><th>Email</th><th>Joined</th><th>Role</th></tr></thead>
        <tbody>${list.items.map(
          (user) => html`<tr>
            <td><a href="${user.url}">${user.displayName}</a> <span class="muted">@${user.username}</span></td>
            <td>${user.email ?? ''}</td>
            <td>${time(user.createdAt)}</td>
            <td><form method="post" action="/admin/users/${user.id}/role" class="inline-form compact">
              ${csrfField(ctx)}
              <label class="visually-hidden" for="role-${user.id}">Role of ${user.username}</label>
              <select name="role" id="role-${user.id}">${ROLES.map(
                (role) =>
                  html`<option value="${role}"${role === user.role ? html` selected` : ''}>${role}</option>`,
              )}</select>
              <button type="submit" class="small">Save</button>
            </form></td>
          </tr>`,
        )}</tbody>
      </table>
      ${pagination(list.page, list.totalPages, (page) => `/admin/users?page=${page}`)}`,
  };
}
