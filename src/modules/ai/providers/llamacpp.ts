import { stat } from 'node:fs/promises';
import os from 'node:os';
import { basename } from 'node:path';
import type {
  ChatHistoryItem,
  ChatWrapper,
  ControlledEvaluateInputItem,
  CustomBatchingPrioritizationStrategy,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
  Token,
} from 'node-llama-cpp';
import type * as NodeLlamaCpp from 'node-llama-cpp';
import { LlamaAnswer } from './llamacpp-answer.js';
import {
  type Provider,
  ProviderError,
  type ProviderEvent,
  type ProviderRequest,
  type ProviderStatus,
} from './types.js';

// node-llama-cpp is pinned to 3.21.1 (3.22 lockfiles break `npm ci` here) and its postinstall
// is denied in package.json `allowScripts`: it only probes GPUs and would download and build
// llama.cpp from source when no binary fits, and we load the prebuilt CPU binary from its
// platform package (`gpu: false, build: 'never'`). It is imported on first use: ~0.5 s that
// a blog without an in-process model should not pay at boot.

export interface LlamaCppOptions {
  /** The GGUF file. */
  modelPath: string;
  /** Sequences in the one context: requests that decode together, one batch a step. */
  concurrency?: number;
  /** Tokens of context per sequence (prompt + answer); default the model's own, at most 4096. */
  contextSize?: number;
  /** CPU threads for a decode; default every core but one. */
  threads?: number;
  /** A llama.cpp binding to share (one per process is plenty); made on first use if absent. */
  llama?: Llama;
  /** Each batch handed to llama.cpp: how many sequences and tokens it decodes at once. */
  onBatch?: (batch: { sequences: number; tokens: number }) => void;
  /**
   * `auto` (default): node-llama-cpp's built-in wrapper equivalent to the GGUF's chat template,
   * found by rendering each candidate (1–2 s at load when none matches). `jinja`: render the
   * GGUF's own `tokenizer.chat_template` as it is.
   */
  chatWrapper?: 'auto' | 'jinja';
  /** llama.cpp's warnings and errors; without it they go to the console. */
  log?: (level: string, message: string) => void;
}

interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  free: LlamaContextSequence[];
}

const missingModel = (path: string) =>
  `No model file at ${path}: set AI_MODEL_PATH or run \`npx inkstone model pull <url>\``;

export class LlamaCppProvider implements Provider {
  readonly kind = 'llamacpp';
  private loading?: Promise<Loaded>;
  private ownLlama?: Llama;
  private lastLlamaError = '';
  private readonly waiters: ((sequence: LlamaContextSequence | undefined) => void)[] = [];
  private readonly active = new Set<LlamaAnswer>();
  private loop?: Promise<void>;
  private running = false;
  private closed = false;

  constructor(private readonly options: LlamaCppOptions) {}

  async status(): Promise<ProviderStatus> {
    try {
      const { model, context } = await this.load();
      const name = model.fileInfo.metadata.general.name ?? basename(this.options.modelPath);
      const size = `${(model.size / 1e6).toFixed(1)} MB`;
      const shape = `${context.totalSequences} sequences × ${context.contextSize} tokens`;
      return {
        ok: true,
        message: `${name} loaded from ${this.options.modelPath} (${size}; ${shape})`,
        models: [name],
      };
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
  }

  async *stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const loaded = await this.load();
    const job = await this.prepare(loaded, request);
    if (!job) {
      yield cancelled(request);
      return;
    }
    const onAbort = () => job.finish('cancelled');
    request.signal.addEventListener('abort', onAbort, { once: true });
    // Either may have happened while prepare() waited for the sequence to be trimmed.
    if (request.signal.aborted || this.closed) job.finish('cancelled');
    this.active.add(job);
    if (!this.running) this.loop = this.run(loaded);
    try {
      for (;;) {
        await job.next();
        const event = job.events.shift();
        if (event) {
          yield event;
          if (event.type === 'done') return;
        } else if (job.error) throw job.error;
      }
    } finally {
      request.signal.removeEventListener('abort', onAbort);
      // The caller stopped reading (or the answer is over): the loop frees the sequence after
      // the step in flight, if any; a decode cannot be stopped halfway.
      job.finish('cancelled');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.active) job.finish('cancelled');
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    await this.loop;
    const loading = this.loading;
    this.loading = undefined;
    const loaded = await loading?.catch(() => undefined);
    await loaded?.context.dispose();
    await loaded?.model.dispose();
    await this.ownLlama?.dispose();
  }

