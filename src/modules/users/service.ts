import { noPageCache, type PageInvalidator, pageTags } from '../../cache/page-cache.js';
import { randomBytes } from 'node:crypto';
import { ExpiringMap } from '../../cache/expiring-map.js';
import type { QueryReader } from '../../cache/query-cache.js';
import { type Clock, isoNow } from '../../clock.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Db } from '../../db/index.js';
import { toPage } from '../../db/paging.js';
import type { Role } from '../../db/types.js';
import { AppError, conflict, fieldError, notFound } from '../../errors.js';
import { type Actor, authorize, can, requireUser } from '../access/permissions.js';
import type { PasswordHasher } from './password.js';
import type { UserRecord, UsersRepository } from './repository.js';
import { LIMITS, type NewUser, type ProfileUpdate, type User, type UserList } from './schemas.js';

export function toActor(user: Pick<User, 'id' | 'username' | 'displayName' | 'role'>): Actor {
  return { id: user.id, username: user.username, displayName: user.displayName, role: user.role };
}

/** Whether the viewer sees the user's email (their own profile, or an admin's view). */
function seesEmail(viewer: Actor | null | undefined, id?: number, username?: string): boolean {
  if (!viewer) return false;
  return viewer.id === id || viewer.username === username || can(viewer, 'user:manage');
}

/** How long an instance may act on a role or name changed on another instance. */
const ACTOR_TTL_MS = 5_000;

/** Refuses a password the schemas would refuse: forms and the CLI reach here without them. */
export function checkPassword(field: string, password: string): void {
  if (password.length < LIMITS.password.min) {
    throw fieldError(field, `${field} must be at least ${LIMITS.password.min} characters`);
  }
  if (password.length > LIMITS.password.max) {
    throw fieldError(field, `${field} must be at most ${LIMITS.password.max} characters`);
  }
}

/** The users table belongs here: other modules get API-shaped Users and Actors, never a row or a hash. */
export class UsersService {
  // Compared against when an account does not exist, so a wrong username takes as long as
  // a wrong password and does not reveal which accounts exist. Made on first use.
  private dummyHash?: Promise<string>;
  // Users are never deleted, so once there is one there always is: no count per request.
  private hasAnyUser = false;

  // Who is asking, for every signed-in request and API call: a query each time otherwise. A
  // change of role or name here drops the entry at once; another instance sees it within the TTL.
  private readonly actors: ExpiringMap<number, Actor>;

  constructor(
    private readonly deps: {
      repo: UsersRepository;
      hasher: PasswordHasher;
      clock: Clock;
      /** A user's name and role show on their posts, comments and author page. */
      pages?: PageInvalidator;
      /**
       * Public profiles and actors, invalidated by a user's tag on every instance (then the
       * actor map below is not used). Absent: profiles are read each time.
       */
      queries?: QueryReader;
    },
  ) {
    this.actors = new ExpiringMap({
      ttlMs: ACTOR_TTL_MS,
      maxEntries: 10_000,
      now: () => deps.clock.now().getTime(),
    });
  }

  /** The one mapping from a row to the API's User; email only for the user and admins. */
  toApi(row: UserRecord, viewer?: Actor | null): User {
    const user: User = {
      id: row.id,
      username: row.username,
      displayName: row.display_name,
      bio: row.bio,
      role: row.role,
      createdAt: row.created_at,
      url: `/@${encodeURIComponent(row.username)}`,
    };
    if (viewer && (viewer.id === row.id || can(viewer, 'user:manage'))) user.email = row.email;
    return user;
  }

  /** The user as they see themselves (with their email). */
  private asSelf(row: UserRecord): User {
    return { ...this.toApi(row), email: row.email };
  }

  /** With `onlyFirst`, the user is created only if there is no user yet (null otherwise). */
  async create(input: NewUser, role: Role): Promise<User>;
  async create(input: NewUser, role: Role, options: { onlyFirst: true }): Promise<User | null>;
  async create(input: NewUser, role: Role, options?: { onlyFirst: boolean }): Promise<User | null> {
    const { repo, hasher } = this.deps;
    const username = input.username.trim().toLowerCase();
    const email = input.email.trim().toLowerCase();
    if (!/^[a-z0-9_-]{3,32}$/.test(username)) {
      throw fieldError('username', 'username must be 3–32 letters, digits, _ or -');
    }
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw fieldError('email', 'email must be a valid address');
    checkPassword('password', input.password);
    if (await repo.exists('username', username)) {
      throw conflict('That username is taken.', { username: 'username is taken' });
    }
    if (await repo.exists('email', email)) {
      throw conflict('An account with that email exists.', { email: 'email is already registered' });
    }
    const now = isoNow(this.deps.clock);
    const row = {
      username,
      email,
      password_hash: await hasher.hash(input.password),
      display_name: input.displayName?.trim() || username,
      bio: '',
      role,
      created_at: now,
      updated_at: now,
    };
    let created: UserRecord | null;
    try {
      created = options?.onlyFirst ? await repo.createIfNoUsers(row) : await repo.create(row);
    } catch (error) {
      // Two sign-ups for one name at the same moment: the unique index decides.
      if (isUniqueViolation(error)) {
        throw conflict('That username or email is taken.', { username: 'username or email is taken' });
      }
      throw error;
    }
    if (!created) return null;
    this.hasAnyUser = true;
    return this.asSelf(created);
  }

