import type { Db } from '../../db/index.js';
import type { ApiTokenRow } from '../../db/types.js';

/** Sessions and API tokens: both are looked up by the sha256 of a secret the client holds. */
export class AuthRepository {
  constructor(private readonly db: Db) {}

  async createSession(row: {
    id: string;
    userId: number;
    createdAt: string;
    expiresAt: string;
    userAgent: string;
  }) {
    await this.db
      .insertInto('sessions')
      .values({
        id: row.id,
        user_id: row.userId,
        created_at: row.createdAt,
        expires_at: row.expiresAt,
        user_agent: row.userAgent,
      })
      .execute();
  }

  getSession(id: string) {
    return this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  /** Ends every session of the user but one; `db` is a transaction when it must commit with other writes. */
  async deleteOtherSessions(userId: number, keepSessionId: string | undefined, db: Db = this.db) {
    let query = db.deleteFrom('sessions').where('user_id', '=', userId);
    if (keepSessionId) query = query.where('id', '!=', keepSessionId);
    await query.execute();
  }

  async deleteExpiredSessions(now: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }

  async createToken(row: {
    userId: number;
    name: string;
    tokenHash: string;
    prefix: string;
    createdAt: string;
  }) {
    return this.db
      .insertInto('api_tokens')
      .values({
        user_id: row.userId,
        name: row.name,
        token_hash: row.tokenHash,
        prefix: row.prefix,
        created_at: row.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  listTokens(userId: number): Promise<ApiTokenRow[]> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  getTokenByHash(tokenHash: string) {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }

  async touchToken(id: number, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async deleteToken(id: number, userId: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('api_tokens')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