  /** Tokenises the chat, checks it fits, and claims a sequence (waiting for one if need be). */
  private async prepare(loaded: Loaded, request: ProviderRequest): Promise<LlamaAnswer | undefined> {
    const { model, context, chatWrapper } = loaded;
    const history: ChatHistoryItem[] = request.messages.map((message) =>
      message.role === 'assistant'
        ? { type: 'model', response: [message.content] }
        : { type: message.role, text: message.content },
    );
    // A chat wrapper renders the answer's opening (role marker) for a last, model turn; the
    // prefill goes inside it, so the answer continues the text instead of starting over.
    history.push({ type: 'model', response: request.prefill ? [request.prefill] : [] });
    const state = chatWrapper.generateContextState({ chatHistory: history });
    const prompt = state.contextText.tokenize(model.tokenizer);
    const room = context.contextSize - prompt.length;
    if (room < 1) {
      throw new ProviderError(
        'context_length',
        `The prompt is ${prompt.length} tokens; this model's context holds ${context.contextSize}`,
        { status: 400 },
      );
    }
    const stopTokens = new Set<Token>();
    const stopTexts = [...(request.params.stop ?? [])].filter(Boolean);
    for (const trigger of state.stopGenerationTriggers) {
      const tokens = trigger.tokenize(model.tokenizer);
      if (tokens.length === 1) stopTokens.add(tokens[0]!);
      else if (tokens.length > 1) stopTexts.push(model.detokenize(tokens, true));
    }
    const maxTokens = Math.min(request.params.maxTokens ?? Infinity, room);

    const sequence = await this.acquire(loaded, request.signal);
    if (!sequence) return undefined;
    try {
      // Keep what the sequence already holds of this prompt (a shared system prompt, the
      // earlier turns of a conversation); at least one token is evaluated, for its logits.
      const held = sequence.contextTokens;
      let keep = 0;
      while (keep < held.length && keep < prompt.length - 1 && held[keep] === prompt[keep]) keep++;
      if (keep < sequence.nextTokenIndex) {
        await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
      }
      const job = new LlamaAnswer(model, sequence, request, prompt, maxTokens, stopTokens, stopTexts);
      job.input = prompt.slice(keep);
      return job;
    } catch (error) {
      await sequence.clearHistory().catch(() => undefined);
      this.release(loaded, sequence);
      const message = `llama.cpp could not prepare a sequence: ${(error as Error).message}`;
      throw new ProviderError('stream', message, { cause: error });
    }
  }

  /**
   * Advances every active generation by one token per step, all in one `decode`: the calls
   * for a step are queued in the same tick, and node-llama-cpp batches what is queued
   * together. (Left to themselves — one `LlamaChat` per sequence — the sequences drift apart
   * after the prompt and take turns, one sequence per decode; measured, see the tests.)
   */
  private async run(loaded: Loaded): Promise<void> {
    this.running = true;
    try {
      // The emptiness check and `running = false` share one synchronous stretch, so a job
      // added by stream() is either seen here or starts a new loop.
      while (this.active.size > 0) {
        // A macrotask between steps lets the context finish its previous dispatch (so this
        // step's calls are not split across two decodes) and lets new requests join.
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.all([...this.active].map((job) => this.step(loaded, job)));
      }
    } finally {
      this.running = false;
    }
  }

  private async step(loaded: Loaded, job: LlamaAnswer): Promise<void> {
    if (!job.finished) {
      // 0.8 when unset: llama.cpp's and Ollama's default, so an alias behaves alike on either.
      const { temperature = 0.8, topP, seed } = job.request.params;
      const last = job.input.at(-1)!;
      const input: ControlledEvaluateInputItem[] = [
        ...job.input.slice(0, -1),
        [
          last,
          {
            generateNext: {
              token: true,
              // A fresh sampler per step: vary the seed by step or each would draw the same.
              options: {
                temperature,
                topP,
                seed: seed === undefined ? undefined : seed + job.completionTokens,
              },
            },
          },
        ],
      ];
      try {
        const output = await job.sequence.controlledEvaluate(input);
        if (!job.finished) job.accept(output[input.length - 1]?.next.token);
      } catch (error) {
        await job.sequence.clearHistory().catch(() => undefined);
        const message = `llama.cpp failed mid-answer: ${(error as Error).message}`;
        job.fail(new ProviderError('stream', message, { cause: error }));
      }
    }
    if (job.finished) {
      this.active.delete(job);
      this.release(loaded, job.sequence);
    }
  }

