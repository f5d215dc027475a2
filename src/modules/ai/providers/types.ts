/**
 * What every model provider adapter speaks. An adapter turns one chat request into a
 * stream of events and classifies its failures; retries, timeouts between tokens, the
 * circuit breaker and fallback live above it, in the pipeline, once for all providers.
 */
import type { Context } from '@opentelemetry/api';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerateParams {
  temperature?: number;
  topP?: number;
  /** Largest number of tokens to generate. */
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  /** Context window to ask for, in tokens (Ollama's `num_ctx`); providers that cannot set it ignore it. */
  contextLength?: number;
}

export interface ProviderRequest {
  /** The provider's own model name (after alias resolution). */
  model: string;
  messages: ChatMessage[];
  params: GenerateParams;
  /** Aborts the call and frees its slot at once (client gone, timeout, shutdown). */
  signal: AbortSignal;
  /**
   * Text the answer must start with, continued rather than repeated: the partial answer of
   * a failed attempt, for mid-stream failover. Only for providers that can continue.
   */
  prefill?: string;
  /** The trace of the request it answers: an HTTP provider sends it on as `traceparent`. */
  trace?: Context;
  /**
   * Where each token's text goes as it is read, instead of a `token` event: the stream then
   * yields only `open` and `done`. A provider may ignore it and yield its tokens; the caller
   * takes both. (One async generator step and one `for await` step less per token: at 100
   * streams those were a sixth of what Inkstone allocated.)
   */
  onToken?: (text: string) => void;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export type ProviderEvent =
  /** Optional: the server answered (headers arrived). Ends the connect timeout early. */
  | { type: 'open' }
  | { type: 'token'; text: string }
  | {
      type: 'done';
      /** The model that actually produced the answer, as the provider names it. */
      model: string;
      usage: Usage;
      finishReason: FinishReason;
      /** Lines of the stream that could not be parsed and were skipped. */
      malformed?: number;
      /**
       * The stream ended cleanly but without its terminator (Ollama's `done: true`, OpenAI's
       * `[DONE]`): it was finalised here with the usage known by then.
       */
      missingTerminator?: boolean;
      /** Where the provider reports them (Ollama): model load, prompt and generation time. */
      timings?: ProviderTimings;
    };

export interface ProviderTimings {
  loadMs?: number;
  promptEvalMs?: number;
  evalMs?: number;
  totalMs?: number;
}

export type ProviderErrorKind =
  | 'connect' // refused, reset, DNS: nothing was sent back
  | 'timeout'
  | 'http' // a status the provider answered with (see status)
  | 'stream' // the stream broke or carried an error after it began
  | 'context_length' // the prompt does not fit the model: a larger-context alias may
  | 'content_filter' // refused by policy: returned as is, never sent elsewhere
  | 'bad_request'; // any other 4xx: the request itself is wrong

export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
  }

  get status(): number | undefined {
    return this.options.status;
  }

  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }

  /** Worth trying the same route again: connection trouble, timeouts, 408, 429, 5xx. */
  get retryable(): boolean {
    if (this.kind === 'connect' || this.kind === 'timeout' || this.kind === 'stream') return true;
    const status = this.status ?? 0;
    return this.kind === 'http' && (status === 408 || status === 429 || status >= 500);
  }
}

export interface ProviderStatus {
  ok: boolean;
  /** A sentence for the admin page and the editor: what is missing and what to do. */
  message: string;
  models?: string[];
}

export interface Provider {
  /** e.g. "ollama", "openai", "llamacpp". */
  readonly kind: string;
  stream(request: ProviderRequest): AsyncIterable<ProviderEvent>;
  status(signal?: AbortSignal): Promise<ProviderStatus>;
  close?(): Promise<void>;
}
