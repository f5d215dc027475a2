// The bench's HTTP client: one undici Agent with keep-alive (as a browser keeps its
// connections), a timeout per request, and every failure sorted into a kind the results can
// count (ErrorCounts). Times come from performance.now() around the whole exchange, body
// included: a page is not served until its last byte is.
import { setMaxListeners } from 'node:events';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';

export interface BenchRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, joined to the base URL. */
  path: string;
  headers?: Record<string, string>;
  /** JSON body (sets content-type). */
  json?: unknown;
  /** Statuses that count as success; 2xx and 304 when not given. */
  expect?: readonly number[];
  /** Server-Sent Events: time the first `event: token` frame (ttftMs) and fail on `event: error`. */
  sse?: boolean;
}

export interface BenchOutcome {
  ok: boolean;
  /** HTTP status, 0 when no response came. */
  status: number;
  /** Why it failed: the status ('404', '429'), '5xx', 'timeout', 'connect', 'reset', 'body', 'ai-error'. */
  error?: string;
  /** Start to last byte. */
  ms: number;
  /** SSE only: start to the first token. */
  ttftMs?: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** True when the run's own stop signal ended it: not a failure of the server, not counted. */
  aborted: boolean;
}

export interface HttpClientOptions {
  base: URL;
  /** Per-request limit, headers and body together. */
  timeoutMs: number;
  /** Connections per origin: at least the number of concurrent users, so none waits for a socket. */
  connections: number;
  /** Aborts every request in flight when the run stops (Ctrl-C, the end of a level). */
  stop?: AbortSignal;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The kind of a failure with no usable response. */
export function classifyFailure(error: unknown, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  const code = (error as { code?: string; cause?: { code?: string } }).code;
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  for (const c of [code, cause]) {
    if (c === undefined) continue;
    if (CONNECT_CODES.has(c)) return 'connect';
    if (RESET_CODES.has(c)) return 'reset';
    if (c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT' || c === 'ETIMEDOUT')
      return 'timeout';
  }
  if (error instanceof undiciErrors.RequestContentLengthMismatchError) return 'body';
  return 'reset';
}

/** The kind of an unexpected status: every 5xx is one kind, anything else its code. */
export function classifyStatus(status: number): string {
  return status >= 500 ? '5xx' : String(status);
}

const unlimited = new WeakSet<AbortSignal>();

export class HttpClient {
  private readonly agent: Agent;

  constructor(private readonly options: HttpClientOptions) {
    this.agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      // The per-request AbortSignal is the timeout; undici's own would race it with other codes.
      headersTimeout: 0,
      bodyTimeout: 0,
      pipelining: 1,
    });
  }

  /** `stop` (default: the client's) ends the request as aborted: the run, not the server, ended it. */
  async request(spec: BenchRequest, stop = this.options.stop): Promise<BenchOutcome> {
    const { timeoutMs, base } = this.options;
    // One controller per request, ended by its timer or by the run's stop signal. Not
    // AbortSignal.any(): a run makes a million requests, and every such signal stays tied to
    // the long-lived stop signal until it is collected.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onStop = () => controller.abort();
    if (stop && !unlimited.has(stop)) {
      // Every request in flight listens on it: hundreds at a high concurrency level.
      setMaxListeners(0, stop);
      unlimited.add(stop);
    }
    if (stop?.aborted) controller.abort();
    stop?.addEventListener('abort', onStop, { once: true });
    const signal = controller.signal;
    const headers: Record<string, string> = { ...spec.headers };
    let body: string | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    }
    const started = performance.now();
    let status = 0;
    let responseHeaders: BenchOutcome['headers'] = {};
    let ttftMs: number | undefined;
    let text = '';
    const done = (fields: Partial<BenchOutcome> & { ok: boolean }): BenchOutcome => ({
      status,
      ms: performance.now() - started,
      body: text,
      headers: responseHeaders,
      aborted: false,
      ...(ttftMs === undefined ? {} : { ttftMs }),
      ...fields,
    });
    try {
      const response = await this.agent.request({
        origin: base.origin,
        path: base.pathname.replace(/\/+$/, '') + spec.path,
        method: spec.method ?? 'GET',
        headers,
        body,
        signal,
      } as Dispatcher.RequestOptions);
      status = response.statusCode;
      responseHeaders = response.headers;
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        text += decoder.decode(chunk as Buffer, { stream: true });
        if (spec.sse && ttftMs === undefined && text.includes('event: token'))
          ttftMs = performance.now() - started;
      }
      text += decoder.decode();
    } catch (error) {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
      if (stop?.aborted) return done({ ok: false, aborted: true });
      // Headers came, the body did not all: the answer was cut short, whatever the socket said.
      const kind = status !== 0 && !timedOut ? 'body' : classifyFailure(error, timedOut);
      return done({ ok: false, error: kind });
    }
    clearTimeout(timer);
    stop?.removeEventListener('abort', onStop);
    const expected = spec.expect ?? [];
    const ok = expected.length
      ? expected.includes(status)
      : (status >= 200 && status < 300) || status === 304;
    if (!ok) return done({ ok: false, error: classifyStatus(status) });
    if (spec.sse && /^event: error$/m.test(text)) return done({ ok: false, error: 'ai-error' });
    if (spec.sse && !/^event: done$/m.test(text)) return done({ ok: false, error: 'body' });
    return done({ ok: true });
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => this.agent.destroy());
  }
}

/** The cookies a response sets, as name → value (attributes dropped; an empty value deletes). */
export function setCookies(headers: BenchOutcome['headers']): Map<string, string> {
  const raw = headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const cookies = new Map<string, string>();
  for (const line of list) {
    const pair = line.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) cookies.set(pair.slice(0, eq).trim(), decodeURIComponent(pair.slice(eq + 1).trim()));
  }
  return cookies;
}