  async get(id: number, viewer?: Actor | null): Promise<User> {
    if (!seesEmail(viewer, id)) return this.profile(`id:${id}`, () => this.deps.repo.get(id));
    const row = await this.deps.repo.get(id);
    if (!row) throw notFound('User');
    return this.toApi(row, viewer);
  }

  async getByUsername(username: string, viewer?: Actor | null): Promise<User> {
    const name = username.toLowerCase();
    if (!seesEmail(viewer, undefined, name)) {
      return this.profile(`name:${name}`, () => this.deps.repo.getByUsername(name));
    }
    const row = await this.deps.repo.getByUsername(name);
    if (!row) throw notFound('User');
    return this.toApi(row, viewer);
  }

  /** A profile as anyone sees it (no email): from the query cache when there is one. */
  private async profile(key: string, load: () => Promise<UserRecord | undefined>): Promise<User> {
    const read = async () => {
      const row = await load();
      return row ? this.toApi(row) : null;
    };
    const user = this.deps.queries
      ? await this.deps.queries.get('profile', key, read, {
          keep: (found) => found !== null,
          tags: (found) => (found ? [pageTags.user(found.id)] : []),
        })
      : await read();
    if (!user) throw notFound('User');
    return user;
  }

  /** The user as an Actor (for sessions and tokens), or null if the account is gone. */
  async getActor(id: number): Promise<Actor | null> {
    if (this.deps.queries) {
      // A role or name change on any instance drops it at once (the user's tag).
      return this.deps.queries.get(
        'profile',
        `actor:${id}`,
        async () => {
          const row = await this.deps.repo.get(id);
          return row ? toActor(this.toApi(row)) : null;
        },
        { keep: (actor) => actor !== null, tags: () => [pageTags.user(id)] },
      );
    }
    const cached = this.actors.get(id);
    if (cached) return cached;
    const row = await this.deps.repo.get(id);
    if (!row) return null;
    const actor = toActor(this.toApi(row));
    this.actors.set(id, actor);
    return actor;
  }

  /** By username or email, for sign-in; the caller checks the password with verifyPassword. */
  async findByLogin(login: string): Promise<User | undefined> {
    const row = await this.deps.repo.getByLogin(login);
    return row ? this.asSelf(row) : undefined;
  }

  /** Takes as long for a missing account (undefined) as for a wrong password. */
  async verifyPassword(userId: number | undefined, password: string): Promise<boolean> {
    const stored = userId === undefined ? undefined : await this.deps.repo.getPasswordHash(userId);
    this.dummyHash ??= this.deps.hasher.hash(randomBytes(32).toString('base64url'));
    const ok = await this.deps.hasher.verify(password, stored ?? (await this.dummyHash));
    return ok && stored !== undefined;
  }

  /** Checks the current password, then stores the new one; `alsoInTransaction` commits with it. */
  async changePassword(
    userId: number,
    current: string,
    next: string,
    alsoInTransaction?: (trx: Db) => Promise<void>,
  ): Promise<void> {
    if (!(await this.verifyPassword(userId, current))) {
      throw fieldError('currentPassword', 'current password is wrong');
    }
    checkPassword('newPassword', next);
    const hash = await this.deps.hasher.hash(next);
    await this.deps.repo.replacePassword(userId, hash, isoNow(this.deps.clock), alsoInTransaction);
  }

  count(): Promise<number> {
    return this.deps.repo.count();
  }

  async hasUsers(): Promise<boolean> {
    if (!this.hasAnyUser) this.hasAnyUser = (await this.deps.repo.count()) > 0;
    return this.hasAnyUser;
  }

  async updateProfile(actor: Actor | null, input: ProfileUpdate): Promise<User> {
    requireUser(actor);
    const patch: { display_name?: string; bio?: string; updated_at: string } = {
      updated_at: isoNow(this.deps.clock),
    };
    if (input.displayName !== undefined) {
      const name = input.displayName.trim();
      if (!name) throw fieldError('displayName', 'displayName must not be empty');
      patch.display_name = name;
    }
    if (input.bio !== undefined) patch.bio = input.bio.trim();
    const row = await this.deps.repo.update(actor.id, patch);
    this.actors.delete(actor.id);
    if (!row) throw notFound('User');
    await this.userChanged(actor.id);
    return this.toApi(row, actor);
  }

  async list(actor: Actor | null, page: number, perPage: number): Promise<UserList> {
    authorize(actor, 'user:manage');
    const { rows, total } = await this.deps.repo.list(perPage, (page - 1) * perPage);
    return toPage(
      rows.map((row) => this.toApi(row, actor)),
      page,
      perPage,
      total,
    );
  }

  async setRole(actor: Actor | null, userId: number, role: Role): Promise<User> {
    authorize(actor, 'user:manage');
    await this.get(userId);
    const changed = await this.deps.repo.setRoleKeepingAnAdmin(userId, role, isoNow(this.deps.clock));
    this.actors.delete(userId);
    if (!changed) {
      throw new AppError(409, 'last_admin', 'The last admin cannot be demoted; make another admin first.', {
        role: 'the last admin cannot be demoted',
      });
    }
    await this.userChanged(userId);
    return this.get(userId, actor);
  }

  private async userChanged(id: number): Promise<void> {
    await (this.deps.pages ?? noPageCache).invalidate([pageTags.user(id)]);
  }
}
