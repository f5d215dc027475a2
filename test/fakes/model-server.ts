/**
 * # Fake model server — a SIMULATOR for tests and benchmarks
 *
 * Not part of Inkstone: nothing under src/ may import it. It stands in for Ollama and for
 * any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, …) so the AI pipeline
 * can be tested and benchmarked against known timings and scripted failures.
 *
 *     const fake = await startFakeModelServer({ ttftMs: 5, tokensPerSecond: 200, parallel: 2 });
 *     // provider base URL: fake.url (Ollama: POST /api/chat; OpenAI: POST /v1/chat/completions)
 *     fake.set({ faults: [{ type: 'status429', retryAfterSeconds: 1 }, null, { type: 'cutAfter', tokens: 3 }] });
 *     await fake.waitFor((s) => s.inFlight === 0);
 *     expect(fake.stats.requests[0]!.aborted).toBe(true);
 *     await fake.close();
 *
 * - Output is deterministic: `reply(messages, model)` (default: "Echo: <last user text>" and
 *   fixed sentences, see model-text.ts), split by `tokenize` (words with their leading space;
 *   every CJK character alone). A trailing assistant message is a prefill: the answer is the
 *   rest of the reply after it. `num_predict` / `max_completion_tokens` / `max_tokens` cap it
 *   (finish "length"). Prompt tokens: the tokens of all message contents.
 * - Timing: after a slot is free, the first token comes `ttftMs` later, then one every
 *   `interTokenMs` (or 1000 / `tokensPerSecond`), on an absolute schedule so timer jitter does
 *   not add up. Ollama sends its headers with the first line, the OpenAI door sends them at
 *   once with the role chunk: a first-token timeout must work for both.
 * - `parallel` slots (OLLAMA_NUM_PARALLEL); more requests wait in a FIFO queue; past
 *   `maxQueue` waiting, 503 at once. A client that leaves stops its generation and frees its
 *   slot (or queue place) in the same tick.
 * - Faults (model-faults.ts): `faults` is a queue, one entry per chat request in order (null
 *   for "none"); `fault` is standing: one fault, several, or a function of the request index.
 *   Both apply together. Only chat requests consume faults; GET endpoints are always served.
 * - `stats`: calls per path, live inFlight/queued/open with their maxima, and one record per
 *   chat request (body, faults, status, outcome, tokens and text produced, aborted, timings
 *   in performance.now() ms). `waitFor(predicate)` resolves on the state change that makes it
 *   true, so tests need no sleeps.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { type Fault, type FaultFn, type FaultSpec, findFault, pickFaults } from './model-faults.js';
import { generate } from './model-generation.js';
import { isRecord, knownModel, readBody, sendJson, sendText, tagEntry } from './model-http.js';
import {
  type ErrorInfo,
  type ErrorKind,
  type Protocol,
  type StreamMeta,
  ollama,
  openai,
} from './model-protocols.js';
import { type FakeModelStats, type FakeRequestRecord } from './model-stats.js';
import { type ReplyFn, defaultReply, planAnswer } from './model-text.js';

export type { Fault, FaultCall, FaultFn, FaultSpec, FaultType } from './model-faults.js';
export { countPromptTokens, defaultReply, planAnswer, tokenize } from './model-text.js';
export type { FakeChatMessage, ReplyFn } from './model-text.js';
export type { FakeModelStats, FakeRequestRecord, RequestOutcome } from './model-stats.js';

export interface FakeModelSettings {
  /** Listed by /api/tags and /v1/models. */
  models: string[];
  /** Answer 404 "model not found" for a model not in `models` (otherwise any name is served). */
  rejectUnknownModels: boolean;
  /** When set, the OpenAI door wants `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey: string | undefined;
  reply: ReplyFn;
  ttftMs: number;
  /** Infinity (the default) sends tokens back to back. */
  tokensPerSecond: number;
  /** Overrides tokensPerSecond when set. */
  interTokenMs: number | undefined;
  parallel: number;
  maxQueue: number;
  /** Prompts with more tokens get the context-length 400. */
  contextLength: number;
  fault: FaultSpec | FaultFn;
}

