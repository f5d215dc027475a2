import { describe, expect, it } from 'vitest';
import type { Role } from '../../src/db/types.js';
import {
  type Action,
  type Actor,
  can,
  canDeleteComment,
  canManagePost,
  ROLES,
} from '../../src/modules/access/permissions.js';

// The grants as pure functions; test/http/permissions.test.ts checks every route applies them.

type Who = 'visitor' | Role;
const WHO: readonly Who[] = ['visitor', 'reader', 'author', 'editor', 'admin'];

describe('can(): the role × action table', () => {
  // Written out in full rather than derived, so a change to the grants has to change this too.
  const TABLE: Record<Action, Record<Who, boolean>> = {
    'comment:create': { visitor: false, reader: true, author: true, editor: true, admin: true },
    'comment:delete-own': { visitor: false, reader: true, author: true, editor: true, admin: true },
    'comment:moderate': { visitor: false, reader: false, author: false, editor: true, admin: true },
    'post:create': { visitor: false, reader: false, author: true, editor: true, admin: true },
    'post:edit-own': { visitor: false, reader: false, author: true, editor: true, admin: true },
    'post:edit-any': { visitor: false, reader: false, author: false, editor: true, admin: true },
    'ai:use': { visitor: false, reader: false, author: true, editor: true, admin: true },
    'user:manage': { visitor: false, reader: false, author: false, editor: false, admin: true },
    'settings:manage': { visitor: false, reader: false, author: false, editor: false, admin: true },
  };
  const actor = (who: Who, id = 1): Actor | null =>
    who === 'visitor' ? null : { id, username: who, displayName: who, role: who };
  const rows = Object.entries(TABLE).flatMap(([action, byWho]) =>
    WHO.map((who) => [action as Action, who, byWho[who]] as const),
  );

  it('knows every role', () => {
    expect([...ROLES]).toEqual(['reader', 'author', 'editor', 'admin']);
  });

  it.each(rows)('%s for %s is %s', (action, who, allowed) => {
    expect(can(actor(who), action)).toBe(allowed);
  });

  it.each(WHO)('manage a post and delete a comment, own and other, as %s', (who) => {
    const me = actor(who, 7);
    const own = { authorId: 7 };
    const other = { authorId: 8 };
    const author = who === 'author' || who === 'editor' || who === 'admin';
    const editor = who === 'editor' || who === 'admin';
    expect(canManagePost(me, own)).toBe(author);
    expect(canManagePost(me, other)).toBe(editor);
    expect(canDeleteComment(me, own)).toBe(who !== 'visitor');
    expect(canDeleteComment(me, other)).toBe(editor);
  });
});
