import type { Role } from '../../db/types.js';
import { forbidden, unauthorized } from '../../errors.js';

/** The signed-in user as every service and page sees it. */
export interface Actor {
  id: number;
  username: string;
  displayName: string;
  role: Role;
}

export const ROLES: readonly Role[] = ['reader', 'author', 'editor', 'admin'];

export type Action =
  | 'comment:create'
  | 'comment:delete-own'
  | 'comment:moderate'
  | 'post:create'
  | 'post:edit-own'
  | 'post:edit-any'
  | 'ai:use'
  | 'user:manage'
  | 'settings:manage';

// Each role has everything the role before it has, plus its own line (see the README).
const GRANTS: Record<Role, readonly Action[]> = {
  reader: ['comment:create', 'comment:delete-own'],
  author: ['post:create', 'post:edit-own', 'ai:use'],
  editor: ['post:edit-any', 'comment:moderate'],
  admin: ['user:manage', 'settings:manage'],
};

const ALLOWED = new Map<Role, ReadonlySet<Action>>(
  ROLES.map((role, index) => [role, new Set(ROLES.slice(0, index + 1).flatMap((r) => GRANTS[r]))]),
);

export function can(actor: Actor | null | undefined, action: Action): boolean {
  return actor ? (ALLOWED.get(actor.role)?.has(action) ?? false) : false;
}

/** Throws 401 for a visitor and 403 for a user without the permission. */
export function authorize(actor: Actor | null | undefined, action: Action): asserts actor is Actor {
  if (!actor) throw unauthorized();
  if (!can(actor, action)) throw forbidden();
}

export function requireUser(actor: Actor | null | undefined): asserts actor is Actor {
  if (!actor) throw unauthorized();
}

/** Edit, publish or delete a post: its author (if still an author) or any editor. */
export function canManagePost(actor: Actor | null | undefined, post: { authorId: number }): boolean {
  if (!actor) return false;
  return can(actor, 'post:edit-any') || (can(actor, 'post:edit-own') && actor.id === post.authorId);
}

/** Delete a comment: its writer, or a moderator. */
export function canDeleteComment(actor: Actor | null | undefined, comment: { authorId: number }): boolean {
  if (!actor) return false;
  return (
    can(actor, 'comment:moderate') || (can(actor, 'comment:delete-own') && actor.id === comment.authorId)
  );
}
