import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../src/modules/access/permissions.js';
import type { AiEvent } from '../../../src/modules/ai/broadcast.js';
import type { GenerateRequest } from '../../../src/modules/ai/service.js';
import { toActor } from '../../../src/modules/users/service.js';
import { defaultReply, type FakeModelServer, startFakeModelServer } from '../../fakes/model-server.js';
import { createTestApp, createUser, type TestApp } from '../../helpers/app.js';

// Every promise of the AI pipeline, against two fake model servers (simulators): a primary
// speaking Ollama and a backup speaking the OpenAI protocol, wired as a fallback chain.

const TIMEOUTS = {
  AI_CONNECT_TIMEOUT_MS: '300',
  AI_FIRST_TOKEN_TIMEOUT_MS: '400',
  AI_IDLE_TIMEOUT_MS: '300',
  AI_TOTAL_TIMEOUT_MS: '5000',
  AI_RETRY_MAX_DELAY_MS: '100',
};

interface World {
  t: TestApp;
  primary: FakeModelServer;
  backup: FakeModelServer;
  actor: Actor;
}

async function world(env: Record<string, string> = {}, models?: object): Promise<World> {
  const primary = await startFakeModelServer({ interTokenMs: 1 });
  const backup = await startFakeModelServer({ interTokenMs: 1, models: ['glm-4-flash'] });
  const file = join(tmpdir(), `inkstone-models-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      models ?? {
        providers: {
          primary: { kind: 'ollama', baseUrl: primary.url, concurrency: 2 },
          backup: { kind: 'openai', baseUrl: `${backup.url}/v1`, concurrency: 4 },
        },
        aliases: {
          default: { provider: 'primary', model: 'glm4', fallback: ['big'], contextTokens: 100 },
          big: { provider: 'backup', model: 'glm-4-flash', contextTokens: 100_000 },
        },
      },
    ),
  );
  const t = await createTestApp('sqlite', {
    AI_PROVIDER: 'none',
    AI_MODELS_FILE: file,
    AI_REQUESTS_PER_MINUTE: '10000',
    AI_USER_CONCURRENCY: '1000',
    ...TIMEOUTS,
    ...env,
  });
  const actor = toActor(await createUser(t.app, 'author'));
  return { t, primary, backup, actor };
}

async function close(w: World | undefined) {
  await w?.t.close();
  await w?.primary.close();
  await w?.backup.close();
}

const ask = (text: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  kind: 'chat',
  messages: [{ role: 'user', content: text }],
  ...extra,
});

/** The whole answer a subscriber reads. */
async function read(w: World, request: GenerateRequest, signal?: AbortSignal): Promise<AiEvent[]> {
  const generation = await w.t.app.services.ai.generate(request, w.actor);
  const events: AiEvent[] = [];
  for await (const event of generation.broadcast.subscribe(signal)) events.push(event);
  return events;
}

const text = (events: AiEvent[]) => events.map((e) => (e.type === 'token' ? e.text : '')).join('');
const last = (events: AiEvent[]) => events.at(-1)!;
const expected = (prompt: string, model = 'glm4') => defaultReply([{ role: 'user', content: prompt }], model);

async function rows(w: World) {
  return w.t.app.database.db.selectFrom('generations').selectAll().orderBy('created_at').execute();
}

describe('the AI pipeline', () => {
  let w: World;
  beforeAll(async () => {
    w = await world();
  });
  afterEach(() => {
    for (const fake of [w.primary, w.backup]) {
      fake.set({ faults: [], fault: null, ttftMs: 0 });
      fake.resetStats();
    }
  });
  afterAll(async () => close(w));

  it('answers from the primary and names the model that produced it', async () => {
    const events = await read(w, ask('hello there'));
    expect(text(events)).toBe(expected('hello there'));
    expect(last(events)).toMatchObject({
      type: 'done',
      model: 'glm4',
      alias: 'default',
      provider: 'primary',
    });
    expect(w.backup.stats.requests).toHaveLength(0);
  });

  it('coalesces 100 identical concurrent requests into exactly one model call', async () => {
    w.primary.set({ ttftMs: 30 });
    const all = await Promise.all(Array.from({ length: 100 }, () => read(w, ask('the same question'))));
    expect(w.primary.stats.requests).toHaveLength(1);
    for (const events of all) expect(text(events)).toBe(expected('the same question'));
  });

  it('replays a cached answer as the same stream, complete before anyone reads it', async () => {
    const first = await read(w, ask('cache me'));
    const generation = await w.t.app.services.ai.generate(ask('cache me'), w.actor);
    // No model call and nothing to wait for: every event is there when generate returns.
    // (How fast that is, is measured by npm run bench:ai, not asserted here.)
    expect(generation.broadcast.done).toBe(true);
    const events: AiEvent[] = [];
    for await (const event of generation.broadcast.subscribe()) events.push(event);
    expect(last(events)).toMatchObject({ type: 'done', cached: true });
    expect(events.filter((e) => e.type === 'token')).toEqual(
      first
        .filter((e) => e.type === 'token')
        .map((e) => expect.objectContaining({ text: (e as { text: string }).text })),
    );
    expect(w.primary.stats.requests).toHaveLength(1);
  });

  it('resumes a replayed answer from the cached copy: the same events, and its record', async () => {
    const original = await read(w, ask('resume a replay'));
    const { ai } = w.t.app.services;
    const generation = await ai.generate(ask('resume a replay'), w.actor);
    const replayed: AiEvent[] = [];
    for await (const event of generation.broadcast.subscribe()) replayed.push(event);
    expect(last(replayed)).toMatchObject({ type: 'done', cached: true });
    expect(text(replayed)).toBe(text(original));
    // A client that saw the first two events reconnects with Last-Event-ID 1.
    const found = ai.find(generation.id);
    expect(found?.id).toBe(generation.id);
    const resumed: AiEvent[] = [];
    for await (const event of found!.broadcast.subscribe(undefined, 1)) resumed.push(event);
    expect(resumed).toEqual(replayed.slice(2));
    await found!.settled;
    expect((await rows(w)).find((row) => row.id === generation.id)).toMatchObject({ cached: 1 });
    expect(ai.find('no-such-generation')).toBeUndefined();
  });

  it('keeps at most AI concurrency calls in flight per provider', async () => {
    w.primary.set({ ttftMs: 20 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => read(w, ask(`slots ${i}`))));
    expect(w.primary.stats.requests).toHaveLength(8);
    expect(w.primary.stats.maxInFlight).toBe(2);
  });

  it('retries a 500 and a reset before headers, then answers', async () => {
    w.primary.set({ faults: [{ type: 'status500Once' }, { type: 'resetBeforeHeaders' }] });
    const events = await read(w, ask('flaky'));
    expect(text(events)).toBe(expected('flaky'));
    expect(w.primary.stats.requests).toHaveLength(3);
    expect(events.filter((e) => e.type === 'notice')).toHaveLength(2);
  });

  it('honours Retry-After on a 429, capped at the longest retry wait', async () => {
    w.primary.set({ faults: [{ type: 'status429', retryAfterSeconds: 30 }] });
    const started = performance.now();
    const events = await read(w, ask('rate limited'));
    const waited = performance.now() - started;
    expect(text(events)).toBe(expected('rate limited'));
    // 30 s asked, capped at AI_RETRY_MAX_DELAY_MS = 100 ms.
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(2000);
  });

  it('never retries a content-filter refusal or sends it elsewhere: the reason comes back', async () => {
    w.primary.set({ faults: [{ type: 'contentFilter', reason: 'violence' }] });
    const events = await read(w, ask('filtered'));
    expect(last(events)).toMatchObject({ type: 'error', code: 'ai_content_filtered', status: 400 });
    expect((last(events) as { message: string }).message).toContain('violence');
    expect(w.primary.stats.requests).toHaveLength(1);
    expect(w.backup.stats.requests).toHaveLength(0);
  });

  it('sends a context-length error straight to the larger-context alias, without a retry', async () => {
    w.primary.set({ faults: [{ type: 'contextLength' }] });
    const events = await read(w, ask('too long'));
    expect(w.primary.stats.requests).toHaveLength(1);
    expect(last(events)).toMatchObject({ type: 'done', model: 'glm-4-flash', alias: 'big' });
    expect(text(events)).toBe(expected('too long', 'glm-4-flash'));
  });

  it('moves a silent request to the fallback after the first timeout, not after retrying it', async () => {
    w.primary.set({ faults: [{ type: 'noResponse' }] });
    const events = await read(w, ask('silent'));
    expect(w.primary.stats.requests).toHaveLength(1);
    expect(last(events)).toMatchObject({ type: 'done', alias: 'big' });
    await w.primary.waitFor((s) => s.inFlight === 0);
    expect(w.primary.stats.requests[0]!.aborted).toBe(true);
  });

  it('moves a slow first token to the fallback after the first-token timeout', async () => {
    w.primary.set({ faults: [{ type: 'slowFirstToken', ms: 2000 }] });
    const started = performance.now();
    const events = await read(w, ask('slow start'));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(w.primary.stats.requests).toHaveLength(1);
    expect(last(events)).toMatchObject({ type: 'done', alias: 'big' });
  });

  it('continues a cut answer on the fallback from the partial text, as one complete answer', async () => {
    w.primary.set({ faults: [{ type: 'cutAfter', tokens: 4 }] });
    const prompt = 'cut me';
    const events = await read(w, ask(prompt));
    // The fake's backup continues the same reply after the prefill (same default text).
    expect(text(events)).toBe(expected(prompt));
    expect(last(events)).toMatchObject({ type: 'done', model: 'glm-4-flash', alias: 'big' });
    const prefill = (
      w.backup.stats.requests[0]!.body as { messages: { role: string; content: string }[] }
    ).messages.at(-1)!;
    expect(prefill.role).toBe('assistant');
    expect(expected(prompt).startsWith(prefill.content)).toBe(true);
    expect(prefill.content.length).toBeGreaterThan(0);
    const [row] = (await rows(w)).slice(-1);
    const attempts = JSON.parse(row!.attempts) as { alias: string; outcome: string; text: string }[];
    expect(attempts.map((a) => [a.alias, a.outcome])).toEqual([
      ['default', 'failed'],
      ['big', 'ok'],
    ]);
    expect(attempts[0]!.text + attempts[1]!.text).toBe(expected(prompt));
    expect(row!.output).toBe(expected(prompt));
  });

  it('continues a stalled answer after the idle timeout', async () => {
    w.primary.set({ faults: [{ type: 'stallAfter', tokens: 3 }] });
    const events = await read(w, ask('stall me'));
    expect(text(events)).toBe(expected('stall me'));
    expect(last(events)).toMatchObject({ type: 'done', alias: 'big' });
  });

  it('reports the original cut, not the fallback’s refusal, when nothing can continue — and caches nothing', async () => {
    w.primary.set({ faults: [{ type: 'cutAfter', tokens: 3 }] });
    w.backup.set({ fault: { type: 'refusePrefill' } });
    const events = await read(w, ask('cannot continue'));
    const error = last(events);
    expect(error).toMatchObject({ type: 'error', code: 'ai_stream_cut', partial: true });
    expect((error as { message: string }).message).toMatch(/cut off after/);
    expect((error as { message: string }).message).not.toMatch(/prefill/i);
    expect(events.some((e) => e.type === 'done')).toBe(false);
    // Not cached: the same request goes to the model again.
    w.primary.set({ faults: [] });
    w.backup.set({ fault: null });
    const again = await read(w, ask('cannot continue'));
    expect(last(again)).toMatchObject({ type: 'done', cached: false });
  });

  it('skips a malformed line and finalises a stream without its terminator', async () => {
    w.primary.set({ faults: [{ type: 'malformedLine', afterTokens: 2 }, { type: 'missingTerminator' }] });
    expect(text(await read(w, ask('malformed')))).toBe(expected('malformed'));
    const events = await read(w, ask('no terminator'));
    expect(text(events)).toBe(expected('no terminator'));
    expect(last(events)).toMatchObject({ type: 'done', alias: 'default' });
  });

  it('stops the model call when the only reader leaves, and frees the slot', async () => {
    w.primary.set({ interTokenMs: 20 });
    const reader = new AbortController();
    const generation = await w.t.app.services.ai.generate(ask('leave early'), w.actor);
    let tokens = 0;
    for await (const event of generation.broadcast.subscribe(reader.signal)) {
      if (event.type === 'token' && ++tokens === 2) reader.abort();
    }
    await w.primary.waitFor((s) => s.inFlight === 0);
    expect(w.primary.stats.requests[0]!.aborted).toBe(true);
    w.primary.set({ interTokenMs: 1 });
  });

  it('goes on while another reader still reads', async () => {
    w.primary.set({ interTokenMs: 5 });
    const generation = await w.t.app.services.ai.generate(ask('two readers'), w.actor);
    const leaving = new AbortController();
    const first = (async () => {
      for await (const event of generation.broadcast.subscribe(leaving.signal)) {
        if (event.type === 'token') leaving.abort();
      }
    })();
    const second: AiEvent[] = [];
    for await (const event of generation.broadcast.subscribe()) second.push(event);
    await first;
    expect(text(second)).toBe(expected('two readers'));
    expect(w.primary.stats.requests[0]!.aborted).toBe(false);
    w.primary.set({ interTokenMs: 1 });
  });
});

describe('the whole-answer timeout', () => {
  let w: World;
  beforeAll(async () => {
    w = await world({ AI_TOTAL_TIMEOUT_MS: '300', AI_IDLE_TIMEOUT_MS: '5000' });
  });
  afterAll(async () => close(w));

  it('ends an answer that trickles on past AI_TOTAL_TIMEOUT_MS, and says so', async () => {
    // One token every 60 ms never trips the idle timeout, but the whole answer takes ~2 s.
    w.primary.set({ interTokenMs: 60 });
    w.backup.set({ interTokenMs: 60 });
    const started = performance.now();
    const events = await read(w, ask('trickle'));
    expect(performance.now() - started).toBeLessThan(1500);
    const error = last(events);
    expect(error).toMatchObject({ type: 'error', partial: true });
    expect((error as { message: string }).message).toMatch(/whole answer within 300 ms/);
  });
});

describe('resuming a stream', () => {
  let w: World;
  beforeAll(async () => {
    w = await world();
  });
  afterAll(async () => close(w));

  it('replays the events after the last id a client saw, by generation id', async () => {
    const generation = await w.t.app.services.ai.generate(ask('resume me'), w.actor);
    const all: AiEvent[] = [];
    for await (const event of generation.broadcast.subscribe()) all.push(event);
    const found = w.t.app.services.ai.find(generation.id);
    expect(found).toBeDefined();
    const rest: AiEvent[] = [];
    for await (const event of found!.broadcast.subscribe(undefined, 3)) rest.push(event);
    expect(rest).toEqual(all.slice(4));
    expect(w.t.app.services.ai.find('no-such-id')).toBeUndefined();
  });
});

describe('the circuit breaker', () => {
  let w: World;
  beforeAll(async () => {
    w = await world({ AI_BREAKER_FAILURES: '2', AI_BREAKER_HALF_OPEN_MS: '300', AI_RETRIES: '0' });
  });
  afterAll(async () => close(w));

  it('sends requests to the fallback at once while the primary is down, and back after a probe', async () => {
    w.primary.set({ fault: { type: 'status503' } });
    for (const i of [1, 2]) {
      expect(last(await read(w, ask(`down ${i}`)))).toMatchObject({ type: 'done', alias: 'big' });
    }
    expect(w.primary.stats.requests).toHaveLength(2);
    expect(w.t.app.services.ai).toBeDefined();
    // Open: the primary is not asked at all.
    expect(last(await read(w, ask('down 3')))).toMatchObject({ type: 'done', alias: 'big' });
    expect(w.primary.stats.requests).toHaveLength(2);
    const status = await w.t.app.services.ai.status();
    expect(status.providers.find((p) => p.name === 'primary')?.circuit).toBe('open');

    // The primary recovers; after the half-open delay one probe brings traffic back.
    w.primary.set({ fault: null });
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(last(await read(w, ask('probe')))).toMatchObject({ type: 'done', alias: 'default' });
    expect(last(await read(w, ask('back')))).toMatchObject({ type: 'done', alias: 'default' });
    expect((await w.t.app.services.ai.status()).providers[0]?.circuit).toBe('closed');
  });
});

describe('limits and admission', () => {
  let w: World | undefined;
  afterEach(async () => {
    await close(w);
    w = undefined;
  });

  it('refuses the request past the per-minute allowance with 429, Retry-After and RateLimit headers', async () => {
    w = await world({ AI_REQUESTS_PER_MINUTE: '2' });
    await read(w, ask('one'));
    await read(w, ask('two'));
    const refused = await w.t.app.services.ai.generate(ask('three'), w.actor).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 429, code: 'rate_limited' });
    const headers = (refused as { headers: Record<string, string> }).headers;
    expect(Number(headers['retry-after'])).toBeGreaterThan(0);
    expect(headers['ratelimit-limit']).toBe('2');
    expect(headers['ratelimit-remaining']).toBe('0');
  });

  it('refuses after the day’s tokens are used', async () => {
    w = await world({ AI_TOKENS_PER_DAY: '5' });
    await read(w, ask('spend the tokens'));
    await expect(w.t.app.services.ai.generate(ask('more'), w.actor)).rejects.toMatchObject({
      status: 429,
      message: expect.stringMatching(/today/),
    });
  });

  it('answers 503 with Retry-After at once when the queue is full, and 429 past the per-user cap', async () => {
    w = await world({ AI_MAX_QUEUE: '1', AI_USER_CONCURRENCY: '4' });
    w.primary.set({ ttftMs: 300 });
    const running = [1, 2, 3].map(async (i) => read(w!, ask(`queue ${i}`)));
    await w.primary.waitFor((s) => s.inFlight === 2);
    // Two in flight (the provider's concurrency), one waiting (the queue's depth): full.
    const started = performance.now();
    const full = await w.t.app.services.ai.generate(ask('queue 4'), w.actor).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(50);
    expect(full).toMatchObject({ status: 503, code: 'ai_queue_full', headers: { 'retry-after': '5' } });
    await Promise.all(running);

    const capped = await world({ AI_USER_CONCURRENCY: '1' });
    try {
      capped.primary.set({ ttftMs: 200 });
      const first = read(capped, ask('mine'));
      await expect(capped.t.app.services.ai.generate(ask('also mine'), capped.actor)).rejects.toMatchObject({
        status: 429,
        code: 'ai_too_many_running',
      });
      await first;
    } finally {
      await close(capped);
    }
  });
});