export interface FakeModelServerOptions extends Partial<FakeModelSettings> {
  host?: string;
  port?: number;
  faults?: FaultSpec[];
  /** The server's `keepAliveTimeout` (Node's default, 5 s, when absent). */
  keepAliveTimeoutMs?: number;
}

export interface FakeModelServer {
  /** e.g. http://127.0.0.1:40123, no trailing slash; stays the same across downFor. */
  readonly url: string;
  readonly port: number;
  /** Live, not a copy. */
  readonly stats: Readonly<FakeModelStats>;
  readonly settings: Readonly<FakeModelSettings>;
  /** Changes settings for the requests that come next; `faults` replaces the queue. */
  set(patch: Partial<FakeModelSettings> & { faults?: FaultSpec[] }): void;
  pushFaults(...faults: FaultSpec[]): void;
  /** Refuses connections for ms (in-flight ones are reset); resolves when listening again. */
  down(ms: number): Promise<void>;
  waitFor(predicate: (stats: Readonly<FakeModelStats>) => boolean, timeoutMs?: number): Promise<void>;
  /** Clears calls, records, maxima and the request index; live counts stay. */
  resetStats(): void;
  close(): Promise<void>;
}

const CHAT: Record<string, Protocol> = { '/api/chat': ollama, '/v1/chat/completions': openai };
const now = () => performance.now();
// A constant reason: abort() without one builds a DOMException, a stack trace per request.
const CLIENT_GONE = new Error('the client closed the connection');

