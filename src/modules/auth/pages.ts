import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import type { UserRow } from '../../db/types.js';
import { asFormFailure, type FormFailure, safeNext, validationFailure } from '../../http/forms.js';
import { SESSION_COOKIE } from '../../http/request-context.js';
import { IdParams } from '../../http/schemas.js';
import { field, formErrors, time } from '../../views/components.js';
import { html } from '../../views/html.js';
import { csrfField, type PageContext, sendPage } from '../../views/layout.js';
import { Bio, DisplayName, Email, LIMITS, Password, Username } from '../users/schemas.js';
import type { ApiToken } from './service.js';

const Csrf = Type.Optional(Type.String());
const LoginForm = Type.Object({
  login: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 200 }),
  next: Type.Optional(Type.String()),
  _csrf: Csrf,
});
const SignupForm = Type.Object({
  username: Username,
  email: Email,
  password: Password,
  displayName: Type.Optional(Type.String({ maxLength: LIMITS.displayName.max })),
  _csrf: Csrf,
});
const ProfileForm = Type.Object({ displayName: DisplayName, bio: Bio, _csrf: Csrf });
const PasswordForm = Type.Object({
  currentPassword: Type.String({ minLength: 1, maxLength: 200 }),
  newPassword: Password,
  _csrf: Csrf,
});
const TokenForm = Type.Object({ name: Type.String({ minLength: 1, maxLength: 60 }), _csrf: Csrf });

interface Values {
  [name: string]: string | undefined;
}

function signupForm(ctx: PageContext, action: string, submit: string, values: Values, failure?: FormFailure) {
  const errors = failure?.fields;
  return html`${formErrors(failure?.message)}
    <form method="post" action="${action}" class="stack card">
      ${csrfField(ctx)}
      ${field({ name: 'username', label: 'Username', value: values.username, errors, required: true, minlength: LIMITS.username.min, maxlength: LIMITS.username.max, autocomplete: 'username', hint: 'Letters, digits, _ and -. Your profile lives at /@username.' })}
      ${field({ name: 'displayName', label: 'Display name', value: values.displayName, errors, maxlength: LIMITS.displayName.max, autocomplete: 'name' })}
      ${field({ name: 'email', label: 'Email', type: 'email', value: values.email, errors, required: true, maxlength: LIMITS.email.max, autocomplete: 'email' })}
      ${field({ name: 'password', label: 'Password', type: 'password', errors, required: true, minlength: LIMITS.password.min, maxlength: LIMITS.password.max, autocomplete: 'new-password', hint: `At least ${LIMITS.password.min} characters.` })}
      <button type="submit">${submit}</button>
    </form>`;
}

