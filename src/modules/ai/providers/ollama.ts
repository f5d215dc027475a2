/**
 * Ollama's native API: `POST /api/chat` streaming NDJSON, one object per token, closed by a
 * `done: true` line that carries the counts and timings. No retries, no timeouts between
 * tokens, no fallback here: the pipeline does those once for every provider.
 */
import {
  type Endpoint,
  isOk,
  type ModelResponse,
  send,
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
  type Provider,
  type ProviderEvent,
  ProviderError,
  type ProviderRequest,
  type ProviderStatus,
  type ProviderTimings,
} from './types.js';

export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434';

export interface OllamaOptions {
  /** Where Ollama listens; `http://127.0.0.1:11434` when not given. */
  baseUrl?: string;
  /** How long Ollama keeps the model loaded after a request (`5m`, `1h`, `0`, `-1`); the server's default when not given. */
  keepAlive?: string | number;
  /** `num_ctx` for requests that do not set `params.contextLength`; the model's default when not given. */
  contextLength?: number;
  /** Sent with every request, e.g. for a proxy in front of Ollama. */
  headers?: Record<string, string>;
  /** How long `status()` waits for `/api/tags`; 2000 ms when not given. */
  statusTimeoutMs?: number;
}

export class OllamaProvider implements Provider {
  readonly kind = 'ollama';
  private readonly baseUrl: string;
  private readonly endpoint: Endpoint;

  constructor(private readonly options: OllamaOptions = {}) {
    this.baseUrl = trimBaseUrl(options.baseUrl ?? OLLAMA_DEFAULT_URL);
    this.endpoint = {
      baseUrl: this.baseUrl,
      unreachable: `No model server at ${this.baseUrl} — start Ollama or set AI_PROVIDER`,
    };
  }

  async *stream(request: ProviderRequest): AsyncGenerator<ProviderEvent> {
    const { signal, onToken } = request;
    const body = await this.post(request);
    const reader = new JsonStreamReader('ndjson');
    let tokens = 0;
    let model = request.model;
    let whole = false;
    try {
      // Headers are in: the pipeline's connect timeout ends here, its first-token timeout goes on.
      yield { type: 'open' };
      const chunks = body[Symbol.asyncIterator]();
      while (!reader.finished) {
        for (const line of reader.push(await chunks.next())) {
          // One chunk often holds several lines: after an abort none of them may still pass.
          signal.throwIfAborted();
          if (line.error !== undefined) throw errorLine(line.error, tokens);
          if (typeof line.model === 'string' && line.model) model = line.model;
          const message = line.message as { content?: unknown } | undefined;
          if (typeof message?.content === 'string' && message.content !== '') {
            tokens++;
            if (onToken) onToken(message.content);
            else yield { type: 'token', text: message.content };
          }
          if (line.done === true) {
            whole = true;
            yield finalEvent(line, model, tokens, reader.malformed);
            return;
          }
        }
      }
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (signal.aborted) throw signal.reason;
      throw streamBroke(error, this.endpoint, tokens);
    } finally {
      // A stopped or failed answer (also one stopped at 'open', before the body was read):
      // the server must see the connection close and free its slot. A whole one is left to
      // end by itself, its connection kept: destroying a body before its end builds an abort
      // error, stack trace and all, for every answer.
      if (!whole) body.destroy();
    }
    if (tokens === 0) {
      throw new ProviderError(
        'stream',
        `The stream from ${this.baseUrl} ended before the model sent anything`,
      );
    }
    // Ended cleanly after content but without `done: true`: the answer is whole as far as anyone
    // can tell, so it ends now with what is known (each NDJSON line is one token) rather than
    // waiting for a line that will not come.
    yield {
      type: 'done',
      model,
      usage: { promptTokens: 0, completionTokens: tokens },
      finishReason: 'stop',
      malformed: reader.malformed,
      missingTerminator: true,
    };
  }

