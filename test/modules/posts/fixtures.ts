import type { Clock } from '../../../src/clock.js';
import type { Db } from '../../../src/db/index.js';
import type { Role } from '../../../src/db/types.js';
import type { Actor } from '../../../src/modules/access/permissions.js';

/** Inserts a user straight into the table; the posts module only needs the row to exist. */
export async function insertUser(db: Db, username: string, role: Role): Promise<Actor> {
  const now = new Date().toISOString();
  const displayName = `${username[0]?.toUpperCase()}${username.slice(1)} Example`;
  const { id } = await db
    .insertInto('users')
    .values({
      username,
      email: `${username}@example.test`,
      password_hash: 'not-a-real-hash',
      display_name: displayName,
      bio: '',
      role,
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id, username, displayName, role };
}

/** A clock the test moves by hand, so "scheduled" and "published" do not depend on the wall time. */
export function manualClock(start = '2030-01-01T00:00:00.000Z') {
  let now = new Date(start);
  const clock: Clock = { now: () => new Date(now) };
  return {
    clock,
    set: (iso: string) => {
      now = new Date(iso);
    },
    advance: (ms: number) => {
      now = new Date(now.getTime() + ms);
    },
    iso: () => now.toISOString(),
  };
}

export const HOUR = 3_600_000;
