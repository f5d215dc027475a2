import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toActor } from '../../src/modules/users/service.js';
import { defaultReply, type FakeModelServer, startFakeModelServer } from '../fakes/model-server.js';
import { createTestApp, createUser, type TestApp } from '../helpers/app.js';

// The official OpenAI client pointed at Inkstone (app.listen on a real port), with a
// personal API token as its key; behind Inkstone, the fake model server (a simulator).
describe('the OpenAI-compatible door, through the official openai client', () => {
  let fake: FakeModelServer;
  let t: TestApp;
  let client: OpenAI;
  let baseURL: string;
  let token: string;

  beforeAll(async () => {
    fake = await startFakeModelServer({ interTokenMs: 1 });
    t = await createTestApp('sqlite', {
      AI_PROVIDER: 'ollama',
      AI_BASE_URL: fake.url,
      AI_REQUESTS_PER_MINUTE: '6',
      AI_RETRIES: '0',
    });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.app.server.address();
    baseURL = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1`;
    const author = toActor(await createUser(t.app, 'author'));
    token = (await t.app.services.auth.createToken(author, 'sdk')).token;
    // The SDK retries 429 and 5xx by itself; these tests want to see each answer.
    client = new OpenAI({ baseURL, apiKey: token, maxRetries: 0 });
  });
  beforeEach(() => {
    fake.set({ faults: [], fault: null, interTokenMs: 1 });
    fake.resetStats();
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const ask = (content: string) => [{ role: 'user' as const, content }];

  it('lists the model aliases', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['default']);
  });

  it('answers without streaming, naming the model and its usage', async () => {
    const completion = await client.chat.completions.create({
      model: 'default',
      messages: ask('plain answer'),
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('glm4');
    expect(completion.choices[0]!.message.content).toBe(defaultReply(ask('plain answer'), 'glm4'));
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(
      completion.usage!.prompt_tokens + completion.usage!.completion_tokens,
    );
  });

  it('streams chunks, then the usage when asked for', async () => {
    const stream = await client.chat.completions.create({
      model: 'default',
      messages: ask('stream it'),
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      temperature: 0.3,
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(defaultReply(ask('stream it'), 'glm4'));
    expect(chunks).toBeGreaterThan(5);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    const sent = fake.stats.requests[0]!.body as { options: { num_predict: number; temperature: number } };
    expect(sent.options).toMatchObject({ num_predict: 50, temperature: 0.3 });
  });

  it('refuses a bad key with 401 in OpenAI’s error shape', async () => {
    const stranger = new OpenAI({ baseURL, apiKey: 'isk_not-a-token', maxRetries: 0 });
    const error = await stranger.chat.completions
      .create({ model: 'default', messages: ask('x') })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
  });

  it('names a bad field and an unknown model', async () => {
    const bad = await client.chat.completions
      .create({ model: 'default', messages: [], temperature: 9 } as never)
      .catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.error.type).toBe('invalid_request_error');
    expect(typeof bad.error.param).toBe('string');
    const unknown = await client.chat.completions
      .create({ model: 'gpt-9', messages: ask('x') })
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it('sends a failure after the stream began in-band, never as a clean end', async () => {
    fake.set({ faults: [{ type: 'cutAfter', tokens: 3 }] });
    const stream = await client.chat.completions.create({
      model: 'default',
      messages: ask('cut'),
      stream: true,
    });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(String((error as Error).message)).toMatch(/cut off/);
  });

  it('stops the model call when the client aborts', async () => {
    fake.set({ interTokenMs: 30 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'default', messages: ask('abort me'), stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    await (async () => {
      for await (const _chunk of stream) if (++chunks === 3) controller.abort();
    })().catch(() => {});
    await fake.waitFor((s) => s.inFlight === 0);
    expect(fake.stats.requests[0]!.aborted).toBe(true);
  });

  it('answers 429 with Retry-After past the per-minute limit', async () => {
    // The limit is 6 a minute for this user, and earlier tests spent some of it.
    const answers = [];
    for (let i = 0; i < 7; i++) {
      answers.push(
        await client.chat.completions
          .create({ model: 'default', messages: ask(`limit ${i}`) })
          .catch((e) => e),
      );
    }
    const limited = answers.find((a) => a instanceof OpenAI.RateLimitError);
    if (!(limited instanceof OpenAI.RateLimitError)) throw new Error('no request was limited');
    expect(limited.error).toMatchObject({ type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
