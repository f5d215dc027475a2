import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { asFormFailure, submitForm, validationFailure } from '../../http/forms.js';
import { SESSION_COOKIE } from '../../http/request-context.js';
import { IdParams } from '../../http/schemas.js';
import { type AccountView, accountPage } from '../../views/account.js';
import { Bio, DisplayName, Password } from './schemas.js';

const Csrf = Type.Optional(Type.String());
const ProfileForm = Type.Object({ displayName: DisplayName, bio: Bio, _csrf: Csrf });
const PasswordForm = Type.Object({
  currentPassword: Type.String({ minLength: 1, maxLength: 200 }),
  newPassword: Password,
  _csrf: Csrf,
});
const TokenForm = Type.Object({ name: Type.String({ minLength: 1, maxLength: 60 }), _csrf: Csrf });

/** The signed-in user's own page: profile, password and API tokens. */
export const accountPages: FastifyPluginAsyncTypebox = async (app) => {
  const { auth, users } = app.services;

  const show = async (
    request: FastifyRequest,
    reply: FastifyReply,
    failures: AccountView['failures'] = {},
    created?: { token: string },
  ) => {
    if (!request.actor) return reply.redirect(`/login?next=${encodeURIComponent('/account')}`);
    const [user, tokens] = await Promise.all([
      users.get(request.actor.id, request.actor),
      auth.listTokens(request.actor),
    ]);
    const view = { user, tokens, failures, newToken: created?.token };
    return reply.page(accountPage(view));
  };

  const toAccount = (flash: string) => () => ({ flash, to: '/account' });

  app.get('/account', { schema: { hide: true } }, async (request, reply) => show(request, reply));

  app.post(
    '/account/profile',
    { schema: { hide: true, body: ProfileForm }, attachValidation: true },
    async (request, reply) =>
      submitForm(request, reply, {
        run: () => users.updateProfile(request.actor, request.body),
        done: toAccount('Profile saved.'),
        fail: (profile) => show(request, reply, { profile }),
      }),
  );

  app.post(
    '/account/password',
    { schema: { hide: true, body: PasswordForm }, attachValidation: true },
    async (request, reply) =>
      submitForm(request, reply, {
        run: () =>
          auth.changePassword(
            request.actor,
            request.body.currentPassword,
            request.body.newPassword,
            request.cookies[SESSION_COOKIE],
          ),
        done: toAccount('Password changed. Your other sessions were signed out.'),
        fail: (password) => show(request, reply, { password }),
      }),
  );

  // A new token is shown on the page that created it, once: no redirect.
  app.post(
    '/account/tokens',
    { schema: { hide: true, body: TokenForm }, attachValidation: true },
    async (request, reply) => {
      const invalid = validationFailure(request);
      if (invalid) return show(request, reply, { token: invalid });
      try {
        const created = await auth.createToken(request.actor, request.body.name);
        return show(request, reply, {}, created);
      } catch (error) {
        return show(request, reply, { token: asFormFailure(error) });
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
