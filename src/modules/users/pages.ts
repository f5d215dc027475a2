import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { asFormFailure } from '../../http/forms.js';
import { IdParams, PageNumber } from '../../http/schemas.js';
import { pagination, time } from '../../views/components.js';
import { html } from '../../views/html.js';
import { csrfField, sendPage } from '../../views/layout.js';
import { authorize, ROLES } from '../access/permissions.js';
import { RoleSchema } from './schemas.js';

export const userPages: FastifyPluginAsyncTypebox = async (app) => {
  const { users } = app.services;

  app.get(
    '/admin/users',
    { schema: { hide: true, querystring: Type.Object({ page: PageNumber }) } },
    async (request, reply) => {
      authorize(request.actor, 'user:manage');
      const list = await users.list(request.actor, request.query.page, 50);
      return sendPage(
        request,
        reply,
        { title: 'Users', noindex: true },
        (ctx) => html`
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
      );
    },
  );

  app.post(
    '/admin/users/:id/role',
    {
      schema: {
        hide: true,
        params: IdParams,
        body: Type.Object({ role: RoleSchema, _csrf: Type.Optional(Type.String()) }),
      },
    },
    async (request, reply) => {
      authorize(request.actor, 'user:manage');
      try {
        const user = await users.setRole(request.actor, request.params.id, request.body.role);
        reply.flash('success', `@${user.username} is now ${user.role}.`);
      } catch (error) {
        reply.flash('error', asFormFailure(error).message);
      }
      return reply.redirect('/admin/users', 303);
    },
  );
};
