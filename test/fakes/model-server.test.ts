import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeModelServer,
  type FakeModelServerOptions,
  defaultReply,
  startFakeModelServer,
  tokenize,
} from './model-server.js';

const USER = [{ role: 'user', content: 'Write about tea' }];
const REPLY = defaultReply(USER, 'glm4');
const TOKENS = tokenize(REPLY);

let fake: FakeModelServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(options: FakeModelServerOptions = {}): Promise<FakeModelServer> {
  fake = await startFakeModelServer(options);
  return fake;
}

function post(
  server: FakeModelServer,
  path: string,
  body: unknown,
  init: RequestInit = {},
): Promise<Response> {
  return fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
}

const ollamaChat = (server: FakeModelServer, body: Record<string, unknown> = {}, init?: RequestInit) =>
  post(server, '/api/chat', { model: 'glm4', messages: USER, ...body }, init);
const openaiChat = (server: FakeModelServer, body: Record<string, unknown> = {}, init?: RequestInit) =>
  post(server, '/v1/chat/completions', { model: 'glm4', messages: USER, stream: true, ...body }, init);

const ndjson = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
/** The data payloads of an SSE body, `[DONE]` kept as a string. */
const sseData = (text: string) =>
  text
    .split('\n\n')
    .filter(Boolean)
    .map((event) => {
      expect(event.startsWith('data: ')).toBe(true);
      const data = event.slice('data: '.length);
      return data === '[DONE]' ? data : (JSON.parse(data) as Record<string, unknown>);
    });
type Chunk = { choices: Array<{ delta: { content?: string; role?: string }; finish_reason: string | null }> };
const contentOf = (lines: Array<Record<string, unknown>>) =>
  lines.map((line) => (line.message as { content: string } | undefined)?.content ?? '');

describe('the text the fake model produces', () => {
  it('cuts words with their leading space and every CJK character alone, losslessly', () => {
    expect(tokenize('Echo: hi  there\n\nok')).toEqual(['Echo:', ' hi', '  there', '\n\nok']);
    expect(tokenize('你好，世界 ok')).toEqual(['你', '好', '，', '世', '界', ' ok']);
    expect(TOKENS.join('')).toBe(REPLY);
    expect(REPLY.startsWith('Echo: Write about tea')).toBe(true);
    expect(defaultReply([{ role: 'user', content: '茶的历史' }], 'glm4')).toMatch(/^回声：茶的历史。/);
  });
});

describe('the fake model server, Ollama door', () => {
  it('streams the predicted tokens as NDJSON and ends with done:true and the usage', async () => {
    const server = await start();
    const res = await ollamaChat(server, { keep_alive: '5m' });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = ndjson(await res.text());
    const final = lines.at(-1)!;
    expect(contentOf(lines.slice(0, -1))).toEqual(TOKENS);
    expect(lines[0]).toMatchObject({ model: 'glm4', message: { role: 'assistant' }, done: false });
    expect(final).toMatchObject({
      done: true,
      done_reason: 'stop',
      message: { role: 'assistant', content: '' },
    });
    expect(final).toMatchObject({ prompt_eval_count: 3, eval_count: TOKENS.length });
    for (const key of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) {
      expect(Number.isInteger(final[key])).toBe(true);
    }
    expect(server.stats.calls['/api/chat']).toBe(1);
    expect(server.stats.requests[0]).toMatchObject({ outcome: 'completed', aborted: false, text: REPLY });
  });

  it('answers stream:false with one object, caps with num_predict, and serves the GET endpoints', async () => {
    const server = await start({ models: ['glm4', 'qwen2.5:7b'] });
    const whole = (await (await ollamaChat(server, { stream: false })).json()) as Record<string, unknown>;
    expect(whole).toMatchObject({ done: true, message: { content: REPLY }, eval_count: TOKENS.length });
    const capped = ndjson(await (await ollamaChat(server, { options: { num_predict: 2 } })).text());
    expect(contentOf(capped).join('')).toBe(TOKENS.slice(0, 2).join(''));
    expect(capped.at(-1)).toMatchObject({ done_reason: 'length', eval_count: 2 });
    expect(await (await fetch(server.url + '/')).text()).toBe('Ollama is running');
    expect(await (await fetch(server.url + '/api/version')).json()).toHaveProperty('version');
    const tags = (await (await fetch(server.url + '/api/tags')).json()) as {
      models: Array<{ name: string }>;
    };
    expect(tags.models.map((m) => m.name)).toEqual(['glm4:latest', 'qwen2.5:7b']);
  });

  it('continues an assistant prefill with the rest of the reply, unless told to refuse it', async () => {
    const server = await start();
    const prefill = TOKENS.slice(0, 4).join('');
    const messages = [...USER, { role: 'assistant', content: prefill }];
    const lines = ndjson(await (await ollamaChat(server, { messages })).text());
    expect(prefill + contentOf(lines).join('')).toBe(REPLY);

    server.set({ fault: { type: 'refusePrefill' } });
    const refused = await ollamaChat(server, { messages });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toContain('prefill');
    expect((await ollamaChat(server)).status).toBe(200); // no prefill, served
  });

  it('sends an error line mid-stream with status 200', async () => {
    const server = await start({ faults: [{ type: 'errorLine', afterTokens: 2, message: 'boom' }] });
    const res = await ollamaChat(server);
    expect(res.status).toBe(200);
    const lines = ndjson(await res.text());
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual({ error: 'boom' });
  });
});

