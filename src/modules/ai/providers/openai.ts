/**
 * Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, OpenAI, Zhipu GLM,
 * DeepSeek, …): `POST {baseUrl}/chat/completions` streaming server-sent events, closed by
 * `data: [DONE]`. No retries, no timeouts between tokens, no fallback here: the pipeline
 * does those once for every provider. The API key goes in one header and nowhere else.
 */
import {
  type Endpoint,
  isOk,
  type ModelResponse,
  send,
  type ErrorDetail,
  errorDetail,
  kindFromText,
  probe,
  readErrorDetail,
  requestFailed,
  retryAfterMs,
  streamBroke,
  trimBaseUrl,
  withoutUndefined,
} from './http.js';
import { type JsonObject, JsonStreamReader } from './stream-reader.js';
import {
  type ChatMessage,
  type FinishReason,
  type Provider,
  type ProviderErrorKind,
  type ProviderEvent,
  ProviderError,
  type ProviderRequest,
  type ProviderStatus,
  type Usage,
} from './types.js';

export const OPENAI_DEFAULT_URL = 'https://api.openai.com/v1';

export interface OpenAiOptions {
  /** The URL that ends in `/v1`, e.g. `http://127.0.0.1:8000/v1`; OpenAI's own when not given. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer …`; local servers usually need none. */
  apiKey?: string;
  /** Sent with every request, e.g. OpenRouter's `HTTP-Referer`. */
  headers?: Record<string, string>;
  /**
   * Body fields sent only with a prefill, for servers that need telling to continue the last
   * message: vLLM wants `{ continue_final_message: true, add_generation_prompt: false }`.
   */
  prefillFields?: Record<string, unknown>;
  /** How long `status()` waits for `/models`; 2000 ms when not given. */
  statusTimeoutMs?: number;
}

const CONTENT_FILTER_CODES = new Set(['content_filter', 'content_policy_violation']);
const CONTEXT_LENGTH_CODES = new Set(['context_length_exceeded', 'exceed_context_size_error']);

