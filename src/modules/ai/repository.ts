import { CompiledQuery } from 'kysely';
import type { Db } from '../../db/index.js';
import type { GenerationRow, NewGenerationRow } from '../../db/types.js';

type Column = keyof NewGenerationRow;

export class GenerationsRepository {
  /** The insert's SQL by its column list, built once: one row is written per generation. */
  private readonly inserts = new Map<string, string>();

  constructor(private readonly db: Db) {}

  async create(row: NewGenerationRow): Promise<void> {
    // Building and compiling the insert with Kysely for every row was a tenth of Inkstone's
    // CPU per generation in the profile; its SQL only depends on which columns are set.
    const columns = (Object.keys(row) as Column[]).filter((c) => row[c] !== undefined).sort();
    const parameters = columns.map((c) => row[c]);
    const key = columns.join(',');
    let sql = this.inserts.get(key);
    if (sql === undefined) {
      const ordered = Object.fromEntries(columns.map((c) => [c, row[c]])) as NewGenerationRow;
      const compiled = this.db.insertInto('generations').values(ordered).compile();
      // Kysely numbers the values in column order; if that ever changes, stay on its own path.
      const same =
        compiled.parameters.length === parameters.length &&
        compiled.parameters.every((value, i) => value === parameters[i]);
      if (!same) {
        await this.db.executeQuery(compiled);
        return;
      }
      sql = compiled.sql;
      this.inserts.set(key, sql);
    }
    await this.db.executeQuery(CompiledQuery.raw(sql, parameters));
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
