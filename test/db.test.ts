import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableDialects, createTestDatabase, type TestDatabase } from './helpers/db.js';

const dialects = await availableDialects();

describe.each(dialects)('migrations on %s', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.destroy());

  it('creates every table and enforces foreign keys', async () => {
    const tables = (await t.handle.db.introspection.getTables()).map((table) => table.name);
    for (const name of [
      'users',
      'sessions',
      'api_tokens',
      'posts',
      'tags',
      'post_tags',
      'comments',
      'settings',
      'generations',
    ]) {
      expect(tables).toContain(name);
    }
    await expect(
      t.handle.db
        .insertInto('sessions')
        .values({ id: 'x', user_id: 999, created_at: 'a', expires_at: 'b', user_agent: '' })
        .execute(),
    ).rejects.toThrow();
  });
});
