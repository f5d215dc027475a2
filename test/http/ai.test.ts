import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultReply,
  planAnswer,
  startFakeModelServer,
  type FakeModelServer,
} from '../fakes/model-server.js';
import { Client, createTestApp, signedIn, type TestApp } from '../helpers/app.js';
import { parseSse, textOf } from '../helpers/sse.js';

// The AI writing door over HTTP, against the fake model server (a simulator) speaking Ollama.
describe('AI writing over HTTP', () => {
  let fake: FakeModelServer;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeModelServer({ ttftMs: 2, interTokenMs: 1, parallel: 4 });
    t = await createTestApp('sqlite', {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_RETRY_MAX_DELAY_MS: '100',
      AI_REQUESTS_PER_MINUTE: '1000',
    });
  });
  beforeEach(() => {
    fake.set({ faults: [], fault: null });
    fake.resetStats();
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('streams a draft as events with ids, then done with the model and its usage, and records it', async () => {
    const { client } = await signedIn(t.app, 'author');
    const response = await client.api('POST', '/api/v1/ai/write', { kind: 'draft', title: 'Tea in winter' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['ratelimit-limit']).toBe('1000');
    const events = parseSse(response.body);
    expect(events[0]).toMatchObject({ id: '0', event: 'start', data: { cached: false, alias: 'default' } });
    expect(events.filter((e) => e.event === 'token').length).toBeGreaterThan(3);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toMatchObject({ model: 'glm4', provider: 'main', cached: false, finishReason: 'stop' });
    expect(done.data.usage.completionTokens).toBeGreaterThan(0);
    const sent = fake.stats.requests[0]!.body as { messages: { content: string }[] };
    expect(textOf(events)).toBe(
      planAnswer(sent.messages as never, defaultReply, 'glm4', undefined).tokens.join(''),
    );
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i));

    const rows = await t.app.database.db.selectFrom('generations').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: 'draft',
      status: 'completed',
      model: 'glm4',
      output: textOf(events),
    });
  });

  it('replays the same request from the cache as the same events, and regenerate asks the model again', async () => {
    const { client } = await signedIn(t.app, 'author');
    const body = { kind: 'titles', text: 'A post about brewing green tea at home.' };
    const first = parseSse((await client.api('POST', '/api/v1/ai/write', body)).body);
    const second = parseSse((await client.api('POST', '/api/v1/ai/write', body)).body);
    expect(fake.stats.requests).toHaveLength(1);
    expect(second[0]!.data.cached).toBe(true);
    expect(second.at(-1)!.data).toMatchObject({ cached: true, model: 'glm4' });
    expect(textOf(second)).toBe(textOf(first));
    const tokens = (events: typeof first) =>
      events.filter((e) => e.event === 'token').map((e) => [e.id, e.data]);
    expect(tokens(second)).toEqual(tokens(first));
    expect(second.map((e) => Number(e.id))).toEqual(second.map((_, i) => i));
    // Every replay of one cached answer sends the same frames after its own start.
    const third = parseSse((await client.api('POST', '/api/v1/ai/write', body)).body);
    expect(third.slice(1)).toEqual(second.slice(1));
    expect(third[0]!.data.generationId).not.toBe(second[0]!.data.generationId);
    await client.api('POST', '/api/v1/ai/write', { ...body, regenerate: true });
    expect(fake.stats.requests).toHaveLength(2);
  });

  it('answers with JSON when stream is false', async () => {
    const { client } = await signedIn(t.app, 'author');
    const response = await client.api('POST', '/api/v1/ai/write', {
      kind: 'tags',
      text: 'Notes on sourdough',
      stream: false,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ model: 'glm4', cached: false, finishReason: 'stop' });
    expect(response.json().text.length).toBeGreaterThan(0);
  });

  it('refuses readers and visitors, and names a missing or bad field', async () => {
    const { client: reader } = await signedIn(t.app, 'reader');
    expect((await reader.api('POST', '/api/v1/ai/write', { kind: 'draft', title: 'x' })).statusCode).toBe(
      403,
    );
    expect(
      (await new Client(t.app).api('POST', '/api/v1/ai/write', { kind: 'draft', title: 'x' })).statusCode,
    ).toBe(401);
    const { client } = await signedIn(t.app, 'author');
    const missing = await client.api('POST', '/api/v1/ai/write', { kind: 'draft' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.fields).toHaveProperty('title');
    const badKind = await client.api('POST', '/api/v1/ai/write', { kind: 'poem', title: 'x' });
    expect(badKind.statusCode).toBe(400);
    expect(Object.keys(badKind.json().error.fields)).toContain('kind');
    const badModel = await client.api('POST', '/api/v1/ai/write', {
      kind: 'draft',
      title: 'x',
      model: 'nope',
    });
    expect(badModel.statusCode).toBe(400);
    expect(badModel.json().error.fields.model).toMatch(/Unknown model "nope"/);
    expect(fake.stats.requests).toHaveLength(0);
  });

  it('reports the provider status to authors', async () => {
    const { client } = await signedIn(t.app, 'author');
    const status = await client.get('/api/v1/ai/status');
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      enabled: true,
      providers: [{ name: 'main', kind: 'ollama', ok: true }],
    });
  });
});