export const authPages: FastifyPluginAsyncTypebox = async (app) => {
  const { auth, users } = app.services;

  /** Sign-up and setup share one flow: validate, create, sign in, redirect; on failure show the form again. */
  const signupHandler =
    (
      render: (
        request: FastifyRequest,
        reply: FastifyReply,
        values: Values,
        failure?: FormFailure,
      ) => Promise<FastifyReply>,
      create: (body: Static<typeof SignupForm>) => Promise<UserRow>,
      done: { flash: (user: UserRow) => string; to: string },
    ) =>
    async (request: FastifyRequest<{ Body: Static<typeof SignupForm> }>, reply: FastifyReply) => {
      const { username, email, displayName } = request.body ?? {};
      const values = { username, email, displayName };
      const invalid = validationFailure(request);
      if (invalid) return render(request, reply, values, invalid);
      try {
        const user = await create(request.body);
        await reply.signIn(user.id);
        reply.flash('success', done.flash(user));
        return reply.redirect(done.to, 303);
      } catch (error) {
        return render(request, reply, values, asFormFailure(error));
      }
    };

  const loginPage = (request: FastifyRequest, reply: FastifyReply, values: Values, failure?: FormFailure) =>
    sendPage(
      request,
      reply.headers(failure?.headers ?? {}),
      { title: 'Log in', noindex: true },
      (ctx) => html`<section class="narrow">
        <h1>Log in</h1>
        ${formErrors(failure?.message)}
        <form method="post" action="/login" class="stack card">
          ${csrfField(ctx)}
          <input type="hidden" name="next" value="${values.next ?? ''}">
          ${field({ name: 'login', label: 'Username or email', value: values.login, errors: failure?.fields, required: true, autocomplete: 'username' })}
          ${field({ name: 'password', label: 'Password', type: 'password', errors: failure?.fields, required: true, autocomplete: 'current-password' })}
          <button type="submit">Log in</button>
        </form>
        ${ctx.settings.registrationOpen ? html`<p class="muted">New here? <a href="/register">Create an account</a>.</p>` : ''}
      </section>`,
      failure?.status ?? 200,
    );

  app.get(
    '/login',
    { schema: { hide: true, querystring: Type.Object({ next: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      if (await auth.needsSetup()) return reply.redirect('/setup');
      if (request.actor) return reply.redirect(safeNext(request.query.next));
      return loginPage(request, reply, { next: request.query.next });
    },
  );

  app.post(
    '/login',
    { schema: { hide: true, body: LoginForm }, attachValidation: true },
    async (request, reply) => {
      const values = { login: request.body?.login, next: request.body?.next };
      const invalid = validationFailure(request);
      if (invalid) return loginPage(request, reply, values, invalid);
      try {
        const user = await auth.login(request.body.login, request.body.password, request.ip);
        await reply.signIn(user.id);
        reply.flash('success', `Welcome back, ${user.display_name}.`);
        return reply.redirect(safeNext(request.body.next), 303);
      } catch (error) {
        return loginPage(request, reply, values, asFormFailure(error));
      }
    },
  );

  app.post('/logout', { schema: { hide: true } }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await auth.logout(token);
    reply.endSession().flash('success', 'You are logged out.');
    return reply.redirect('/', 303);
  });

  const registerPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    values: Values,
    failure?: FormFailure,
  ) =>
    sendPage(
      request,
      reply,
      { title: 'Create an account', noindex: true },
      (ctx) =>
        ctx.settings.registrationOpen
          ? html`<section class="narrow"><h1>Create an account</h1>
            ${signupForm(ctx, '/register', 'Create account', values, failure)}
            <p class="muted">Already have one? <a href="/login">Log in</a>.</p></section>`
          : html`<section class="narrow"><h1>Registration is closed</h1><p>This site is not taking new accounts right now.</p></section>`,
      failure?.status ?? 200,
    );

  app.get('/register', { schema: { hide: true } }, async (request, reply) => {
    if (await auth.needsSetup()) return reply.redirect('/setup');
    return registerPage(request, reply, {});
  });

  app.post(
    '/register',
    { schema: { hide: true, body: SignupForm }, attachValidation: true },
    signupHandler(registerPage, (body) => auth.register(body), {
      flash: (user) => `Welcome, ${user.display_name}! Your account is ready.`,
      to: '/',
    }),
  );

  const setupPage = (request: FastifyRequest, reply: FastifyReply, values: Values, failure?: FormFailure) =>
    sendPage(
      request,
      reply,
      { title: 'Set up your blog', noindex: true },
      (ctx) => html`<section class="narrow">
        <h1>Set up your blog</h1>
        <p>Create the first account. It will be the site's administrator.</p>
        ${signupForm(ctx, '/setup', 'Create admin account', values, failure)}
      </section>`,
      failure?.status ?? 200,
    );

  app.get('/setup', { schema: { hide: true } }, async (request, reply) => {
    if (!(await auth.needsSetup())) return reply.redirect('/login');
    return setupPage(request, reply, {});
  });

  app.post(
    '/setup',
    { schema: { hide: true, body: SignupForm }, attachValidation: true },
    signupHandler(setupPage, (body) => auth.setup(body), {
      flash: () => 'Your blog is ready. Write your first post!',
      to: '/write',
    }),
  );

  const accountPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    failures: { profile?: FormFailure; password?: FormFailure; token?: FormFailure } = {},
    newToken?: string,
  ) => {
    if (!request.actor) return reply.redirect(`/login?next=${encodeURIComponent('/account')}`);
    const user = await users.get(request.actor.id);
    const tokens = await auth.listTokens(request.actor);
    const status = failures.profile?.status ?? failures.password?.status ?? failures.token?.status ?? 200;
    return sendPage(
      request,
      reply,
      { title: 'Your account', noindex: true },
      (ctx) => html`<h1>Your account</h1>
        <p class="muted">Signed in as <a href="/@${user.username}">@${user.username}</a> · ${user.email} · role ${user.role}</p>
        <div class="grid-2">
          <section>
            <h2>Profile</h2>
            ${formErrors(failures.profile?.message)}
            <form method="post" action="/account/profile" class="stack card">
              ${csrfField(ctx)}
              ${field({ name: 'displayName', label: 'Display name', value: user.display_name, errors: failures.profile?.fields, required: true, maxlength: LIMITS.displayName.max })}
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
      status,
    );
  };

  app.get('/account', { schema: { hide: true } }, async (request, reply) => accountPage(request, reply));

  app.post(
    '/account/profile',
    { schema: { hide: true, body: ProfileForm }, attachValidation: true },
    async (request, reply) => {
      const invalid = validationFailure(request);
      if (invalid) return accountPage(request, reply, { profile: invalid });
      try {
        await users.updateProfile(request.actor, request.body);
      } catch (error) {
        return accountPage(request, reply, { profile: asFormFailure(error) });
      }
      reply.flash('success', 'Profile saved.');
      return reply.redirect('/account', 303);
    },
  );

  app.post(
    '/account/password',
    { schema: { hide: true, body: PasswordForm }, attachValidation: true },
    async (request, reply) => {
      const invalid = validationFailure(request);
      if (invalid) return accountPage(request, reply, { password: invalid });
      try {
        const { currentPassword, newPassword } = request.body;
        await auth.changePassword(
          request.actor,
          currentPassword,
          newPassword,
          request.cookies[SESSION_COOKIE],
        );
      } catch (error) {
        return accountPage(request, reply, { password: asFormFailure(error) });
      }
      reply.flash('success', 'Password changed. Your other sessions were signed out.');
      return reply.redirect('/account', 303);
    },
  );

  app.post(
    '/account/tokens',
    { schema: { hide: true, body: TokenForm }, attachValidation: true },
    async (request, reply) => {
      const invalid = validationFailure(request);
      if (invalid) return accountPage(request, reply, { token: invalid });
      try {
        const { token } = await auth.createToken(request.actor, request.body.name);
        return accountPage(request, reply.code(201), {}, token);
      } catch (error) {
        return accountPage(request, reply, { token: asFormFailure(error) });
      }
    },
  );

  app.post(
    '/account/tokens/:id/delete',
    { schema: { hide: true, params: IdParams } },
    async (request, reply) => {
      await auth.revokeToken(request.actor, request.params.id);
      reply.flash('success', 'Token revoked.');
      return reply.redirect('/account', 303);
    },
  );
};

function tokenTable(ctx: PageContext, tokens: ApiToken[]) {
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
