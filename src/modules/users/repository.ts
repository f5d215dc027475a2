import { sql } from 'kysely';
import { type Db, dialectOf } from '../../db/index.js';
import type { NewUserRow, Role, UserRow, UserUpdate } from '../../db/types.js';

/** A user as the rest of the module sees it: the password hash stays in this file. */
export type UserRecord = Omit<UserRow, 'password_hash'>;

const COLUMNS = [
  'id',
  'username',
  'email',
  'display_name',
  'bio',
  'role',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof UserRecord)[];

export class UsersRepository {
  constructor(private readonly db: Db) {}

  get(id: number): Promise<UserRecord | undefined> {
    return this.db.selectFrom('users').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  }

  getByUsername(username: string): Promise<UserRecord | undefined> {
    return this.db.selectFrom('users').select(COLUMNS).where('username', '=', username).executeTakeFirst();
  }

  /** Login accepts a username or an email; both are stored lower-cased. */
  getByLogin(login: string): Promise<UserRecord | undefined> {
    const value = login.trim().toLowerCase();
    return this.db
      .selectFrom('users')
      .select(COLUMNS)
      .where((eb) => eb.or([eb('username', '=', value), eb('email', '=', value)]))
      .executeTakeFirst();
  }

  async getPasswordHash(id: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.password_hash;
  }

  async exists(field: 'username' | 'email', value: string): Promise<boolean> {
    const row = await this.db.selectFrom('users').select('id').where(field, '=', value).executeTakeFirst();
    return row !== undefined;
  }

  async list(limit: number, offset: number): Promise<{ rows: UserRecord[]; total: number }> {
    const rows = await this.db
      .selectFrom('users')
      .select(COLUMNS)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(limit)
      .offset(offset)
      .execute();
    return { rows, total: await this.count() };
  }

  async count(role?: Role): Promise<number> {
    let query = this.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n'));
    if (role) query = query.where('role', '=', role);
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  create(row: NewUserRow): Promise<UserRecord> {
    return this.db.insertInto('users').values(row).returning(COLUMNS).executeTakeFirstOrThrow();
  }

  /**
   * The first account, atomically: the count and the insert share a transaction, and on
   * PostgreSQL a table lock makes a second concurrent setup wait and then see the first user.
   */
  createIfNoUsers(row: NewUserRow): Promise<UserRecord | null> {
    return this.db.transaction().execute(async (trx) => {
      if (dialectOf(trx) === 'postgres') await sql`lock table users in share row exclusive mode`.execute(trx);
      const { n } = await trx
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(n) > 0) return null;
      return trx.insertInto('users').values(row).returning(COLUMNS).executeTakeFirstOrThrow();
    });
  }

  update(id: number, patch: Omit<UserUpdate, 'password_hash'>): Promise<UserRecord | undefined> {
    return this.db.updateTable('users').set(patch).where('id', '=', id).returning(COLUMNS).executeTakeFirst();
  }

  /**
   * A new password hash; `alsoInTransaction` runs in the same transaction, so another
   * module's follow-up (auth ending the other sessions) happens together or not at all.
   */
  async replacePassword(
    id: number,
    passwordHash: string,
    at: string,
    alsoInTransaction?: (trx: Db) => Promise<void>,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: at })
        .where('id', '=', id)
        .execute();
      await alsoInTransaction?.(trx);
    });
  }

  /**
   * Changes a role unless that would leave no admin: the check and the write are one
   * statement, so two admins demoting each other at once cannot both succeed.
   */
  async setRoleKeepingAnAdmin(id: number, role: Role, updatedAt: string): Promise<boolean> {
    let query = this.db.updateTable('users').set({ role, updated_at: updatedAt }).where('id', '=', id);
    if (role !== 'admin') {
      query = query.where((eb) =>
        eb(
          eb
            .selectFrom('users as admins')
            .select((e) => e.fn.countAll().as('n'))
            .where('admins.role', '=', 'admin')
            .where('admins.id', '!=', id),
          '>',
          0,
        ),
      );
    }
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
