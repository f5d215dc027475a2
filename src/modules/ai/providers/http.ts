/**
 * What the two HTTP adapters (ollama, openai) share: one connection pool and request call,
 * turning undici's errors into provider error kinds, reading an error body, `Retry-After`,
 * and keeping the API key out of every message. Each adapter keeps only its URL, headers,
 * parameter map and chunk transform.
 */
import { STATUS_CODES } from 'node:http';
import type { Context } from '@opentelemetry/api';
import { Agent, type Dispatcher } from 'undici';
import { outgoingTraceparent } from '../../../tracing/propagation.js';
import { ProviderError } from './types.js';

/**
 * Why undici's `dispatch()` and not the global `fetch()` (undici too): fetch wraps every chunk
 * in WHATWG streams and builds Request/Response/Headers objects, which a CPU profile of
 * `npm run bench:ai` put at a fifth of Inkstone's time while it relays tokens, and at about a
 * millisecond of CPU before each model call is even sent. Nor `request()`: its body is a Node
 * Readable, read through Node's async iterator, and that machinery (buffer list, `readable`
 * events, next ticks, one async generator step per chunk) was a quarter of everything Inkstone
 * allocated while it relayed 100 streams. The handler below gets each chunk from undici's
 * parser and hands it to whoever awaits it; the errors are undici's own (UND_ERR_*,
 * ECONNREFUSED, …). One pool of keep-alive connections serves every model server.
 */
const pool = new Agent({ keepAliveTimeout: 10_000 });

/** A model server's answer: status, headers, and the body as Buffers as they arrive. */
export interface ModelResponse {
  status: number;
  headers: { get(name: string): string | undefined };
  body: ModelBody;
}

/** Chunks queued past this pause the connection until the reader catches up. */
const HIGH_WATER_CHUNKS = 64;

/**
 * A response body fed by undici's parser: chunks queue until read, `next()` resolves with the
 * next one (or waits for it), an error after the headers rejects the read that meets it, and
 * `destroy()` closes the connection (the server sees the client go).
 */
