import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewGenerationRow } from '../../../src/db/types.js';
import { GenerationsRepository } from '../../../src/modules/ai/repository.js';
import { availableDialects, createTestDatabase, type TestDatabase } from '../../helpers/db.js';

// The generations insert is compiled once and reused with new values: each row must still
// land whole, in the right columns, on both databases, whichever columns it sets.

function row(id: string, overrides: Partial<NewGenerationRow> = {}): NewGenerationRow {
  return {
    id,
    user_id: null,
    kind: 'draft',
    alias: 'default',
    model: 'glm4',
    provider: 'main',
    status: 'completed',
    cached: 0,
    prompt: JSON.stringify([{ role: 'user', content: `prompt ${id}` }]),
    params: '{}',
    output: `output of ${id}`,
    attempts: '[]',
    tokens_in: 3,
    tokens_out: 4,
    ttft_ms: 12,
    duration_ms: 34,
    error: null,
    created_at: '2026-11-25T12:00:00.000Z',
    ...overrides,
  };
}

describe.each(await availableDialects())('the generations record on %s', (dialect) => {
  let database: TestDatabase;
  let repo: GenerationsRepository;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    repo = new GenerationsRepository(database.handle.db);
  });
  afterAll(async () => database?.destroy());

  it('writes each row whole with the insert built once', async () => {
    const rows = [
      row('g1'),
      row('g2', { status: 'failed', output: 'part', error: 'ai_failed: cut', ttft_ms: null, model: null }),
      row('g3', { cached: 1, tokens_in: 0, tokens_out: 0 }),
    ];
    for (const r of rows) await repo.create(r);
    for (const r of rows) expect(await repo.get(r.id)).toEqual(r);
  });

  it('writes a row that leaves a column to its default', async () => {
    const { error: _left, ...partial } = row('g4');
    await repo.create(partial as NewGenerationRow);
    expect(await repo.get('g4')).toMatchObject({ id: 'g4', error: null, output: 'output of g4' });
  });
});