export class OpenAiProvider implements Provider {
  readonly kind = 'openai';
  private readonly baseUrl: string;
  private readonly endpoint: Endpoint;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: OpenAiOptions = {}) {
    this.baseUrl = trimBaseUrl(options.baseUrl ?? OPENAI_DEFAULT_URL);
    this.endpoint = {
      baseUrl: this.baseUrl,
      unreachable: `No model server at ${this.baseUrl} — start it or set AI_BASE_URL and AI_PROVIDER`,
      secret: options.apiKey,
    };
    this.headers = { ...options.headers };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  async *stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const { signal, onToken } = request;
    const body = await this.post(request);
    const reader = new JsonStreamReader('sse');
    let tokens = 0;
    let model = request.model;
    let usage: Usage | undefined;
    let finishReason: FinishReason | undefined;
    try {
      // Headers are in: the pipeline's connect timeout ends here, its first-token timeout goes on.
      yield { type: 'open' };
      const chunks = body[Symbol.asyncIterator]();
      while (!reader.finished) {
        for (const chunk of reader.push(await chunks.next())) {
          // One body chunk often holds several events: after an abort none of them may still pass.
          signal.throwIfAborted();
          if (chunk.error !== undefined && chunk.error !== null) throw this.errorLine(chunk, tokens);
          if (typeof chunk.model === 'string' && chunk.model) model = chunk.model;
          const choice = (Array.isArray(chunk.choices) ? chunk.choices[0] : undefined) as
            JsonObject | undefined;
          const delta = choice?.delta as { content?: unknown } | undefined;
          if (typeof delta?.content === 'string' && delta.content !== '') {
            tokens++;
            if (onToken) onToken(delta.content);
            else yield { type: 'token', text: delta.content };
          }
          const reason = choice?.finish_reason;
          if (reason === 'content_filter') throw filtered(choice, model, tokens);
          if (typeof reason === 'string') finishReason = reason === 'length' ? 'length' : 'stop';
          usage = usageOf(chunk.usage) ?? usage;
        }
      }
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (signal.aborted) throw signal.reason;
      throw streamBroke(error, this.endpoint, tokens);
    } finally {
      // A stopped or failed answer (also one stopped at 'open', before the body was read):
      // the server must see the connection close and free its slot. After [DONE] the body is
      // left to end by itself, its connection kept: destroying a body before its end builds
      // an abort error, stack trace and all, for every answer.
      if (!reader.sawDoneSentinel) body.destroy();
    }
    const missingTerminator = !reader.sawDoneSentinel;
    // Without [DONE], a finish reason or the usage chunk is what says the answer was whole;
    // tokens alone and then silence is a cut that only looks like an end.
    if (missingTerminator && finishReason === undefined && usage === undefined) {
      throw new ProviderError(
        'stream',
        `The stream from ${this.baseUrl} ended after ${tokens} tokens with no finish reason and no [DONE]`,
      );
    }
    yield {
      type: 'done',
      model,
      // A server that ignores stream_options sends no usage: each content chunk is about one token.
      usage: usage ?? { promptTokens: 0, completionTokens: tokens },
      finishReason: finishReason ?? 'stop',
      malformed: reader.malformed,
      ...(missingTerminator ? { missingTerminator } : {}),
    };
  }

  async status(signal?: AbortSignal): Promise<ProviderStatus> {
    const timeoutMs = this.options.statusTimeoutMs ?? 2000;
    const result = await probe(`${this.baseUrl}/models`, {
      endpoint: this.endpoint,
      headers: this.headers,
      timeoutMs,
      signal,
    });
    if ('problem' in result) return { ok: false, message: result.problem };
    const list = (result.json as { data?: unknown } | null)?.data;
    if (!Array.isArray(list)) {
      return {
        ok: false,
        message: `The server at ${this.baseUrl} has no /models list: is the URL the one ending in /v1?`,
      };
    }
    const models = list.flatMap((m: { id?: unknown }) => (typeof m?.id === 'string' ? [m.id] : []));
    return {
      ok: true,
      message: `The model server at ${this.baseUrl} is up with ${models.length} models`,
      models,
    };
  }

  private async post(request: ProviderRequest): Promise<ModelResponse['body']> {
    const { signal } = request;
    let response: ModelResponse;
    try {
      response = await send(`${this.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(this.body(request)),
        signal,
        trace: request.trace,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw requestFailed(error, this.endpoint);
    }
    if (!isOk(response)) {
      const error = await this.httpError(response);
      if (signal.aborted) throw signal.reason;
      throw error;
    }
    return response.body;
  }

  private body(request: ProviderRequest): JsonObject {
    const { params } = request;
    // Servers that cannot continue an assistant message answer 400, classified as bad_request.
    const messages: ChatMessage[] = request.prefill
      ? [...request.messages, { role: 'assistant', content: request.prefill }]
      : request.messages;
    return withoutUndefined({
      model: request.model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: params.maxTokens,
      temperature: params.temperature,
      top_p: params.topP,
      seed: params.seed,
      stop: params.stop?.length ? params.stop : undefined,
      ...(request.prefill ? this.options.prefillFields : {}),
    });
  }

  private async httpError(response: ModelResponse): Promise<ProviderError> {
    const { status } = response;
    const detail = await readErrorDetail(response, this.options.apiKey);
    const options = { status, retryAfterMs: retryAfterMs(response.headers) };
    const message = `The model server at ${this.baseUrl} answered ${status}: ${detail.message}`;
    if (status === 408 || status === 429 || status >= 500) return new ProviderError('http', message, options);
    return new ProviderError(kindOf(detail) ?? 'bad_request', message, options);
  }

  /** `data: {"error": …}` after the stream began with status 200. */
  private errorLine(chunk: JsonObject, tokens: number): ProviderError {
    const detail = errorDetail(chunk, this.options.apiKey) ?? { message: 'unknown error' };
    return new ProviderError(
      kindOf(detail) ?? 'stream',
      `The model server at ${this.baseUrl} stopped with an error after ${tokens} tokens: ${detail.message}`,
    );
  }
}

function kindOf(detail: ErrorDetail): ProviderErrorKind | undefined {
  for (const code of [detail.code, detail.type]) {
    if (code && CONTENT_FILTER_CODES.has(code)) return 'content_filter';
    if (code && CONTEXT_LENGTH_CODES.has(code)) return 'context_length';
  }
  return kindFromText(detail.message);
}

/** `finish_reason: "content_filter"`, with the categories Azure names in `content_filter_results`. */
function filtered(choice: JsonObject | undefined, model: string, tokens: number): ProviderError {
  const results = choice?.content_filter_results;
  const flagged =
    typeof results === 'object' && results !== null
      ? Object.entries(results).flatMap(([name, r]) =>
          (r as { filtered?: unknown })?.filtered ? [name] : [],
        )
      : [];
  const why = flagged.length ? `flagged: ${flagged.join(', ')}` : 'finish_reason content_filter';
  return new ProviderError(
    'content_filter',
    `${model}'s content filter stopped the answer after ${tokens} tokens (${why})`,
  );
}

function usageOf(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { prompt_tokens: prompt, completion_tokens: completion } = value as Record<string, unknown>;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  return { promptTokens: prompt, completionTokens: completion };
}
