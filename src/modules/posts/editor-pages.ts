import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { unauthorized } from '../../errors.js';
import { submitForm } from '../../http/forms.js';
import { IdParams } from '../../http/schemas.js';
import { editorPage, myPostsPage } from '../../views/editor.js';
import { authorize } from '../access/permissions.js';
import { EditorForm, type EditorState, formInput, valuesOf } from './editor-form.js';
import { type Post, StatusFilterQuery } from './schemas.js';

const SAVED: Record<Post['status'], string> = {
  draft: 'Draft saved.',
  scheduled: 'Saved; the post is scheduled.',
  published: 'Saved and published.',
};

/** Writing: the editor, and the author's own list of posts. */
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
    return reply.page(editorPage({ values: {} }));
  });

  const saved = (post: Post) => ({ flash: SAVED[post.status], to: `/edit/${post.id}` });

  app.post(
    '/write',
    { schema: { hide: true, body: EditorForm }, attachValidation: true },
    async (request, reply) => {
      const actor = request.actor;
      if (!actor) throw unauthorized();
      const values = { ...request.body, version: undefined } as EditorState['values'];
      return submitForm(request, reply, {
        run: () => posts.create(formInput(request.body), actor),
        done: saved,
        fail: (failure) => reply.page(editorPage({ values, failure })),
      });
    },
  );

  app.get('/edit/:id', { schema: { hide: true, params: IdParams } }, async (request, reply) => {
    if (!request.actor) return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
    const post = await posts.getForEdit(request.params.id, request.actor);
    return reply.page(editorPage({ post, values: valuesOf(post) }));
  });

  app.post(
    '/edit/:id',
    { schema: { hide: true, params: IdParams, body: EditorForm }, attachValidation: true },
    async (request, reply) => {
      const post = await posts.getForEdit(request.params.id, request.actor);
      const body = request.body;
      const values = { ...body, version: String(body.version ?? post.version) } as EditorState['values'];
      return submitForm(request, reply, {
        run: () => {
          const input = formInput(body);
          const update = {
            ...input,
            excerpt: body.excerpt ?? null,
            slug: input.slug ?? post.slug,
            version: body.version ?? post.version,
          };
          return posts.update(post.id, update, request.actor);
        },
        done: saved,
        fail: (failure) =>
          // On a version conflict the author's text stays; the newer version is offered beside
          // it and a second save wins deliberately.
          failure.status === 409 && !failure.fields.slug
            ? reply.page(
                editorPage({
                  post,
                  values: { ...values, version: String(post.version) },
                  failure,
                  newer: post,
                }),
              )
            : reply.page(editorPage({ post, values, failure })),
      });
    },
  );

  app.post('/edit/:id/delete', { schema: { hide: true, params: IdParams } }, async (request, reply) => {
    await posts.delete(request.params.id, request.actor);
    reply.flash('success', 'Post deleted.');
    return reply.redirect('/my/posts', 303);
  });

  app.get('/my/posts', { schema: { hide: true, querystring: StatusFilterQuery } }, async (request, reply) => {
    if (!requireWriter(request, reply)) return reply;
    const actor = request.actor!;
    const { status, page } = request.query;
    const list = await posts.list({ author: actor.username, status, page, perPage: 20 }, actor);
    return reply.page(myPostsPage({ status, list }));
  });
};
