import type { FormFailure } from '../http/forms.js';
import { LIMITS, type User } from '../modules/users/schemas.js';
import { field, formErrors, time } from './components.js';
import { html } from './html.js';
import { csrfField, type Page, type PageContext } from './layout.js';

/** An API token as the account page lists it (never the secret). */
export interface TokenView {
  id: number;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface AccountView {
  user: User;
  tokens: TokenView[];
  failures: { profile?: FormFailure; password?: FormFailure; token?: FormFailure };
  /** A token just created: shown once, here. */
  newToken?: string;
}

function tokenTable(ctx: PageContext, tokens: TokenView[]) {
  if (tokens.length === 0) return html`<p class="muted">No tokens yet.</p>`;
  return html`<table class="table">
    <thead><tr><th>Name</th><th>Token</th><th>Created</th><th>Last used</th><th></th></tr></thead>
    <tbody>${tokens.map(
      (
        t,
      ) => html`<tr><td>${t.name}</td><td><code>${t.prefix}…</code></td><td>${time(t.createdAt)}</td><td>${t.lastUsedAt ? time(t.lastUsedAt) : 'never'}</td>
        <td><form method="post" action="/account/tokens/${t.id}/delete">${csrfField(ctx)}<button class="link danger">Revoke</button></form></td></tr>`,
    )}</tbody></table>`;
}

export function accountPage({ user, tokens, failures, newToken }: AccountView): Page {
  return {
    meta: { title: 'Your account', noindex: true },
    status: failures.profile?.status ?? failures.password?.status ?? failures.token?.status ?? 200,
    body: (ctx) => html`<h1>Your account</h1>
      <p class="muted">Signed in as <a href="${user.url}">@${user.username}</a> · ${user.email} · role ${user.role}</p>
      <div class="grid-2">
        <section>
          <h2>Profile</h2>
          ${formErrors(failures.profile?.message)}
          <form method="post" action="/account/profile" class="stack card">
            ${csrfField(ctx)}
            ${field({ name: 'displayName', label: 'Display name', value: user.displayName, errors: failures.profile?.fields, required: true, maxlength: LIMITS.displayName.max })}
            ${field({ name: 'bio', label: 'Bio', value: user.bio, errors: failures.profile?.fields, maxlength: LIMITS.bio.max, textarea: { rows: 4 } })}
            <button type="submit">Save profile</button>
          </form>
        </section>
        <section>
          <h2>Password</h2>
          ${formErrors(failures.password?.message)}
          <form method="post" action="/account/password" class="stack card">
            ${csrfField(ctx)}
            ${field({ name: 'currentPassword', label: 'Current password', type: 'password', errors: failures.password?.fields, required: true, autocomplete: 'current-password' })}
            ${field({ name: 'newPassword', label: 'New password', type: 'password', errors: failures.password?.fields, required: true, minlength: LIMITS.password.min, autocomplete: 'new-password', hint: 'Other devices will be signed out.' })}
            <button type="submit">Change password</button>
          </form>
        </section>
      </div>
      <section>
        <h2>API tokens</h2>
        <p class="muted">Use a token as <code>Authorization: Bearer &lt;token&gt;</code> with the <a href="/docs">JSON API</a>. It acts with your role.</p>
        ${newToken ? html`<div class="flash flash-success" role="status">New token — copy it now, it will not be shown again: <code class="token">${newToken}</code></div>` : ''}
        ${formErrors(failures.token?.message)}
        <form method="post" action="/account/tokens" class="inline-form">
          ${csrfField(ctx)}
          ${field({ name: 'name', label: 'Token name', errors: failures.token?.fields, required: true, maxlength: 60 })}
          <button type="submit">Create token</button>
        </form>
        ${tokenTable(ctx, tokens)}
      </section>`,
  };
}
