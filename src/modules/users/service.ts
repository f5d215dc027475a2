import { nowIso } from '../../db/index.js';
import type { Role, UserRow } from '../../db/types.js';
import { AppError, conflict, fieldError, notFound } from '../../errors.js';
import { hashPassword } from '../auth/password.js';
import { type Actor, authorize, can, requireUser } from '../access/permissions.js';
import type { UsersRepository } from './repository.js';
import type { NewUser, ProfileUpdate, User, UserList } from './schemas.js';

export function toActor(row: UserRow): Actor {
  return { id: row.id, username: row.username, displayName: row.display_name, role: row.role };
}

export class UsersService {
  constructor(private readonly repo: UsersRepository) {}

  /** The one mapping from a row to the API's User; email only for the user and admins. */
  toApi(row: UserRow, viewer?: Actor | null): User {
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

  /** With `onlyFirst`, the user is created only if there is no user yet (null otherwise). */
  async create(input: NewUser, role: Role): Promise<UserRow>;
  async create(input: NewUser, role: Role, options: { onlyFirst: true }): Promise<UserRow | null>;
  async create(input: NewUser, role: Role, options?: { onlyFirst: boolean }): Promise<UserRow | null> {
    const username = input.username.trim().toLowerCase();
    const email = input.email.trim().toLowerCase();
    if (!/^[a-z0-9_-]{3,32}$/.test(username)) {
      throw fieldError('username', 'username must be 3–32 letters, digits, _ or -');
    }
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw fieldError('email', 'email must be a valid address');
    if (await this.repo.exists('username', username)) {
      throw conflict('That username is taken.', { username: 'username is taken' });
    }
    if (await this.repo.exists('email', email)) {
      throw conflict('An account with that email exists.', { email: 'email is already registered' });
    }
    const now = nowIso();
    const row = {
      username,
      email,
      password_hash: await hashPassword(input.password),
      display_name: input.displayName?.trim() || username,
      bio: '',
      role,
      created_at: now,
      updated_at: now,
    };
    try {
      return options?.onlyFirst ? await this.repo.createIfNoUsers(row) : await this.repo.create(row);
    } catch (error) {
      // Two sign-ups for one name at the same moment: the unique index decides.
      if (/unique|duplicate/i.test((error as Error).message)) {
        throw conflict('That username or email is taken.', { username: 'username or email is taken' });
      }
      throw error;
    }
  }

  async get(id: number): Promise<UserRow> {
    const row = await this.repo.get(id);
    if (!row) throw notFound('User');
    return row;
  }

  async getByUsername(username: string): Promise<UserRow> {
    const row = await this.repo.getByUsername(username.toLowerCase());
    if (!row) throw notFound('User');
    return row;
  }

  count(): Promise<number> {
    return this.repo.count();
  }

  async updateProfile(actor: Actor | null, input: ProfileUpdate): Promise<UserRow> {
    requireUser(actor);
    const patch: { display_name?: string; bio?: string; updated_at: string } = { updated_at: nowIso() };
    if (input.displayName !== undefined) {
      const name = input.displayName.trim();
      if (!name) throw fieldError('displayName', 'displayName must not be empty');
      patch.display_name = name;
    }
    if (input.bio !== undefined) patch.bio = input.bio.trim();
    const row = await this.repo.update(actor.id, patch);
    if (!row) throw notFound('User');
    return row;
  }

  async list(actor: Actor | null, page: number, perPage: number): Promise<UserList> {
    authorize(actor, 'user:manage');
    const { rows, total } = await this.repo.list(perPage, (page - 1) * perPage);
    return {
      items: rows.map((row) => this.toApi(row, actor)),
      page,
      perPage,
      total,
      totalPages: Math.max(1, Math.ceil(total / perPage)),
    };
  }

  async setRole(actor: Actor | null, userId: number, role: Role): Promise<UserRow> {
    authorize(actor, 'user:manage');
    await this.get(userId);
    if (!(await this.repo.setRoleKeepingAnAdmin(userId, role, nowIso()))) {
      throw new AppError(409, 'last_admin', 'The last admin cannot be demoted; make another admin first.', {
        role: 'the last admin cannot be demoted',
      });
    }
    return this.get(userId);
  }
}
