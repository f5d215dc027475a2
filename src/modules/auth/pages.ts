import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import { safeNext, submitForm } from '../../http/forms.js';
import { SESSION_COOKIE } from '../../http/request-context.js';
import { type FormView, loginPage, registerPage, setupPage } from '../../views/auth.js';
import type { Page } from '../../views/layout.js';
import { Email, LIMITS, Password, type User, Username } from '../users/schemas.js';

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
type SignupForm = Static<typeof SignupForm>;

/** Signing in and out, sign-up, and the first-run setup. */
export const authPages: FastifyPluginAsyncTypebox = async (app) => {
  const { auth } = app.services;

  /** Sign-up and setup share one flow: create, sign in, redirect; on failure the form again. */
  const signup =
    (
      page: (view: FormView) => Page,
      create: (body: SignupForm) => Promise<User>,
      done: { flash: (user: User) => string; to: string },
    ) =>
    async (request: FastifyRequest<{ Body: SignupForm }>, reply: FastifyReply) => {
      const { username, email, displayName } = request.body ?? {};
      const values = { username, email, displayName };
      return submitForm(request, reply, {
        run: () => create(request.body),
        done: async (user) => {
          await reply.signIn(user.id);
          return { flash: done.flash(user), to: done.to };
        },
        fail: (failure) => reply.page(page({ values, failure })),
      });
    };

  app.get(
    '/login',
    { schema: { hide: true, querystring: Type.Object({ next: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      if (await auth.needsSetup()) return reply.redirect('/setup');
      if (request.actor) return reply.redirect(safeNext(request.query.next));
      return reply.page(loginPage({ values: { next: request.query.next } }));
    },
  );

  app.post(
    '/login',
    { schema: { hide: true, body: LoginForm }, attachValidation: true },
    async (request, reply) => {
      const values = { login: request.body?.login, next: request.body?.next };
      return submitForm(request, reply, {
        run: () => auth.login(request.body.login, request.body.password, request.ip),
        done: async (user) => {
          await reply.signIn(user.id);
          return { flash: `Welcome back, ${user.displayName}.`, to: safeNext(request.body.next) };
        },
        // A rate-limited sign-in carries Retry-After.
        fail: (failure) => reply.headers(failure.headers ?? {}).page(loginPage({ values, failure })),
      });
    },
  );

  app.post('/logout', { schema: { hide: true } }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await auth.logout(token);
    reply.endSession().flash('success', 'You are logged out.');
    return reply.redirect('/', 303);
  });

  app.get('/register', { schema: { hide: true } }, async (request, reply) => {
    if (await auth.needsSetup()) return reply.redirect('/setup');
    return reply.page(registerPage({ values: {} }));
  });

  app.post(
    '/register',
    { schema: { hide: true, body: SignupForm }, attachValidation: true },
    signup(registerPage, (body) => auth.register(body), {
      flash: (user) => `Welcome, ${user.displayName}! Your account is ready.`,
      to: '/',
    }),
  );

  app.get('/setup', { schema: { hide: true } }, async (request, reply) => {
    if (!(await auth.needsSetup())) return reply.redirect('/login');
    return reply.page(setupPage({ values: {} }));
  });

  app.post(
    '/setup',
    { schema: { hide: true, body: SignupForm }, attachValidation: true },
    signup(setupPage, (body) => auth.setup(body), {
      flash: () => 'Your blog is ready. Write your first post!',
      to: '/write',
    }),
  );
};
