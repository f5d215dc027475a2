import type { FastifyInstance } from 'fastify';
import type { Actor } from '../../src/modules/access/permissions.js';
import type { PostCreate } from '../../src/modules/posts/schemas.js';
import type { User } from '../../src/modules/users/schemas.js';
import { toActor } from '../../src/modules/users/service.js';
import type { createUser } from '../helpers/app.js';

// Fixtures written straight through the services, so a test spends its HTTP calls on the
// behaviour it checks rather than on setting the scene.

/** A user made by createUser: the row plus the password to sign in with. */
export type TestUser = Awaited<ReturnType<typeof createUser>>;

export const actorOf = (user: User): Actor => toActor(user);

/** A post by `author`; published now unless the input says otherwise. */
export function writePost(app: FastifyInstance, author: User, input: Partial<PostCreate> = {}) {
  const title = input.title ?? `Post ${Math.random().toString(36).slice(2, 8)}`;
  // The service checks the role, so a post by a (since demoted) reader is written as by an author.
  const actor: Actor = { ...actorOf(author), role: author.role === 'reader' ? 'author' : author.role };
  return app.services.posts.create({ body: 'Some text.', status: 'published', ...input, title }, actor);
}

export const writeDraft = (app: FastifyInstance, author: User, input: Partial<PostCreate> = {}) =>
  writePost(app, author, { ...input, status: 'draft' });

export function writeComment(app: FastifyInstance, postId: number, author: User, body = 'A comment.') {
  return app.services.comments.create(postId, body, actorOf(author));
}

/** A time `days` from now as ISO, for scheduling. */
export const daysFromNow = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