describe('AI writing with no model server', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A port nothing listens on: the blog works, the AI says what is missing.
    t = await createTestApp('sqlite', { AI_BASE_URL: 'http://127.0.0.1:9', AI_RETRIES: '0' });
  });
  afterAll(async () => t?.close());

  it('gives a clear error event naming the server, and the status says so too', async () => {
    const { client } = await signedIn(t.app, 'author');
    const events = parseSse(
      (await client.api('POST', '/api/v1/ai/write', { kind: 'draft', title: 'x' })).body,
    );
    const error = events.at(-1)!;
    expect(error.event).toBe('error');
    expect(error.data).toMatchObject({ code: 'ai_unavailable', status: 503, partial: false });
    expect(error.data.message).toContain('http://127.0.0.1:9');
    const status = (await client.get('/api/v1/ai/status')).json();
    expect(status.providers[0]).toMatchObject({ ok: false });
    expect(status.providers[0].message).toContain('http://127.0.0.1:9');
    expect((await client.get('/')).statusCode).toBe(200);
  });
});

describe('the admin page', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { AI_BASE_URL: 'http://127.0.0.1:9' });
  });
  afterAll(async () => t?.close());

  it("shows each model provider's status, and what is missing", async () => {
    const { client } = await signedIn(t.app, 'admin');
    const page = await client.get('/admin');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Writing assistant');
    expect(page.body).toMatch(/main <span class="muted">ollama<\/span>/);
    expect(page.body).toContain('down');
    expect(page.body).toContain('http://127.0.0.1:9');
  });
});

describe('an OpenAI-compatible server with a key', () => {
  const KEY = 'sk-test-do-not-leak-4f9a';
  let fake: FakeModelServer;
  let t: TestApp;
  beforeAll(async () => {
    fake = await startFakeModelServer({ apiKey: KEY, models: ['glm-4-flash'] });
    t = await createTestApp('sqlite', {
      AI_PROVIDER: 'openai',
      AI_BASE_URL: `${fake.url}/v1`,
      AI_API_KEY: KEY,
      AI_MODEL: 'glm-4-flash',
      AI_RETRIES: '0',
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('streams with the key, and never shows it in an answer, an error, the status or the record', async () => {
    const { client } = await signedIn(t.app, 'admin');
    const ok = parseSse((await client.api('POST', '/api/v1/ai/write', { kind: 'tags', text: 'tea' })).body);
    expect(ok.at(-1)).toMatchObject({ event: 'done', data: { model: 'glm-4-flash' } });
    expect(fake.stats.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);

    // The server stops accepting the key: the author sees a clear error without the key.
    fake.set({ apiKey: 'another-key' });
    const refused = await client.api('POST', '/api/v1/ai/write', { kind: 'tags', text: 'coffee' });
    const error = parseSse(refused.body).at(-1)!;
    expect(error.event).toBe('error');
    const pages = [
      refused.body,
      (await client.get('/api/v1/ai/status')).body,
      (await client.get('/admin')).body,
      JSON.stringify(await t.app.database.db.selectFrom('generations').selectAll().execute()),
    ];
    for (const page of pages) expect(page).not.toContain(KEY);
  });
});