export async function startFakeModelServer(options: FakeModelServerOptions = {}): Promise<FakeModelServer> {
  const {
    host = '127.0.0.1',
    port: wantedPort = 0,
    faults: initialFaults = [],
    keepAliveTimeoutMs,
    ...rest
  } = options;
  const settings: FakeModelSettings = {
    models: ['glm4'],
    rejectUnknownModels: false,
    apiKey: undefined,
    reply: defaultReply,
    ttftMs: 0,
    tokensPerSecond: Infinity,
    interTokenMs: undefined,
    parallel: Infinity,
    maxQueue: 512, // OLLAMA_MAX_QUEUE's default
    contextLength: Infinity,
    fault: undefined,
    // An option passed as undefined (say `ttftMs: args.ttft`) keeps its default.
    ...(Object.fromEntries(
      Object.entries(rest).filter(([, v]) => v !== undefined),
    ) as Partial<FakeModelSettings>),
  };
  const faultQueue: FaultSpec[] = [...initialFaults];
  const spent = new WeakSet<Fault>();
  const stats: FakeModelStats = {
    up: false,
    calls: {},
    open: 0,
    inFlight: 0,
    maxInFlight: 0,
    queued: 0,
    maxQueued: 0,
    busyRejections: 0,
    requests: [],
  };
  let chatIndex = 0;
  const queue: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const watchers = new Set<() => void>();
  const lifetime = new AbortController();
  let downing: Promise<void> | undefined;

  const notify = () => {
    if (watchers.size) for (const watcher of [...watchers]) watcher();
  };

  // --- slots: Ollama-style parallel slots with a bounded FIFO queue ---
  const take = () => {
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
  };
  const pump = () => {
    while (stats.inFlight < settings.parallel && queue.length) {
      take();
      queue.shift()!();
    }
    stats.queued = queue.length;
  };
  const release = () => {
    stats.inFlight--;
    pump();
    notify();
  };
  function admit(signal: AbortSignal): true | 'busy' | Promise<void> {
    if (stats.inFlight < settings.parallel && queue.length === 0) {
      take();
      return true;
    }
    if (queue.length >= settings.maxQueue) return 'busy';
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = queue.indexOf(grant);
        if (at >= 0) queue.splice(at, 1);
        stats.queued = queue.length;
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
      stats.queued = queue.length;
      stats.maxQueued = Math.max(stats.maxQueued, stats.queued);
    });
  }

  const tokenGapMs = () =>
    settings.interTokenMs ??
    (settings.tokensPerSecond > 0 && Number.isFinite(settings.tokensPerSecond)
      ? 1000 / settings.tokensPerSecond
      : 0);

  // --- HTTP ---
  const server = createServer({ noDelay: true }, (req, res) => {
    route(req, res).catch((error: unknown) => {
      console.error('fake model server: unexpected error', error);
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    stats.calls[path] = (stats.calls[path] ?? 0) + 1;
    const protocol = req.method === 'POST' ? CHAT[path] : undefined;
    if (protocol) return chat(req, res, protocol, path);
    if (req.method === 'GET' || req.method === 'HEAD') {
      const created = new Date();
      if (path === '/') return sendText(res, 200, 'Ollama is running');
      if (path === '/api/version') return sendJson(res, 200, { version: '0.0.0-fake' });
      if (path === '/api/tags')
        return sendJson(res, 200, { models: settings.models.map((m) => tagEntry(m, created)) });
      if (path === '/v1/models') {
        const data = settings.models.map((id) => ({
          id,
          object: 'model',
          created: Math.floor(created.getTime() / 1000),
          owned_by: 'library',
        }));
        return sendJson(res, 200, { object: 'list', data });
      }
    }
    sendText(res, 404, '404 page not found');
  }

  async function chat(
    req: IncomingMessage,
    res: ServerResponse,
    protocol: Protocol,
    path: string,
  ): Promise<void> {
    const record: FakeRequestRecord = {
      index: chatIndex++,
      method: req.method ?? 'POST',
      path,
      protocol: protocol.name,
      headers: req.headers,
      clientPort: req.socket.remotePort,
      body: undefined,
      faults: [],
      outcome: 'received',
      aborted: false,
      tokens: 0,
      text: '',
      receivedAt: now(),
    };
    stats.requests.push(record);
    stats.open++;
    const abort = new AbortController();
    const signal = abort.signal;
    let closedByServer = false;
    res.on('close', () => {
      stats.open--;
      record.endedAt ??= now();
      if (!res.writableFinished && !closedByServer) {
        record.aborted = true;
        if (['received', 'queued', 'generating'].includes(record.outcome)) record.outcome = 'aborted';
      }
      abort.abort(CLIENT_GONE);
      notify();
    });
    const fail = (kind: ErrorKind, info: ErrorInfo = {}, headers: Record<string, string> = {}) => {
      const { status, body } = protocol.error(kind, info);
      record.status = status;
      record.outcome = kind === 'busy' ? 'busy' : 'rejected';
      sendJson(res, status, body, headers);
    };
    const reset = () => {
      record.outcome = 'reset';
      closedByServer = true;
      req.socket.resetAndDestroy();
    };

    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // the client left while sending; its close handler has recorded it
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
      record.body = json;
    } catch {
      record.body = raw;
    }
    const faults = pickFaults(
      faultQueue,
      settings.fault,
      { index: record.index, path, protocol: protocol.name, body: json },
      spent,
    );
    record.faults = faults;
    notify();
    if (signal.aborted) return;

    const downFor = findFault(faults, 'downFor');
    if (downFor) {
      spent.add(downFor);
      record.outcome = 'reset';
      closedByServer = true;
      void goDown(downFor.ms);
      return;
    }
    if (findFault(faults, 'resetBeforeHeaders')) return reset();
    if (findFault(faults, 'noResponse')) {
      record.outcome = 'hung';
      return;
    }

    if (json === undefined) return fail('bad_request', { message: 'invalid JSON body' });
    const parsed = protocol.parse(json);
    if (typeof parsed === 'string') return fail('bad_request', { message: parsed });
    record.model = parsed.model;
    record.stream = parsed.stream;
    if (protocol === openai && settings.apiKey && req.headers.authorization !== `Bearer ${settings.apiKey}`) {
      return fail('unauthorized');
    }
    const retryAfter = (seconds?: number): Record<string, string> =>
      seconds === undefined ? {} : { 'retry-after': String(seconds) };
    const status429 = findFault(faults, 'status429');
    if (status429) return fail('rate_limited', {}, retryAfter(status429.retryAfterSeconds));
    const status500 = findFault(faults, 'status500Once');
    if (status500) {
      spent.add(status500);
      return fail('server_error');
    }
    const status503 = findFault(faults, 'status503');
    if (status503) return fail('busy', {}, retryAfter(status503.retryAfterSeconds));
    if (settings.rejectUnknownModels && !knownModel(settings.models, parsed.model)) {
      return fail('model_not_found', { model: parsed.model });
    }

    const plan = planAnswer(parsed.messages, settings.reply, parsed.model, parsed.maxTokens);
    if (plan.prefill !== undefined && findFault(faults, 'refusePrefill')) return fail('prefill_refused');
    if (findFault(faults, 'contextLength') || plan.promptTokens > settings.contextLength) {
      return fail('context_length', { tokens: plan.promptTokens, limit: settings.contextLength });
    }
    const filter = findFault(faults, 'contentFilter');
    if (filter && filter.afterTokens === undefined) {
      return fail('content_filter', { reason: filter.reason ?? 'hate: high' });
    }
    if (protocol === ollama && parsed.messages.length === 0) {
      // Ollama's "load the model" call: an empty chat answers at once with done_reason load/unload.
      const unload = isRecord(json) && (json.keep_alive === 0 || json.keep_alive === '0');
      record.status = 200;
      record.outcome = 'completed';
      return sendJson(res, 200, {
        model: parsed.model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: '' },
        done_reason: unload ? 'unload' : 'load',
        done: true,
      });
    }

    const admitted = admit(signal);
    if (admitted === 'busy') {
      stats.busyRejections++;
      return fail('busy');
    }
    if (admitted !== true) {
      record.outcome = 'queued';
      notify();
      try {
        await admitted;
      } catch {
        return; // left the queue
      }
    }
    record.startedAt = now();
    record.outcome = 'generating';
    notify();
    const meta: StreamMeta = {
      id: `chatcmpl-fake-${record.index}`,
      model: parsed.model,
      created: new Date(),
      includeUsage: parsed.includeUsage,
    };
    const cut = () => {
      record.outcome = 'cut';
      closedByServer = true;
      // end(), not a reset: a reset could discard tokens still in the socket buffers, and the
      // test wants exactly n tokens and then a broken body (no final chunk of the encoding).
      req.socket.end();
    };
    try {
      const { ttftMs } = settings;
      const gapMs = tokenGapMs();
      await generate({
        res,
        protocol,
        meta,
        plan,
        faults,
        record,
        signal,
        stream: parsed.stream,
        ttftMs,
        gapMs,
        cut,
        notify,
      });
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      release();
    }
  }

  // --- down and up again on the same port ---
  async function listen(port: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          // A deep backlog: a benchmark opens 1,000 connections at once, and the default of 511
          // would turn the overflow into SYN retries (a second each) that look like our latency.
          server.listen({ host, port, backlog: 4096 }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        return;
      } catch (error) {
        // The port can be taken for a moment by a client's ephemeral port while we are down.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 100 || port === 0)
          throw error;
        await delay(20);
      }
    }
  }

  function goDown(ms: number): Promise<void> {
    downing ??= (async () => {
      stats.up = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.resetAndDestroy();
      await Promise.all([closed, delay(ms, undefined, { signal: lifetime.signal })]);
      await listen(boundPort);
      stats.up = true;
    })()
      .catch(() => {}) // close() during the outage: stay down
      .finally(() => {
        downing = undefined;
        notify();
      });
    return downing;
  }

  await listen(wantedPort);
  stats.up = true;
  const boundPort = (server.address() as AddressInfo).port;

  return {
    url: `http://${host}:${boundPort}`,
    port: boundPort,
    stats,
    settings,
    set(patch) {
      const { faults, ...changes } = patch;
      Object.assign(settings, changes);
      if (faults) faultQueue.splice(0, faultQueue.length, ...faults);
      pump();
      notify();
    },
    pushFaults(...faults) {
      faultQueue.push(...faults);
    },
    down: goDown,
    waitFor(predicate, timeoutMs = 5_000) {
      if (predicate(stats)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          const { requests, ...counts } = stats;
          reject(
            new Error(
              `fake model server: waitFor timed out after ${timeoutMs} ms; ${JSON.stringify(counts)}, ${requests.length} requests`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          if (!predicate(stats)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
      });
    },
    resetStats() {
      Object.assign(stats, { calls: {}, requests: [], busyRejections: 0 });
      stats.maxInFlight = stats.inFlight;
      stats.maxQueued = stats.queued;
      chatIndex = 0;
    },
    async close() {
      stats.up = false;
      lifetime.abort();
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