  private acquire(loaded: Loaded, signal: AbortSignal): Promise<LlamaContextSequence | undefined> {
    if (signal.aborted || this.closed) return Promise.resolve(undefined);
    const free = loaded.free.pop();
    if (free) return Promise.resolve(free);
    return new Promise((resolve) => {
      const waiter = (sequence: LlamaContextSequence | undefined) => {
        signal.removeEventListener('abort', onAbort);
        resolve(sequence);
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(loaded: Loaded, sequence: LlamaContextSequence): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(sequence);
    else loaded.free.push(sequence);
  }

  private load(): Promise<Loaded> {
    this.loading ??= this.open().catch((error: unknown) => {
      // Not remembered: the file may be pulled or fixed, and the next request tries again.
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  private async open(): Promise<Loaded> {
    const { modelPath, concurrency = 1 } = this.options;
    if (this.closed) throw new ProviderError('connect', 'The llama.cpp provider is closed');
    if (!(await isFile(modelPath))) throw new ProviderError('connect', missingModel(modelPath));
    const lib = await import('node-llama-cpp');
    const llama = this.options.llama ?? (this.ownLlama ??= await this.createLlama(lib));
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath });
    } catch (error) {
      const reason = this.lastLlamaError || (error as Error).message;
      throw new ProviderError('connect', `Cannot load the model at ${modelPath}: ${reason}`, {
        cause: error,
      });
    }
    try {
      const context = await model.createContext({
        sequences: concurrency,
        contextSize: this.options.contextSize ?? { max: 4096 },
        // One core is left to Node, which streams the tokens and serves the blog: llama.cpp's
        // threads wait for each other at every step, and on a 2-core machine 2 threads
        // decoded the test model 10–40× slower than 1 (measured while the box was busy).
        threads: this.options.threads ?? Math.max(1, os.availableParallelism() - 1),
        batching: { itemPrioritizationStrategy: this.batchStrategy() },
      });
      const free = Array.from({ length: concurrency }, () => context.getSequence()).reverse();
      const template = model.fileInfo.metadata.tokenizer?.chat_template;
      const chatWrapper =
        this.options.chatWrapper === 'jinja' && template
          ? new lib.JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer })
          : lib.resolveChatWrapper(model);
      return { model, context, chatWrapper, free };
    } catch (error) {
      await model.dispose();
      const message = `Cannot make a llama.cpp context for ${modelPath}: ${(error as Error).message}`;
      throw new ProviderError('connect', message, { cause: error });
    }
  }

  private createLlama(lib: typeof NodeLlamaCpp): Promise<Llama> {
    const levels = lib.LlamaLogLevel;
    return lib.getLlama({
      gpu: false,
      build: 'never',
      // Its default, 4 threads, on a 2-core machine makes decoding 50–300× slower.
      maxThreads: os.availableParallelism(),
      logLevel: levels.warn,
      logger: (level, message) => {
        // llama.cpp says why a file does not load only in its log; the error says "Failed".
        if (level === levels.error) this.lastLlamaError = message.trim();
        if (level === levels.error || level === levels.warn) {
          if (this.options.log) this.options.log(level, message.trim());
          else console.warn(`llama.cpp: ${message.trim()}`);
        }
      },
    });
  }

  /** node-llama-cpp's even split of a batch among sequences, reporting each batch. */
  private batchStrategy(): CustomBatchingPrioritizationStrategy {
    return ({ items, size }) => {
      const share = Math.max(1, Math.floor(size / items.length));
      let left = size;
      const chosen = items.map((item) => {
        const processAmount = Math.min(item.tokens.length, share, left);
        left -= processAmount;
        return { item, processAmount };
      });
      for (const entry of chosen) {
        const more = Math.min(entry.item.tokens.length - entry.processAmount, left);
        entry.processAmount += more;
        left -= more;
      }
      const batch = chosen.filter((entry) => entry.processAmount > 0);
      this.options.onBatch?.({
        sequences: batch.length,
        tokens: batch.reduce((sum, entry) => sum + entry.processAmount, 0),
      });
      return batch;
    };
  }
}

function cancelled(request: ProviderRequest): ProviderEvent {
  return {
    type: 'done',
    model: request.model,
    usage: { promptTokens: 0, completionTokens: 0 },
    finishReason: 'cancelled',
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