  async status(signal?: AbortSignal): Promise<ProviderStatus> {
    const timeoutMs = this.options.statusTimeoutMs ?? 2000;
    const headers = { ...this.options.headers };
    const result = await probe(`${this.baseUrl}/api/tags`, {
      endpoint: this.endpoint,
      headers,
      timeoutMs,
      signal,
    });
    if ('problem' in result) return { ok: false, message: result.problem };
    const list = (result.json as { models?: unknown } | null)?.models;
    if (!Array.isArray(list)) {
      return {
        ok: false,
        message: `The server at ${this.baseUrl} has no /api/tags model list: is it Ollama?`,
      };
    }
    const models = list.flatMap((m: { name?: unknown }) => (typeof m?.name === 'string' ? [m.name] : []));
    if (models.length === 0) {
      return {
        ok: false,
        message: `Ollama at ${this.baseUrl} has no models yet: run \`ollama pull <model>\``,
        models,
      };
    }
    return { ok: true, message: `Ollama at ${this.baseUrl} is up with ${models.length} models`, models };
  }

  private async post(request: ProviderRequest): Promise<ModelResponse['body']> {
    const { signal } = request;
    let response: ModelResponse;
    try {
      response = await send(`${this.baseUrl}/api/chat`, {
        method: 'POST',
        headers: {
          ...this.options.headers,
          'content-type': 'application/json',
          accept: 'application/x-ndjson',
        },
        body: JSON.stringify(this.body(request)),
        signal,
        trace: request.trace,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw requestFailed(error, this.endpoint);
    }
    if (!isOk(response)) {
      const error = await this.httpError(response, request.model);
      if (signal.aborted) throw signal.reason;
      throw error;
    }
    return response.body;
  }

  private body(request: ProviderRequest): JsonObject {
    const { params } = request;
    const options = withoutUndefined({
      temperature: params.temperature,
      top_p: params.topP,
      num_predict: params.maxTokens,
      seed: params.seed,
      stop: params.stop?.length ? params.stop : undefined,
      num_ctx: params.contextLength ?? this.options.contextLength,
    });
    // Ollama continues a final assistant message instead of starting a new one.
    const messages: ChatMessage[] = request.prefill
      ? [...request.messages, { role: 'assistant', content: request.prefill }]
      : request.messages;
    return withoutUndefined({
      model: request.model,
      messages,
      stream: true,
      options,
      keep_alive: this.options.keepAlive,
    });
  }

  private async httpError(response: ModelResponse, model: string): Promise<ProviderError> {
    const { status } = response;
    const detail = await readErrorDetail(response);
    const options = { status, retryAfterMs: retryAfterMs(response.headers) };
    const said = `${status}: ${detail.message}`;
    if (status === 404 && /model/i.test(detail.message)) {
      return new ProviderError(
        'bad_request',
        `Model "${model}" is not on the Ollama server at ${this.baseUrl}: run \`ollama pull ${model}\` there (${said})`,
        options,
      );
    }
    if (status === 404) {
      return new ProviderError(
        'bad_request',
        `No Ollama API at ${this.baseUrl}/api/chat (${said}): is the URL an Ollama server?`,
        options,
      );
    }
    if (status === 503) {
      // Ollama's queue is full (OLLAMA_MAX_QUEUE) or the model is loading: worth a retry.
      return new ProviderError('http', `Ollama at ${this.baseUrl} is busy (${said})`, options);
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new ProviderError('http', `Ollama at ${this.baseUrl} answered ${said}`, options);
    }
    const kind = kindFromText(detail.message) ?? 'bad_request';
    return new ProviderError(kind, `Ollama at ${this.baseUrl} refused the request (${said})`, options);
  }
}

/** An `{"error": …}` line in a stream that began with status 200. */
function errorLine(error: unknown, tokens: number): ProviderError {
  const message = typeof error === 'string' ? error : JSON.stringify(error);
  const kind = kindFromText(message) ?? 'stream';
  return new ProviderError(kind, `Ollama stopped with an error after ${tokens} tokens: ${message}`);
}

function finalEvent(line: JsonObject, model: string, tokens: number, malformed: number): ProviderEvent {
  const timings: ProviderTimings = withoutUndefined({
    loadMs: nsToMs(line.load_duration),
    promptEvalMs: nsToMs(line.prompt_eval_duration),
    evalMs: nsToMs(line.eval_duration),
    totalMs: nsToMs(line.total_duration),
  });
  return {
    type: 'done',
    model,
    // Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
    usage: {
      promptTokens: count(line.prompt_eval_count) ?? 0,
      completionTokens: count(line.eval_count) ?? tokens,
    },
    finishReason: line.done_reason === 'length' ? 'length' : 'stop',
    malformed,
    timings,
  };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function nsToMs(value: unknown): number | undefined {
  const ns = count(value);
  return ns === undefined ? undefined : ns / 1e6;
}