export class ModelBody implements AsyncIterableIterator<Uint8Array> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private waiting:
    { resolve: (read: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;

  constructor(private readonly controller: Dispatcher.DispatchController) {}

  push(chunk: Buffer): void {
    if (this.waiting) return this.settle({ value: chunk, done: false });
    this.queue.push(chunk);
    if (this.queue.length >= HIGH_WATER_CHUNKS) this.controller.pause();
  }

  end(): void {
    this.ended = true;
    if (this.waiting) this.settle({ value: undefined, done: true });
  }

  fail(error: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = { error };
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.queue.shift();
    if (chunk) {
      if (this.queue.length === 0 && this.controller.paused) this.controller.resume();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Stops reading: what the server still sends is dropped with the connection. */
  destroy(): void {
    if (this.ended || this.failure) return;
    const error = new Error('the body was destroyed');
    this.fail(error);
    this.controller.abort(error);
  }

  /** `for await … break` stops the body too. */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.destroy();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async text(): Promise<string> {
    const decoder = new TextDecoder();
    let text = '';
    for (let read = await this.next(); !read.done; read = await this.next())
      text += decoder.decode(read.value, { stream: true });
    return text + decoder.decode();
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  private settle(read: IteratorResult<Uint8Array>): void {
    const waiting = this.waiting!;
    this.waiting = undefined;
    waiting.resolve(read);
  }
}

/** One HTTP request to a model server; rejects (as undici does) when nothing answers. */
export function send(
  url: string,
  init: {
    method?: 'GET' | 'POST';
    headers: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
    /** The trace the call belongs to (the request's); a trace of its own when absent (a status probe). */
    trace?: Context;
  },
): Promise<ModelResponse> {
  const { signal } = init;
  if (signal?.aborted) return Promise.reject(signal.reason);
  let target: URL;
  try {
    target = new URL(url);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let body: ModelBody | undefined;
    const onAbort = () => {
      // Before the headers: the call fails now, even if no connection was made yet.
      if (!body) reject(signal!.reason);
      controller?.abort(signal!.reason as Error);
    };
    const done = () => signal?.removeEventListener('abort', onAbort);
    signal?.addEventListener('abort', onAbort, { once: true });
    pool.dispatch(
      {
        origin: target.origin,
        path: target.pathname + target.search,
        method: init.method ?? 'GET',
        // The request's trace goes on to the model server (a traced vLLM or gateway joins it).
        headers: { ...init.headers, traceparent: outgoingTraceparent(init.trace) },
        body: init.body,
      },
      {
        onRequestStart(started) {
          controller = started;
          if (signal?.aborted) started.abort(signal.reason as Error);
        },
        onResponseStart(started, statusCode, headers) {
          body = new ModelBody(started);
          resolve({
            status: statusCode,
            headers: {
              get: (name) => {
                const value = headers[name.toLowerCase()];
                return Array.isArray(value) ? value[0] : value;
              },
            },
            body,
          });
        },
        onResponseData(_, chunk) {
          body?.push(chunk);
        },
        onResponseEnd() {
          done();
          body?.end();
        },
        onResponseError(_, error) {
          done();
          if (body) body.fail(error);
          else reject(error);
        },
      },
    );
  });
}

export function isOk(response: ModelResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

/** Where a model server is and what to say when nothing answers there. */
export interface Endpoint {
  baseUrl: string;
  /** The sentence for "nothing listens there": what to start or which variable to set. */
  unreachable: string;
  /** Removed from any text the server sends back: some servers echo a rejected key in their 401. */
  secret?: string;
}

// undici rejects with the reason as the error or (fetch) as its `cause`, sometimes an
// AggregateError of one error per address tried (localhost: ::1 and 127.0.0.1).
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const TIMEOUT = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

export function trimBaseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The first error code (ECONNREFUSED, UND_ERR_SOCKET, …) along an error's `cause` chain. */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') return code;
    current = cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return undefined;
}

/** A request that failed before any response: nothing was sent back. */
export function requestFailed(error: unknown, endpoint: Endpoint): ProviderError {
  const classified = classifyRequestError(error, endpoint);
  return new ProviderError(classified.kind, redact(classified.message, endpoint.secret), classified.options);
}

function classifyRequestError(error: unknown, endpoint: Endpoint): ProviderError {
  const code = errorCode(error);
  const where = endpoint.baseUrl;
  if (code === 'ERR_INVALID_URL') {
    return new ProviderError('bad_request', `The model server URL ${where} is not a valid URL`, {
      cause: error,
    });
  }
  if (code && TIMEOUT.has(code)) {
    return new ProviderError('timeout', `The model server at ${where} did not answer in time (${code})`, {
      cause: error,
    });
  }
  if (code && UNREACHABLE.has(code))
    return new ProviderError('connect', endpoint.unreachable, { cause: error });
  const why = code ?? (error instanceof Error ? error.message : 'unknown error');
  return new ProviderError(
    'connect',
    `The model server at ${where} closed the connection before answering (${why})`,
    {
      cause: error,
    },
  );
}

/** The body failed after the headers came: a reset, a cut, undici's own body timeout. */
export function streamBroke(error: unknown, endpoint: Endpoint, tokens: number): ProviderError {
  const code = errorCode(error);
  const why = code ?? (error instanceof Error ? error.message : 'unknown error');
  const [kind, what] =
    code && TIMEOUT.has(code) ? (['timeout', 'went silent'] as const) : (['stream', 'was cut'] as const);
  const message = `The stream from ${endpoint.baseUrl} ${what} after ${tokens} tokens (${why})`;
  return new ProviderError(kind, redact(message, endpoint.secret), { cause: error });
}

/**
 * What an error's text says when its status or code does not: servers word these two
 * differently (Ollama "input length exceeds maximum context length", llama.cpp "the request
 * exceeds the available context size", OpenAI "maximum context length is …").
 */
export function kindFromText(text: string): 'context_length' | 'content_filter' | undefined {
  if (/content[ _-]?(filter|policy|management)|content_policy_violation|safety (filter|system)/i.test(text)) {
    return 'content_filter';
  }
  if (/context[ _-]?(length|window|size)|too many tokens|prompt is too long/i.test(text))
    return 'context_length';
  return undefined;
}

/** `retry-after-ms` (OpenAI's), then `Retry-After` in seconds or as an HTTP date. Not capped: the pipeline caps. */
export function retryAfterMs(
  headers: { get(name: string): string | null | undefined },
  now = Date.now(),
): number | undefined {
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Drops keys whose value is undefined, so a request body only names the parameters that were set. */
export function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
}

export function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}

export interface ErrorDetail {
  message: string;
  /** `code` or `type`, as a string: `context_length_exceeded`, `content_filter`, … */
  code?: string;
  type?: string;
}

/**
 * The message and code of an error payload in any of the shapes servers use: Ollama's
 * `{error: "…"}`, OpenAI's `{error: {message, code, type}}`, vLLM's bare `{message, code}`,
 * FastAPI's `{detail: "…"}`.
 */
export function errorDetail(payload: unknown, secret?: string): ErrorDetail | undefined {
  if (typeof payload === 'string')
    return payload.trim() ? { message: redact(clip(payload), secret) } : undefined;
  if (typeof payload !== 'object' || payload === null) return undefined;
  const record = payload as Record<string, unknown>;
  if ('error' in record && record.error !== null && record.error !== undefined) {
    return errorDetail(record.error, secret) ?? { message: 'unknown error' };
  }
  const message = [record.message, record.detail, record.msg].find((v) => typeof v === 'string');
  if (typeof message !== 'string') return undefined;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
  return { message: redact(clip(message), secret), code: text(record.code), type: text(record.type) };
}

function clip(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 500)}…` : flat;
}

/** Reads at most 64 KiB of an error response: an HTML error page can be large and says little. */
export async function readErrorDetail(response: ModelResponse, secret?: string): Promise<ErrorDetail> {
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length >= 65_536) break;
    }
  } catch {
    // The body broke while the error was read: the status alone still classifies it.
  } finally {
    response.body.destroy();
  }
  let payload: unknown = text;
  try {
    payload = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML page, plain text): the text is the message.
  }
  return (
    errorDetail(payload, secret) ?? {
      message: `${response.status} ${STATUS_CODES[response.status] ?? ''}`.trim(),
    }
  );
}

/** The answer to a short GET for `status()`: its JSON, or a sentence saying what is wrong. */
export async function probe(
  url: string,
  init: { endpoint: Endpoint; headers: Record<string, string>; timeoutMs: number; signal?: AbortSignal },
): Promise<{ json: unknown } | { problem: string }> {
  const { endpoint, timeoutMs } = init;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  try {
    const response = await send(url, { headers: init.headers, signal });
    if (!isOk(response)) {
      const detail = await readErrorDetail(response, endpoint.secret);
      return {
        problem: `The model server at ${endpoint.baseUrl} answered ${response.status}: ${detail.message}`,
      };
    }
    return { json: await response.body.json() };
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    if (timeout.aborted) {
      return { problem: `The model server at ${endpoint.baseUrl} did not answer within ${timeoutMs} ms` };
    }
    if (error instanceof SyntaxError) {
      return {
        problem: `The model server at ${endpoint.baseUrl} did not answer with JSON: is the URL right?`,
      };
    }
    return { problem: requestFailed(error, endpoint).message };
  }
}
