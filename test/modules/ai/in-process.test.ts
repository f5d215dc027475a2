import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Actor } from '../../../src/modules/access/permissions.js';
import type { AiEvent } from '../../../src/modules/ai/broadcast.js';
import { toActor } from '../../../src/modules/users/service.js';
import { TINY_SYSTEM_PROMPT, writeTinyGguf } from '../../fakes/tiny-gguf.js';
import { createTestApp, createUser, type TestApp } from '../../helpers/app.js';

// Real inference through the whole pipeline: AI_PROVIDER=llamacpp runs the tiny counting
// model the suite writes itself, so the exact answer is known.
describe('the pipeline with the in-process GGUF model', () => {
  let t: TestApp;
  let actor: Actor;

  beforeAll(async () => {
    const modelPath = await writeTinyGguf(
      join(inject('testDataFolder'), `pipeline-tiny-${process.pid}.gguf`),
    );
    t = await createTestApp('sqlite', {
      AI_PROVIDER: 'llamacpp',
      AI_MODEL_PATH: modelPath,
      AI_MODEL: 'tiny-counter',
      AI_CONCURRENCY: '2',
      AI_CACHE_TTL_SECONDS: '0',
    });
    actor = toActor(await createUser(t.app, 'author'));
  }, 60_000);
  afterAll(async () => t?.close());

  async function count(from: string) {
    const generation = await t.app.services.ai.generate(
      {
        kind: 'chat',
        messages: [
          { role: 'system', content: TINY_SYSTEM_PROMPT },
          { role: 'user', content: `Count: ${from}` },
        ],
        params: { temperature: 0 },
      },
      actor,
    );
    const events: AiEvent[] = [];
    for await (const event of generation.broadcast.subscribe()) events.push(event);
    return events;
  }
  const text = (events: AiEvent[]) => events.map((e) => (e.type === 'token' ? e.text : '')).join('');

  it('streams the exact greedy answer and records it', async () => {
    const events = await count('one two');
    expect(text(events)).toBe(' three four five six seven eight nine ten');
    expect(events.at(-1)).toMatchObject({ type: 'done', provider: 'main', finishReason: 'stop' });
    const row = await t.app.database.db.selectFrom('generations').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'completed', output: ' three four five six seven eight nine ten' });
    expect(row.tokens_out).toBe(8);
  });

  it('answers concurrent requests side by side, each exactly', async () => {
    const [a, b] = await Promise.all([count('one two three'), count('five')]);
    expect(text(a)).toBe(' four five six seven eight nine ten');
    expect(text(b)).toBe(' six seven eight nine ten');
  });

  it('stops generating when its reader leaves', async () => {
    const generation = await t.app.services.ai.generate(
      {
        kind: 'chat',
        messages: [
          { role: 'system', content: TINY_SYSTEM_PROMPT },
          { role: 'user', content: 'Count: one' },
        ],
        params: { temperature: 0 },
      },
      actor,
    );
    const leave = new AbortController();
    for await (const event of generation.broadcast.subscribe(leave.signal)) {
      // Leaving at the start: the tiny model writes a token a millisecond, faster than a reader.
      if (event.type === 'start') leave.abort();
    }
    await expect
      .poll(async () => {
        const rows = await t.app.database.db.selectFrom('generations').select('status').execute();
        return rows.map((r) => r.status);
      })
      .toContain('cancelled');
    // The sequence is free again: the next answer comes in full.
    expect(text(await count('eight'))).toBe(' nine ten');
  });
});
