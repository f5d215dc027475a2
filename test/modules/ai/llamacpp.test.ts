import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama, LlamaLogLevel, readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { LlamaCppProvider } from '../../../src/modules/ai/providers/llamacpp.js';
import { LlamaAnswer } from '../../../src/modules/ai/providers/llamacpp-answer.js';
import {
  type GenerateParams,
  ProviderError,
  type ProviderEvent,
  type ProviderRequest,
} from '../../../src/modules/ai/providers/types.js';
import { TINY_SYSTEM_PROMPT, TINY_WORDS, tinyGguf, writeTinyGguf } from '../../fakes/tiny-gguf.js';

// Real inference: llama.cpp runs the tiny counting model that test/fakes/tiny-gguf.ts writes.
// One binding for the file (getLlama tests its binary in a child process, ~2 s) and one
// provider with two sequences, each decoding on one thread.

const GREEDY: GenerateParams = { temperature: 0 };

let llama: Llama;
let modelPath: string;
let provider: LlamaCppProvider;
let batches: { sequences: number; tokens: number }[] = [];

function request(content: string, params: GenerateParams = GREEDY, extra: Partial<ProviderRequest> = {}) {
  return {
    model: 'tiny',
    messages: [
      { role: 'system', content: TINY_SYSTEM_PROMPT },
      { role: 'user', content },
    ],
    params,
    signal: new AbortController().signal,
    ...extra,
  } satisfies ProviderRequest;
}

async function collect(stream: AsyncIterable<ProviderEvent>) {
  const tokens: string[] = [];
  for await (const event of stream) {
    if (event.type === 'token') tokens.push(event.text);
    else return { tokens, text: tokens.join(''), done: event };
  }
  throw new Error('The stream ended without a done event');
}

beforeAll(async () => {
  modelPath = await writeTinyGguf(join(inject('testDataFolder'), `tiny-${process.pid}.gguf`));
  llama = await getLlama({
    gpu: false,
    build: 'never',
    maxThreads: os.availableParallelism(),
    logLevel: LlamaLogLevel.error,
  });
  provider = new LlamaCppProvider({
    modelPath,
    concurrency: 2,
    threads: 1,
    llama,
    chatWrapper: 'jinja',
    onBatch: (batch) => batches.push(batch),
  });
});

afterAll(async () => {
  await provider?.close();
  await llama?.dispose();
});

beforeEach(() => {
  batches = [];
});

