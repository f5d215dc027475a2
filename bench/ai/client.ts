// The load client: undici's request() reading the body as it arrives, timing each stream with
// performance.now() from the call to the first token and to the end. The same reader reads
// Inkstone's SSE and the fake model server's own wire format, so the two paths differ only
// in what stands between the client and the model.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { buildPrompt } from '../../src/modules/ai/prompts.js';
import { KEEP_ALIVE_MS } from './ipc.js';

export type Protocol = 'ollama' | 'openai';

export type Target =
  /** `model`: an alias other than `default`. */
  | { via: 'inkstone'; url: string; token: string; model?: string }
  /** Inkstone's OpenAI-compatible door, POST /v1/chat/completions; `model`: an alias from GET /v1/models. */
  | { via: 'openai-door'; url: string; token: string; model: string }
  | { via: 'direct'; url: string; protocol: Protocol; model: string; keepAlive: string };

export interface StreamResult {
  title: string;
  ok: boolean;
  /** performance.now() when the request was sent and when its first token was read. */
  startedAt: number;
  firstTokenAt: number;
  /** Request sent → first token read, ms; NaN when no token came. */
  ttftMs: number;
  /**
   * Request sent → Inkstone's `start` event read (through the OpenAI door: its first chunk,
   * the assistant role), ms: the part of the TTFT Inkstone spends before it calls the model
   * (authentication, limits, cache, queue). NaN on the direct path.
   */
  acceptedMs: number;
  totalMs: number;
  /** performance.now() when the stream ended (throughput windows). */
  endedAt: number;
  tokens: number;
  /** Inkstone's done event said the answer was a cache replay. */
  cached: boolean;
  error?: string;
}

/** What a stream is asked with: the fields of fetch's RequestInit the bench uses. */
export interface StreamInit {
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/**
 * Why not the global fetch(): its WHATWG streams and Request/Response objects cost the client
 * about half a millisecond per stream, and doubled the p99 it measured against a bare server
 * that answers at once (5.3–6.5 ms against 2.4–3.2 ms, one stream at a time). That time is the
 * client's, not the server's. Keep-alive connections, as many per server as streams in flight.
 */
const pool = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS });

/** `door`: OpenAI's chunks as Inkstone's door sends them (the first, role-only chunk is its `start`). */
export type Format = 'inkstone' | 'door' | Protocol;
type Frame = 'start' | 'token' | 'done' | { error: string } | 'other';

/** A draft of a post with this title: through Inkstone, or the very request Inkstone would send. */
export function draftRequest(
  target: Target,
  title: string,
): { url: string; init: StreamInit; format: Format } {
  if (target.via === 'inkstone') {
    return {
      url: `${target.url}/api/v1/ai/write`,
      format: 'inkstone',
      init: {
        method: 'POST',
        headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'draft', title, ...(target.model ? { model: target.model } : {}) }),
      },
    };
  }
  // The same prompt template, parameters and body shape as src/modules/ai/providers/{ollama,openai}.ts.
  const { messages, params } = buildPrompt('draft', { title });
  if (target.via === 'openai-door') {
    // What the official openai client sends for a streamed chat, with the draft's own prompt
    // and parameters: the model sees the request the editor door would have made.
    return {
      url: `${target.url}/v1/chat/completions`,
      format: 'door',
      init: {
        method: 'POST',
        headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: target.model,
          messages,
          stream: true,
          stream_options: { include_usage: true },
          max_tokens: params.maxTokens,
          temperature: params.temperature,
        }),
      },
    };
  }
  if (target.protocol === 'ollama') {
    return {
      url: `${target.url}/api/chat`,
      format: 'ollama',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
        body: JSON.stringify({
          model: target.model,
          messages,
          stream: true,
          options: { temperature: params.temperature, num_predict: params.maxTokens },
          keep_alive: target.keepAlive,
        }),
      },
    };
  }
  return {
    url: `${target.url}/v1/chat/completions`,
    format: 'openai',
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        model: target.model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: params.maxTokens,
        temperature: params.temperature,
      }),
    },
  };
}

function dataOf(frame: string): string | undefined {
  for (const line of frame.split('\n')) if (line.startsWith('data: ')) return line.slice(6);
  return undefined;
}

