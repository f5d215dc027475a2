import type { Db } from '../../db/index.js';

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  all(): Promise<{ key: string; value: string }[]> {
    return this.db.selectFrom('settings').selectAll().execute();
  }

  async upsert(entries: [string, string][]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of entries) {
        await trx
          .insertInto('settings')
          .values({ key, value })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
          .execute();
      }
    });
  }
}