describe('the tiny GGUF', () => {
  it('is a GGUF v3 llama model of ~0.5 MB with the promised shape and vocabulary', async () => {
    const bytes = tinyGguf();
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('GGUF');
    expect(bytes.readUInt32LE(4)).toBe(3);
    expect(bytes.length).toBeGreaterThan(400_000);
    expect(bytes.length).toBeLessThan(700_000);

    const info = await readGgufFileInfo(modelPath);
    const llm = info.architectureMetadata as Record<string, unknown>;
    expect(info.metadata.general.architecture).toBe('llama');
    expect(llm).toMatchObject({
      context_length: 256,
      embedding_length: 64,
      block_count: 2,
      feed_forward_length: 128,
    });
    expect(info.tensorInfo?.map((tensor) => tensor.name)).toContain('blk.1.ffn_down.weight');
    expect(info.tensorInfo).toHaveLength(3 + 2 * 9);
    const tokens = info.metadata.tokenizer.ggml.tokens;
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens).toEqual(expect.arrayContaining(['▁', '▁t', '▁th', '▁thr', '▁thre', '▁three', 'x']));
  });

  it('is the same bytes every time (its noise is seeded)', () => {
    expect(tinyGguf().equals(tinyGguf())).toBe(true);
  });

  it('loads in well under a second', async () => {
    const started = performance.now();
    const model = await llama.loadModel({ modelPath });
    const elapsed = performance.now() - started;
    await model.dispose();
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('LlamaAnswer', () => {
  it('streams a character split over byte tokens only when its last byte has come', async () => {
    const model = await llama.loadModel({ modelPath });
    const bytes = model.tokenize('你', false, 'trimLeadingSpace');
    // Not in the vocabulary: byte fallback, three tokens, each alone half a character.
    expect(bytes.map((token) => model.detokenize([token]))).toEqual(['\uFFFD', '\uFFFD', '\uFFFD']);
    const context = await model.createContext({ contextSize: 256, threads: 1 });
    const answer = new LlamaAnswer(model, context.getSequence(), request('x'), [], 10, new Set(), []);
    answer.accept(bytes[0]);
    answer.accept(bytes[1]);
    expect(answer.events).toEqual([]);
    answer.accept(bytes[2]);
    expect(answer.events).toEqual([{ type: 'token', text: '你' }]);
    await context.dispose();
    await model.dispose();
  });
});

describe('LlamaCppProvider', () => {
  it('streams a greedy answer word by word: after "one two" it counts on to ten, then stops', async () => {
    const { tokens, done } = await collect(provider.stream(request('Count: one two')));
    expect(tokens).toEqual([' three', ' four', ' five', ' six', ' seven', ' eight', ' nine', ' ten']);
    // <s>, "Count." (C o u n t .), "\n" (▁ <0x0A>), "Count: one two" (C o u n t : ▁one ▁two).
    expect(done).toEqual({
      type: 'done',
      model: 'tiny',
      usage: { promptTokens: 17, completionTokens: 8 },
      finishReason: 'stop',
    });
  });

  it('starts at one after anything that is not a number word, in any script', async () => {
    const { text } = await collect(provider.stream(request('数一数')));
    expect(text).toBe(TINY_WORDS.map((word) => ` ${word}`).join(''));
  });

  it('stops at maxTokens with finishReason length', async () => {
    const { text, done } = await collect(
      provider.stream(request('Count: one', { temperature: 0, maxTokens: 3 })),
    );
    expect(text).toBe(' two three four');
    expect(done).toMatchObject({ finishReason: 'length', usage: { completionTokens: 3 } });
  });

  it('stops before a stop string, which never reaches the caller', async () => {
    const { text, done } = await collect(
      provider.stream(request('Count: one', { temperature: 0, stop: [' fi'] })),
    );
    expect(text).toBe(' two three four');
    expect(done).toMatchObject({ finishReason: 'stop' });
  });

  it('holds back text that may begin a stop string, and lets it go when the stop does not follow', async () => {
    const cut = await collect(
      provider.stream(request('Count: one', { temperature: 0, stop: ['three four'] })),
    );
    expect(cut.text).toBe(' two ');
    const kept = await collect(
      provider.stream(request('Count: one', { temperature: 0, stop: ['four fix'] })),
    );
    // "four" was held (it could begin "four fix") and went out with " five".
    expect(kept.tokens).toEqual([
      ' two',
      ' three',
      ' ',
      'four five',
      ' six',
      ' seven',
      ' eight',
      ' nine',
      ' ten',
    ]);
  });

  it('decodes concurrent requests together: one batch per step holds both sequences', async () => {
    const [a, b] = await Promise.all([
      collect(provider.stream(request('Count: one two'))),
      collect(provider.stream(request('Count: four'))),
    ]);
    expect(a.text).toBe(' three four five six seven eight nine ten');
    expect(b.text).toBe(' five six seven eight nine ten');
    // A decode samples the next token (the last one is </s>): 9 for the first answer, 7 for
    // the second. Together: one decode for both prompts, then one a step, shared while both
    // last: 9 in all. Taking turns, one sequence per decode, would take 9 + 7.
    expect(batches.map((batch) => batch.sequences)).toEqual([2, 2, 2, 2, 2, 2, 2, 1, 1]);
    expect(batches.slice(1).map((batch) => batch.tokens)).toEqual([2, 2, 2, 2, 2, 2, 1, 1]);
  });

  it('makes a third request wait for a free sequence, and answers all three exactly', async () => {
    const results = await Promise.all(
      ['Count: one', 'Count: five', 'Count: eight'].map((prompt) =>
        collect(provider.stream(request(prompt))),
      ),
    );
    expect(results.map((result) => result.text)).toEqual([
      ' two three four five six seven eight nine ten',
      ' six seven eight nine ten',
      ' nine ten',
    ]);
    expect(Math.max(...batches.map((batch) => batch.sequences))).toBe(2);
  });

  it('gives up waiting for a sequence when its signal aborts, and takes none', async () => {
    const waiting = new AbortController();
    const results = Promise.all([
      collect(provider.stream(request('Count: one'))),
      collect(provider.stream(request('Count: two'))),
      collect(provider.stream(request('Count: three', GREEDY, { signal: waiting.signal }))),
    ]);
    setImmediate(() => waiting.abort());
    const [a, b, c] = await results;
    expect([a.text, b.text]).toEqual([
      ' two three four five six seven eight nine ten',
      ' three four five six seven eight nine ten',
    ]);
    expect(c.tokens).toEqual([]);
    expect(c.done).toMatchObject({ finishReason: 'cancelled' });
    batches = [];
    await Promise.all([
      collect(provider.stream(request('Count: nine'))),
      collect(provider.stream(request('Count: nine'))),
    ]);
    expect(batches[0]?.sequences).toBe(2);
  });

  it('reuses what a sequence already holds of the prompt, evaluating only the rest', async () => {
    await collect(provider.stream(request('Count: one two')));
    batches = [];
    const { text } = await collect(provider.stream(request('Count: five')));
    expect(text).toBe(' six seven eight nine ten');
    // "<s>Count.\n Count:" is kept from the last answer on this sequence; only "▁five" is new.
    expect(batches[0]).toEqual({ sequences: 1, tokens: 1 });
  });

  it('stops at once when the signal aborts mid-answer, and frees the sequence for the next request', async () => {
    const controller = new AbortController();
    const events: ProviderEvent[] = [];
    for await (const event of provider.stream(request('Count: one', GREEDY, { signal: controller.signal }))) {
      events.push(event);
      if (events.length === 2) controller.abort();
    }
    expect(events).toEqual([
      { type: 'token', text: ' two' },
      { type: 'token', text: ' three' },
      {
        type: 'done',
        model: 'tiny',
        usage: { promptTokens: 16, completionTokens: 2 },
        finishReason: 'cancelled',
      },
    ]);
    // Its sequence is back in the pool (after the decode in flight, if any): two requests
    // get both sequences and decode together. Were it lost, the second would wait forever.
    batches = [];
    const [a, b] = await Promise.all([
      collect(provider.stream(request('Count: seven'))),
      collect(provider.stream(request('Count: seven'))),
    ]);
    expect([a.text, b.text]).toEqual([' eight nine ten', ' eight nine ten']);
    expect(batches.some((batch) => batch.sequences === 2)).toBe(true);
  });

  it('frees the sequence when the caller stops reading', async () => {
    for await (const event of provider.stream(request('Count: one'))) {
      expect(event).toEqual({ type: 'token', text: ' two' });
      break;
    }
    const [a, b] = await Promise.all([
      collect(provider.stream(request('Count: six'))),
      collect(provider.stream(request('Count: six'))),
    ]);
    expect([a.text, b.text]).toEqual([' seven eight nine ten', ' seven eight nine ten']);
  });

  it('answers an already aborted request with cancelled and no tokens', async () => {
    const signal = AbortSignal.abort();
    const { tokens, done } = await collect(provider.stream(request('Count: one', GREEDY, { signal })));
    expect(tokens).toEqual([]);
    expect(done).toMatchObject({ finishReason: 'cancelled', usage: { completionTokens: 0 } });
  });

  it('continues a prefill instead of starting over: prefill + continuation = the whole answer', async () => {
    const whole = await collect(provider.stream(request('Count: one two')));
    const continued = await collect(
      provider.stream(request('Count: one two', GREEDY, { prefill: ' three four' })),
    );
    expect(continued.text).toBe(' five six seven eight nine ten');
    expect(' three four' + continued.text).toBe(whole.text);
    expect(continued.done).toMatchObject({ usage: { promptTokens: 17 + 2, completionTokens: 6 } });
  });

  it('samples with temperature, repeatably for one seed', async () => {
    const sample = async (seed: number) =>
      (await collect(provider.stream(request('Count: one', { temperature: 1, seed, maxTokens: 8 })))).text;
    expect(await sample(11)).toBe(await sample(11));
    const texts = new Set(await Promise.all([1, 2, 3, 4, 5, 6].map(sample)));
    expect(texts.size).toBeGreaterThan(1);
  });

  it('refuses a prompt longer than the context with a context_length error', async () => {
    const long = request(`Count:${' one'.repeat(300)}`);
    const error = await collect(provider.stream(long)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'context_length', status: 400 });
    expect((error as Error).message).toMatch(/^The prompt is \d+ tokens; this model's context holds 256$/);
  });

  it('reports a loaded model in status()', async () => {
    expect(await provider.status()).toEqual({
      ok: true,
      message: `inkstone-tiny-counter loaded from ${modelPath} (0.5 MB; 2 sequences × 256 tokens)`,
      models: ['inkstone-tiny-counter'],
    });
  });

  it('cancels what is in flight on close(), and refuses what comes after', async () => {
    const closing = new LlamaCppProvider({
      modelPath,
      concurrency: 1,
      threads: 1,
      llama,
      chatWrapper: 'jinja',
    });
    const events: ProviderEvent[] = [];
    let closed: Promise<void> | undefined;
    for await (const event of closing.stream(request('Count: one'))) {
      events.push(event);
      closed ??= closing.close();
    }
    await closed;
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'cancelled' });
    const error = await collect(closing.stream(request('Count: one'))).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'connect', message: 'The llama.cpp provider is closed' });
  });

  it('says what is missing when there is no model file, in status() and as a connect error', async () => {
    const path = join(inject('testDataFolder'), 'missing.gguf');
    const missing = new LlamaCppProvider({ modelPath: path, llama });
    const message = `No model file at ${path}: set AI_MODEL_PATH or run \`npx inkstone model pull <url>\``;
    expect(await missing.status()).toEqual({ ok: false, message });
    const error = await collect(missing.stream(request('one'))).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ProviderError', kind: 'connect', message });
    await missing.close();
  });

  it('says why a file that is not a model does not load', async () => {
    const path = join(inject('testDataFolder'), `not-a-model-${process.pid}.gguf`);
    await writeFile(path, 'this is not a GGUF file');
    const broken = new LlamaCppProvider({ modelPath: path, llama });
    const status = await broken.status();
    expect(status.ok).toBe(false);
    expect(status.message).toMatch(new RegExp(`^Cannot load the model at ${path}: .+`));
    await broken.close();
  });
});