function readFrame(format: Format, frame: string, result: StreamResult): Frame {
  if (format === 'inkstone') {
    const event = /^event: (\w+)$/m.exec(frame)?.[1];
    const data: unknown = JSON.parse(dataOf(frame) ?? 'null');
    if (event === 'token') return 'token';
    if (event === 'start') return 'start';
    if (event === 'done') {
      result.cached = (data as { cached?: boolean }).cached === true;
      return 'done';
    }
    if (event === 'error') return { error: JSON.stringify(data) };
    return 'other';
  }
  if (format === 'ollama') {
    const line = JSON.parse(frame) as { error?: unknown; done?: boolean; message?: { content?: string } };
    if (line.error !== undefined) return { error: String(line.error) };
    if (line.message?.content) return 'token';
    return line.done ? 'done' : 'other';
  }
  const data = dataOf(frame);
  if (data === undefined) return 'other';
  if (data === '[DONE]') return 'done';
  const chunk = JSON.parse(data) as {
    error?: unknown;
    choices?: { delta?: { content?: string; role?: string } }[];
  };
  if (chunk.error !== undefined) return { error: JSON.stringify(chunk.error) };
  const delta = chunk.choices?.[0]?.delta;
  if (delta?.content) return 'token';
  return format === 'door' && delta?.role ? 'start' : 'other';
}

/** One streamed generation, read to its end. Never throws: failures are results. */
export function stream(target: Target, title: string, timeoutMs = 120_000): Promise<StreamResult> {
  const { url, init, format } = draftRequest(target, title);
  return readStream(url, init, format, title, timeoutMs);
}

/**
 * Any of the streams above (a job's `…/events` too), timed from this call. `title` names
 * the result (the fake's records are matched by it).
 */
export async function readStream(
  url: string,
  init: StreamInit,
  format: Format,
  title: string,
  timeoutMs = 120_000,
): Promise<StreamResult> {
  const separator = format === 'ollama' ? '\n' : '\n\n';
  const started = performance.now();
  const result: StreamResult = {
    title,
    ok: false,
    startedAt: started,
    firstTokenAt: NaN,
    ttftMs: NaN,
    acceptedMs: NaN,
    totalMs: NaN,
    endedAt: NaN,
    tokens: 0,
    cached: false,
  };
  let ended = false;
  const finish = (error?: string) => {
    ended = true;
    result.endedAt = performance.now();
    result.totalMs = result.endedAt - started;
    if (error !== undefined) result.error = error;
    return result;
  };
  try {
    const response = await request(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      body: init.body,
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher: pool,
    });
    if (response.statusCode < 200 || response.statusCode >= 300) {
      return finish(`HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 300)}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    // After the last event the rest of the body is read too (the server ends it at once), so
    // the connection is kept for the next stream instead of being torn down mid-response.
    for await (const value of response.body as AsyncIterable<Buffer>) {
      if (ended) continue;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf(separator); end >= 0 && !ended; end = buffer.indexOf(separator)) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + separator.length);
        if (frame.trim() === '') continue;
        const kind = readFrame(format, frame, result);
        if (kind === 'token') {
          if (result.tokens++ === 0) {
            result.firstTokenAt = performance.now();
            result.ttftMs = result.firstTokenAt - started;
          }
        } else if (kind === 'start') {
          result.acceptedMs = performance.now() - started;
        } else if (kind === 'done') {
          result.ok = true;
          finish();
        } else if (kind !== 'other') {
          finish(kind.error);
        }
      }
    }
    return ended ? result : finish('the stream ended before its last event');
  } catch (error) {
    // The answer was whole; only the rest of its body failed.
    if (ended) return result;
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
    return finish(`${(error as Error).message}${cause ? ` (${cause})` : ''}`);
  }
}

/**
 * `concurrency` workers, each starting its next stream as soon as the last one ends (a
 * closed loop: exactly that many streams in flight), `perWorker` times or until `until`.
 */
export async function closedLoop(options: {
  concurrency: number;
  perWorker?: number;
  /** performance.now() after which no worker starts another stream. */
  until?: number;
  run: (worker: number, index: number) => Promise<StreamResult>;
  /** Spread the workers' first starts over this long, so their streams do not end in lockstep. */
  staggerMs?: number;
}): Promise<StreamResult[]> {
  const { concurrency, perWorker = Infinity, until = Infinity, run, staggerMs = 0 } = options;
  const results: StreamResult[] = [];
  const worker = async (w: number) => {
    if (staggerMs > 0) await sleep((staggerMs * w) / concurrency);
    for (let i = 0; i < perWorker && performance.now() < until; i++) results.push(await run(w, i));
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return results;
}
