import type { Db } from '../../db/index.js';
import type { GenerationRow, NewGenerationRow } from '../../db/types.js';

export class GenerationsRepository {
  constructor(private readonly db: Db) {}

  async create(row: NewGenerationRow): Promise<void> {
    await this.db.insertInto('generations').values(row).execute();
  }

  get(id: string): Promise<GenerationRow | undefined> {
    return this.db.selectFrom('generations').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listRecent(limit: number, userId?: number): Promise<GenerationRow[]> {
    let query = this.db.selectFrom('generations').selectAll();
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    return query.orderBy('created_at', 'desc').limit(limit).execute();
  }

  /** Counts by status since `since`, for the admin page. */
  async summary(since: string): Promise<{ status: string; cached: number; n: number }[]> {
    const rows = await this.db
      .selectFrom('generations')
      .select(['status', 'cached', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('created_at', '>=', since)
      .groupBy(['status', 'cached'])
      .execute();
    return rows.map((r) => ({ status: r.status, cached: Number(r.cached), n: Number(r.n) }));
  }
}
