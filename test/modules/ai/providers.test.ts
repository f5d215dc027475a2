import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../../src/modules/ai/providers/http.js';
import { OllamaProvider } from '../../../src/modules/ai/providers/ollama.js';
import { OpenAiProvider } from '../../../src/modules/ai/providers/openai.js';
import {
  type ChatMessage,
  type Provider,
  type ProviderEvent,
  ProviderError,
  type ProviderRequest,
} from '../../../src/modules/ai/providers/types.js';
import {
  countPromptTokens,
  defaultReply,
  type Fault,
  type FakeModelServer,
  startFakeModelServer,
  tokenize,
} from '../../fakes/model-server.js';

const KEY = 'sk-inkstone-test-9f8e7d6c5b4a';
type Done = Extract<ProviderEvent, { type: 'done' }>;

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You write blog posts.' },
  { role: 'user', content: 'Write about green tea' },
];
const REPLY = tokenize(defaultReply(MESSAGES, 'glm4'));
const PROMPT_TOKENS = countPromptTokens(MESSAGES);

function request(overrides: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    model: 'glm4',
    messages: MESSAGES,
    params: {},
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function run(provider: Provider, req: ProviderRequest) {
  const events: ProviderEvent['type'][] = [];
  const tokens: string[] = [];
  let done: Done | undefined;
  let error: unknown;
  try {
    for await (const event of provider.stream(req)) {
      events.push(event.type);
      if (event.type === 'token') tokens.push(event.text);
      else if (event.type === 'done') done = event;
    }
  } catch (caught) {
    error = caught;
  }
  return { events, tokens, done, error };
}

function providerError(error: unknown): ProviderError {
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

/** Everything a log line or a response could show of an error, causes included. */
function everyText(error: unknown): string {
  return [
    String(error),
    (error as Error).stack ?? '',
    inspect(error, { depth: 10 }),
    JSON.stringify(error),
  ].join('\n');
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A one-off server for what the fake does not do: odd headers, a key echoed in an error. */
async function answering(status: number, headers: Record<string, string>, body: string): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

let fake: FakeModelServer;
beforeAll(async () => {
  fake = await startFakeModelServer({ apiKey: KEY });
});
afterAll(() => fake.close());
beforeEach(async () => {
  await fake.waitFor((s) => s.open === 0);
  fake.set({
    faults: [],
    fault: undefined,
    ttftMs: 0,
    tokensPerSecond: Infinity,
    interTokenMs: undefined,
    rejectUnknownModels: false,
    apiKey: KEY,
    models: ['glm4'],
  });
  fake.resetStats();
});

const doors = [
  {
    name: 'ollama',
    make: (baseUrl = fake.url) => new OllamaProvider({ baseUrl, keepAlive: '10m' }),
    // Ollama's "content filter" is an error text, whatever the status or line carries it.
    busyText: /busy/,
  },
  {
    name: 'openai',
    make: (baseUrl = `${fake.url}/v1`) => new OpenAiProvider({ baseUrl, apiKey: KEY }),
    busyText: /overloaded/,
  },
] as const;

describe.each(doors)('$name adapter against the fake model server', (door) => {
  it('streams the exact tokens and ends with the usage and model the server reported', async () => {
    const { events, tokens, done, error } = await run(door.make(), request());
    expect(error).toBeUndefined();
    // 'open' once the headers are in (it ends the pipeline's connect timeout), then tokens, then done.
    expect(events).toEqual(['open', ...REPLY.map(() => 'token'), 'done']);
    expect(tokens).toEqual(REPLY);
    expect(done).toMatchObject({
      type: 'done',
      model: 'glm4',
      usage: { promptTokens: PROMPT_TOKENS, completionTokens: REPLY.length },
      finishReason: 'stop',
      malformed: 0,
    });
    expect(done?.missingTerminator).toBeUndefined();
    expect(fake.stats.requests[0]!.outcome).toBe('completed');
  });

  it('keeps a Chinese answer whole, one character per token', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: '春天的绿茶' }];
    const { tokens, done } = await run(door.make(), request({ messages }));
    expect(tokens).toEqual(tokenize(defaultReply(messages, 'glm4')));
    expect(tokens.join('')).toContain('回声：春天的绿茶。');
    expect(done?.usage.completionTokens).toBe(tokens.length);
  });

  it('stops at maxTokens with finish reason length', async () => {
    const { tokens, done } = await run(door.make(), request({ params: { maxTokens: 4 } }));
    expect(tokens).toEqual(REPLY.slice(0, 4));
    expect(done).toMatchObject({ finishReason: 'length', usage: { completionTokens: 4 } });
  });

  it('continues a prefill instead of repeating it', async () => {
    const prefill = REPLY.slice(0, 5).join('');
    const { tokens, done } = await run(door.make(), request({ prefill }));
    expect(prefill + tokens.join('')).toBe(REPLY.join(''));
    expect(tokens).toEqual(REPLY.slice(5));
    expect(done?.finishReason).toBe('stop');
    const sent = fake.stats.requests[0]!.body as { messages: ChatMessage[] };
    expect(sent.messages.at(-1)).toEqual({ role: 'assistant', content: prefill });
  });

  it('classifies a server that refuses a prefill as a bad request', async () => {
    fake.set({ faults: [{ type: 'refusePrefill' }] });
    const { events, error } = await run(door.make(), request({ prefill: 'Echo:' }));
    expect(events).toEqual([]);
    expect(providerError(error)).toMatchObject({ kind: 'bad_request', status: 400, retryable: false });
    expect((error as Error).message).toMatch(/prefill/);
  });

  it('stops reading at once on abort, and the server sees the client go away', async () => {
    fake.set({ interTokenMs: 25 });
    const controller = new AbortController();
    const reason = new Error('client went away');
    const tokens: string[] = [];
    const reading = (async () => {
      for await (const event of door.make().stream(request({ signal: controller.signal }))) {
        if (event.type !== 'token') continue;
        tokens.push(event.text);
        if (tokens.length === 2) controller.abort(reason);
      }
    })();
    const started = performance.now();
    await expect(reading).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    await fake.waitFor((s) => s.requests[0]?.aborted === true && s.inFlight === 0);
    expect(tokens).toHaveLength(2);
    expect(fake.stats.requests[0]!.outcome).toBe('aborted');
    expect(fake.stats.requests[0]!.tokens).toBeLessThan(REPLY.length);
  });

  it('passes no token on after an abort, even one already read in the same chunk', async () => {
    // Every token at once: several lines arrive in one chunk.
    fake.set({ tokensPerSecond: Infinity });
    const controller = new AbortController();
    const reason = new Error('client went away');
    const tokens: string[] = [];
    await expect(
      (async () => {
        for await (const event of door.make().stream(request({ signal: controller.signal }))) {
          if (event.type !== 'token') continue;
          tokens.push(event.text);
          controller.abort(reason);
        }
      })(),
    ).rejects.toBe(reason);
    expect(tokens).toHaveLength(1);
  });

  it('hands each token to onToken as it is read, and then yields only open and done', async () => {
    const handed: string[] = [];
    const { events, tokens, done, error } = await run(
      door.make(),
      request({ onToken: (text) => handed.push(text) }),
    );
    expect(error).toBeUndefined();
    expect(events).toEqual(['open', 'done']);
    expect(tokens).toEqual([]);
    expect(handed).toEqual(REPLY);
    expect(done?.usage.completionTokens).toBe(REPLY.length);
  });

  it('hands no token to onToken after an abort, even one already read in the same chunk', async () => {
    fake.set({ tokensPerSecond: Infinity });
    const controller = new AbortController();
    const reason = new Error('client went away');
    const handed: string[] = [];
    const onToken = (text: string) => {
      handed.push(text);
      controller.abort(reason);
    };
    const { error } = await run(door.make(), request({ signal: controller.signal, onToken }));
    expect(error).toBe(reason);
    expect(handed).toHaveLength(1);
  });

  it('keeps the connection of a whole answer for the next requests', async () => {
    const provider = door.make();
    for (let i = 0; i < 6; i++) expect((await run(provider, request())).events.at(-1)).toBe('done');
    const ports = fake.stats.requests.map((r) => r.clientPort);
    expect(ports).toHaveLength(6);
    // The next request may leave before the last one's terminator has come (a second
    // connection), but none is closed for good and opened again for each answer.
    expect(new Set(ports).size, ports.join(' ')).toBeLessThanOrEqual(2);
  });

  it.each(['open', 'token'] as const)(
    'cancels the body when the consumer stops at the first %s event, freeing the server slot',
    async (stopAt) => {
      fake.set({ interTokenMs: 25 });
      for await (const event of door.make().stream(request())) {
        if (event.type === stopAt) break;
      }
      await fake.waitFor((s) => s.requests[0]?.aborted === true && s.inFlight === 0);
    },
  );

  it('ends a request the server never answers as soon as the signal aborts (the adapter sets no timeout)', async () => {
    fake.set({ faults: [{ type: 'noResponse' }] });
    const controller = new AbortController();
    const reading = run(door.make(), request({ signal: controller.signal }));
    // The fake announces the request once its faults are picked; it is hung from then on.
    await fake.waitFor((s) => s.requests[0]?.faults.length === 1);
    controller.abort(new Error('first-token timeout'));
    const { events, error } = await reading;
    expect(events).toEqual([]); // no headers, so no 'open'
    expect((error as Error).message).toBe('first-token timeout');
    await fake.waitFor((s) => s.requests[0]?.aborted === true);
  });

  const faults: [string, Fault, Partial<ProviderError> & { tokens?: number; text?: RegExp }][] = [
    [
      '429 with Retry-After',
      { type: 'status429', retryAfterSeconds: 2 },
      { kind: 'http', status: 429, retryAfterMs: 2000, retryable: true },
    ],
    [
      '429 without Retry-After',
      { type: 'status429' },
      { kind: 'http', status: 429, retryAfterMs: undefined },
    ],
    ['500 once', { type: 'status500Once' }, { kind: 'http', status: 500, retryable: true }],
    [
      '503 server busy',
      { type: 'status503', retryAfterSeconds: 1 },
      { kind: 'http', status: 503, retryAfterMs: 1000, retryable: true, text: door.busyText },
    ],
    ['reset before headers', { type: 'resetBeforeHeaders' }, { kind: 'connect', retryable: true }],
    [
      'context length 400',
      { type: 'contextLength' },
      { kind: 'context_length', status: 400, retryable: false, text: /context length/ },
    ],
    [
      'content filter 400',
      { type: 'contentFilter', reason: 'violence: high' },
      { kind: 'content_filter', status: 400, retryable: false, text: /violence: high/ },
    ],
    [
      'content filter after tokens',
      { type: 'contentFilter', afterTokens: 3 },
      { kind: 'content_filter', retryable: false, tokens: 3 },
    ],
    [
      'cut mid-answer',
      { type: 'cutAfter', tokens: 3 },
      { kind: 'stream', retryable: true, tokens: 3, text: /cut after 3 tokens/ },
    ],
    [
      'error line mid-stream with status 200',
      { type: 'errorLine', afterTokens: 2, message: 'llama runner crashed' },
      { kind: 'stream', status: undefined, retryable: true, tokens: 2, text: /llama runner crashed/ },
    ],
  ];
  it.each(faults)('classifies %s', async (_name, fault, expected) => {
    fake.set({ faults: [fault] });
    const { tokens, done, error } = await run(door.make(), request());
    expect(done).toBeUndefined();
    const { tokens: sent = 0, text, ...kind } = expected;
    expect(tokens).toEqual(REPLY.slice(0, sent));
    expect(providerError(error)).toMatchObject(kind);
    if (text) expect((error as Error).message).toMatch(text);
    expect(everyText(error)).not.toContain(KEY);
  });

  it('names the missing model and how to get it', async () => {
    fake.set({ rejectUnknownModels: true });
    const { error } = await run(door.make(), request({ model: 'qwen3:8b' }));
    expect(providerError(error)).toMatchObject({ kind: 'bad_request', status: 404, retryable: false });
    expect((error as Error).message).toMatch(door.name === 'ollama' ? /ollama pull qwen3:8b/ : /qwen3:8b/);
  });

  it('skips a malformed line, counts it, and still delivers the whole answer', async () => {
    fake.set({ faults: [{ type: 'malformedLine', afterTokens: 2 }] });
    const { tokens, done, error } = await run(door.make(), request());
    expect(error).toBeUndefined();
    expect(tokens).toEqual(REPLY);
    expect(done).toMatchObject({ malformed: 1, finishReason: 'stop' });
  });

  it('finalises a stream that lacks its terminator at once, with the usage known', async () => {
    fake.set({ faults: [{ type: 'missingTerminator' }] });
    const { tokens, done, error } = await run(door.make(), request());
    expect(error).toBeUndefined();
    expect(tokens).toEqual(REPLY);
    expect(done).toMatchObject({
      type: 'done',
      model: 'glm4',
      finishReason: 'stop',
      missingTerminator: true,
    });
    // OpenAI's usage chunk comes before [DONE]; Ollama's counts are on the missing line, so
    // the tokens received are the count.
    expect(done?.usage).toEqual({
      promptTokens: door.name === 'openai' ? PROMPT_TOKENS : 0,
      completionTokens: REPLY.length,
    });
  });

  it('says what to do when nothing listens at the base URL', async () => {
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    const { error } = await run(door.make(door.name === 'openai' ? `${base}/v1` : base), request());
    expect(providerError(error)).toMatchObject({ kind: 'connect', retryable: true });
    expect((error as Error).message).toBe(
      door.name === 'ollama'
        ? `No model server at ${base} — start Ollama or set AI_PROVIDER`
        : `No model server at ${base}/v1 — start it or set AI_BASE_URL and AI_PROVIDER`,
    );
    expect(everyText(error)).not.toContain(KEY);
  });

  it('reports its status: up with the model names, or down with a sentence', async () => {
    const up = await door.make().status();
    expect(up).toMatchObject({ ok: true, models: [door.name === 'ollama' ? 'glm4:latest' : 'glm4'] });
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    const down = await door.make(door.name === 'openai' ? `${base}/v1` : base).status();
    expect(down.ok).toBe(false);
    expect(down.message).toMatch(`No model server at ${base}`);
  });

  it('gives up on status() after its short timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const provider =
        door.name === 'ollama'
          ? new OllamaProvider({ baseUrl: urlOf(silent), statusTimeoutMs: 100 })
          : new OpenAiProvider({ baseUrl: `${urlOf(silent)}/v1`, statusTimeoutMs: 100 });
      expect(await provider.status()).toEqual({
        ok: false,
        message: expect.stringMatching(/did not answer within 100 ms/),
      });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe('ollama adapter specifics', () => {
  it('maps params to options, with keep_alive and num_ctx, and keeps the server timings', async () => {
    const provider = new OllamaProvider({ baseUrl: fake.url, keepAlive: '10m', contextLength: 8192 });
    const params = { temperature: 0.2, topP: 0.9, maxTokens: 50, seed: 7, stop: ['\n\n\n'] };
    const { done } = await run(provider, request({ params }));
    expect(fake.stats.requests[0]!.body).toMatchObject({
      model: 'glm4',
      stream: true,
      keep_alive: '10m',
      options: { temperature: 0.2, top_p: 0.9, num_predict: 50, seed: 7, stop: ['\n\n\n'], num_ctx: 8192 },
    });
    expect(done?.timings).toEqual({
      loadMs: expect.any(Number),
      promptEvalMs: expect.any(Number),
      evalMs: expect.any(Number),
      totalMs: expect.any(Number),
    });
    await run(provider, request({ params: { contextLength: 2048 } }));
    expect(fake.stats.requests[1]!.body).toMatchObject({ options: { num_ctx: 2048 } });
  });

  it('classifies an error line that names a context length as context_length', async () => {
    fake.set({ faults: [{ type: 'errorLine', message: 'input length exceeds maximum context length' }] });
    const { error } = await run(new OllamaProvider({ baseUrl: fake.url }), request());
    expect(providerError(error).kind).toBe('context_length');
  });

  it('tells a missing /api/chat (not an Ollama server) from a missing model', async () => {
    const { error } = await run(new OllamaProvider({ baseUrl: `${fake.url}/v1` }), request());
    expect(providerError(error)).toMatchObject({ kind: 'bad_request', status: 404 });
    expect((error as Error).message).toMatch(/is the URL an Ollama server/);
  });
});

describe('openai adapter specifics', () => {
  it('sends stream_options, the params and the key in the Authorization header only', async () => {
    const provider = new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY });
    await run(
      provider,
      request({ params: { temperature: 0.3, topP: 0.8, maxTokens: 60, seed: 3, stop: ['END'] } }),
    );
    const sent = fake.stats.requests[0]!;
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      model: 'glm4',
      messages: MESSAGES,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 60,
      temperature: 0.3,
      top_p: 0.8,
      seed: 3,
      stop: ['END'],
    });
  });

  it('adds the configured continuation fields only to a prefill request', async () => {
    const prefillFields = { continue_final_message: true, add_generation_prompt: false };
    const provider = new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY, prefillFields });
    await run(provider, request());
    await run(provider, request({ prefill: 'Echo:' }));
    expect(fake.stats.requests[0]!.body).not.toHaveProperty('continue_final_message');
    expect(fake.stats.requests[1]!.body).toMatchObject(prefillFields);
  });

  it('classifies a rejected key as a bad request without showing the key', async () => {
    fake.set({ apiKey: 'sk-the-right-one' });
    const { error } = await run(new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY }), request());
    expect(providerError(error)).toMatchObject({ kind: 'bad_request', status: 401, retryable: false });
    expect(everyText(error)).not.toContain(KEY);
  });

  it('removes the key from server text that echoes it, in errors, error lines and status()', async () => {
    const echo = await answering(
      401,
      {},
      JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}.`, code: 'invalid_api_key' } }),
    );
    try {
      const provider = new OpenAiProvider({ baseUrl: `${urlOf(echo)}/v1`, apiKey: KEY });
      const { error } = await run(provider, request());
      expect((error as Error).message).toMatch(/Incorrect API key provided: \[redacted\]/);
      expect(everyText(error)).not.toContain(KEY);
      const status = await provider.status();
      expect(status).toMatchObject({ ok: false, message: expect.stringMatching(/answered 401/) });
      expect(status.message).not.toContain(KEY);
    } finally {
      echo.close();
    }
    fake.set({ faults: [{ type: 'errorLine', message: `upstream rejected key ${KEY}` }] });
    const { error } = await run(new OpenAiProvider({ baseUrl: `${fake.url}/v1`, apiKey: KEY }), request());
    expect(providerError(error).kind).toBe('stream');
    expect(everyText(error)).not.toContain(KEY);
  });

  it('reads retry-after-ms, and Retry-After as an HTTP date', async () => {
    const ms = await answering(
      429,
      { 'retry-after-ms': '1500', 'retry-after': '9' },
      '{"error":{"message":"slow"}}',
    );
    const date = new Date(Date.now() + 30_000).toUTCString();
    const dated = await answering(503, { 'retry-after': date }, 'Service Unavailable');
    try {
      const first = await run(new OpenAiProvider({ baseUrl: `${urlOf(ms)}/v1` }), request());
      expect(providerError(first.error)).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 1500 });
      const second = await run(new OpenAiProvider({ baseUrl: `${urlOf(dated)}/v1` }), request());
      expect(providerError(second.error)).toMatchObject({ kind: 'http', status: 503 });
      expect(providerError(second.error).retryAfterMs).toBeGreaterThan(25_000);
      expect(providerError(second.error).retryAfterMs).toBeLessThanOrEqual(30_000);
    } finally {
      ms.close();
      dated.close();
    }
  });

  it('treats silence after tokens with no finish reason and no [DONE] as a cut, not an end', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { tokens, error } = await run(new OpenAiProvider({ baseUrl: `${urlOf(server)}/v1` }), request());
      expect(tokens).toEqual(['Hel']);
      expect(providerError(error)).toMatchObject({ kind: 'stream' });
    } finally {
      server.close();
    }
  });
});

describe('retryAfterMs', () => {
  const at = Date.parse('2025-01-01T00:00:00Z');
  const headers = (h: Record<string, string>) => new Headers(h);
  it('reads seconds, fractions, dates and retry-after-ms, and ignores junk', () => {
    expect(retryAfterMs(headers({ 'retry-after': '3' }), at)).toBe(3000);
    expect(retryAfterMs(headers({ 'retry-after': '0.5' }), at)).toBe(500);
    expect(retryAfterMs(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:10 GMT' }), at)).toBe(10_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), at)).toBe(0);
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '3' }), at)).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }), at)).toBeUndefined();
    expect(retryAfterMs(headers({}), at)).toBeUndefined();
  });
});