describe('the fake model server, OpenAI door', () => {
  it('streams SSE chunks: role first, the tokens, finish_reason, usage with empty choices, [DONE]', async () => {
    const server = await start();
    const res = await openaiChat(server, { stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = sseData(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Array<Chunk & Record<string, unknown>>;
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1, -2).map((c) => c.choices[0]!.delta.content)).toEqual(TOKENS);
    expect(chunks.at(-2)!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(chunks.at(-1)).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: TOKENS.length, total_tokens: 3 + TOKENS.length },
    });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('answers without stream as one completion, honours max_tokens, and lists models', async () => {
    const server = await start();
    const res = await openaiChat(server, { stream: false, max_completion_tokens: 3 });
    expect(await res.json()).toMatchObject({
      object: 'chat.completion',
      choices: [
        { message: { role: 'assistant', content: TOKENS.slice(0, 3).join('') }, finish_reason: 'length' },
      ],
      usage: { completion_tokens: 3 },
    });
    const models = (await (await fetch(server.url + '/v1/models')).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['glm4']);
  });

  it('acts out 400 context-length and content-filter errors, and a filtered finish', async () => {
    const server = await start({
      contextLength: 2,
      faults: [
        null,
        { type: 'contentFilter', reason: 'violence: high' },
        { type: 'contentFilter', afterTokens: 1 },
      ],
    });
    const tooLong = await openaiChat(server);
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ error: { code: 'context_length_exceeded' } });
    server.set({ contextLength: Infinity });
    const blocked = await openaiChat(server);
    expect(blocked.status).toBe(400);
    const error = ((await blocked.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('content_filter');
    expect(error.message).toContain('violence: high');
    const events = sseData(await (await openaiChat(server)).text());
    expect(events.at(-1)).toBe('[DONE]');
    expect((events.at(-2) as Chunk).choices[0]!.finish_reason).toBe('content_filter');
  });

  it('skips nothing itself: a malformed line is extra, a missing terminator drops only [DONE]', async () => {
    const server = await start({ faults: [{ type: 'malformedLine' }, { type: 'missingTerminator' }] });
    const raw = await (await openaiChat(server)).text();
    const bad = raw.split('\n\n').filter((e) => e && !e.startsWith('data: [DONE]'));
    const unparsable = bad.filter((e) => {
      try {
        JSON.parse(e.slice(6));
        return false;
      } catch {
        return true;
      }
    });
    expect(unparsable).toHaveLength(1);
    const unterminated = await (await openaiChat(server, { stream_options: { include_usage: true } })).text();
    expect(unterminated).not.toContain('[DONE]');
    expect(sseData(unterminated).at(-1)).toMatchObject({
      choices: [],
      usage: { completion_tokens: TOKENS.length },
    });
  });
});

describe('the fake model server, slots and failures', () => {
  it('queues past its parallel slots, answers 503 past maxQueue, and a client abort frees the slot at once', async () => {
    const server = await start({ parallel: 1, maxQueue: 1, faults: [{ type: 'stallAfter', tokens: 2 }] });
    const first = new AbortController();
    const stalled = await ollamaChat(server, {}, { signal: first.signal });
    await server.waitFor((s) => s.requests[0]?.outcome === 'stalled');
    const queued = ollamaChat(server);
    await server.waitFor((s) => s.queued === 1);
    const busy = await ollamaChat(server);
    expect(busy.status).toBe(503);
    expect(await busy.json()).toEqual({
      error: 'server busy, please try again.  maximum pending requests exceeded',
    });
    expect(server.stats).toMatchObject({ inFlight: 1, queued: 1, busyRejections: 1 });

    first.abort();
    await expect(stalled.text()).rejects.toThrow();
    const second = await queued;
    expect(contentOf(ndjson(await second.text())).join('')).toBe(REPLY);
    await server.waitFor((s) => s.open === 0);
    expect(server.stats.requests[0]).toMatchObject({ aborted: true, tokens: 2, outcome: 'stalled' });
    expect(server.stats).toMatchObject({ inFlight: 0, queued: 0, maxInFlight: 1, maxQueued: 1 });
  });

  it('stops generating when the client leaves mid-stream', async () => {
    const server = await start({ interTokenMs: 20 });
    const controller = new AbortController();
    const res = await ollamaChat(server, {}, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await server.waitFor((s) => s.inFlight === 0 && s.open === 0);
    const record = server.stats.requests[0]!;
    expect(record).toMatchObject({ aborted: true, outcome: 'aborted' });
    expect(record.tokens).toBeLessThan(TOKENS.length);
  });

  it('answers 429 with and without Retry-After, and 500 once when standing', async () => {
    const server = await start({
      faults: [{ type: 'status429', retryAfterSeconds: 2 }, { type: 'status429' }],
      fault: { type: 'status500Once' },
    });
    const limited = await openaiChat(server);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    const bare = await openaiChat(server);
    expect(bare.status).toBe(429);
    expect(bare.headers.get('retry-after')).toBeNull();
    expect((await openaiChat(server)).status).toBe(500);
    expect((await openaiChat(server)).status).toBe(200);
  });

  it('cuts the connection after n tokens, and resets one before any header', async () => {
    const server = await start({ faults: [{ type: 'cutAfter', tokens: 3 }, { type: 'resetBeforeHeaders' }] });
    const res = await ollamaChat(server);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += decoder.decode(value, { stream: true });
        }
      })(),
    ).rejects.toThrow();
    expect(contentOf(ndjson(text))).toEqual(TOKENS.slice(0, 3));
    await expect(ollamaChat(server)).rejects.toThrow();
    await server.waitFor((s) => s.open === 0);
    expect(server.stats.requests.map((r) => [r.outcome, r.aborted])).toEqual([
      ['cut', false],
      ['reset', false],
    ]);
  });

  it('waits ttftMs before the first token, and a slow-first-token fault longer', async () => {
    const server = await start({ ttftMs: 20, faults: [null, { type: 'slowFirstToken', ms: 60 }] });
    for (const least of [20, 60]) {
      const started = performance.now();
      const res = await ollamaChat(server);
      await res.body!.getReader().read();
      expect(performance.now() - started).toBeGreaterThanOrEqual(least - 2);
      await server.waitFor((s) => s.open === 0);
    }
  });

  it('is down for a while (connections refused) and then serves again on the same URL', async () => {
    const server = await start({ faults: [{ type: 'downFor', ms: 50 }] });
    await expect(ollamaChat(server)).rejects.toThrow(); // the request that brought it down is reset
    expect(server.stats.up).toBe(false);
    await expect(fetch(server.url + '/api/version')).rejects.toThrow();
    await server.waitFor((s) => s.up);
    expect((await ollamaChat(server)).status).toBe(200);
    expect(server.stats.requests.map((r) => r.outcome)).toEqual(['reset', 'completed']);
  });

  it('wants the API key on the OpenAI door, and can refuse unknown models', async () => {
    const server = await start({ apiKey: 'sk-test', rejectUnknownModels: true });
    expect((await openaiChat(server)).status).toBe(401);
    const auth = { headers: { authorization: 'Bearer sk-test' } };
    expect((await openaiChat(server, {}, auth)).status).toBe(200);
    const missing = await ollamaChat(server, { model: 'llama3' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'model "llama3" not found, try pulling it first' });
  });
});

describe('idle connections', () => {
  it("keeps them for keepAliveTimeoutMs, Node's 5 s without it, and says so in Keep-Alive", async () => {
    const keptLong = await start({ keepAliveTimeoutMs: 120_000 });
    const long = await ollamaChat(keptLong, { stream: false });
    await long.arrayBuffer();
    expect(long.headers.get('keep-alive')).toBe('timeout=120');
    await keptLong.close();
    const byDefault = await start();
    const short = await ollamaChat(byDefault, { stream: false });
    await short.arrayBuffer();
    expect(short.headers.get('keep-alive')).toBe('timeout=5');
  });
});
