import { randomUUID } from 'node:crypto';
import type { Context } from '@opentelemetry/api';
import { type Clock, isoNow } from '../../clock.js';
import { AppError, fieldError } from '../../errors.js';
import { type Actor, authorize } from '../access/permissions.js';
import type { EventFeed } from '../../http/sse.js';
import { type AiEvent, Broadcast } from './broadcast.js';
import { type CachedGeneration, type GenerationCache, generationKey } from './cache.js';
import type { AiConfig, AliasSpec } from './config.js';
import type { Dispatcher } from './dispatcher.js';
import type { FlightsPort } from './flights.js';
import type { LimitDecision, UsageLimiter } from './limiter.js';
import type { AiMetricsSink } from './metrics-sink.js';
import { type AiKind, buildPrompt, MissingInput, type WritingInput } from './prompts.js';
import type { ChatMessage, GenerateParams, Provider, ProviderStatus } from './providers/types.js';
import type { GenerationsRepository } from './repository.js';
import { type AttemptRecord, GenerationFailure, type ModelRouter } from './router.js';

export interface GenerateRequest {
  kind: AiKind | 'chat';
  messages: ChatMessage[];
  params?: GenerateParams;
  /** A model alias; the routing rules choose when none is given. */
  alias?: string;
  /** "Regenerate": skip the cache and any identical request in flight. */
  fresh?: boolean;
  /** The per-user limit was taken already, when the request was queued (a job's, at submit). */
  limitTaken?: boolean;
  /** The trace of the request (or job) asking: its model calls carry it on. */
  trace?: Context;
}

export interface Generation {
  id: string;
  broadcast: Broadcast;
  /** Resolves when the generation is over and its record written. */
  settled: Promise<void>;
  /** RateLimit-* headers for the response. */
  headers: Record<string, string>;
}

export interface AiStatus {
  enabled: boolean;
  providers: (ProviderStatus & { name: string; kind: string; circuit: string })[];
  queue: ReturnType<Dispatcher['stats']>;
}

interface Logger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

// Finished generations stay in memory this long, so a client that lost its connection can
// resume the stream from the last event id it saw (a browser retries within seconds). Kept
// short: a busy instance would otherwise hold minutes of answers, every token an object,
// for the garbage collector to walk. With Redis the relayed copy lasts two minutes more.
const RESUME_MS = 60_000;

const TAKEN: LimitDecision = { allowed: true, retryAfterSeconds: 0, headers: {} };

/** A finished generation, or the cached answer a replay replayed (and its record's promise). */
type Finished = { generation: Generation } | { replayed: { hit: CachedGeneration; settled: Promise<void> } };
type Remembered = Finished & { until: number };

/**
 * The AI pipeline, whichever door a request comes in by: authorise → per-user limits →
 * generation cache (a hit replays as a stream) → coalescing (an identical request in flight
 * is joined, not sent again) → bounded queue → the router (slots, timeouts, retries,
 * breaker, fallback) → fan-out to every subscriber → the record.
 */
export class AiService {
  private readonly inFlight = new Map<string, Generation>();
  /** Generations running here, by id (however long they take). */
  private readonly live = new Map<string, Generation>();
  /**
   * Finished ones, in the order they finished, each until its resume window closes. A cache
   * hit's replay is kept as the cached answer it replayed, not as its events: its stream is
   * drawn again from that if a client resumes it (at a thousand hits a second, a minute of
   * replayed events would be 60,000 broadcasts for the garbage collector to carry).
   */
  private readonly recent = new Map<string, Remembered>();
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly deps: {
      config: AiConfig;
      providers: Map<string, Provider>;
      router: ModelRouter;
      dispatcher: Dispatcher;
      limiter: UsageLimiter;
      cache: GenerationCache;
      repo: GenerationsRepository;
      clock: Clock;
      log?: Logger;
      /** Coalescing across instances (Redis); without it, identical requests coalesce per instance. */
      flights?: FlightsPort;
      metrics?: AiMetricsSink;
    },
  ) {}

  /** A writing task from the editor: the prompt comes from the templates. */
  async write(
    kind: AiKind,
    input: WritingInput,
    actor: Actor | null,
    options: Pick<GenerateRequest, 'alias' | 'fresh' | 'limitTaken' | 'trace'> = {},
  ): Promise<Generation> {
    authorize(actor, 'ai:use');
    let prompt;
    try {
      prompt = buildPrompt(kind, input);
    } catch (error) {
      if (error instanceof MissingInput) throw fieldError(error.field, error.message);
      throw error;
    }
    return this.generate({ kind, ...prompt, ...options }, actor);
  }

  async generate(request: GenerateRequest, actor: Actor | null): Promise<Generation> {
    authorize(actor, 'ai:use');
    const { config, router, limiter, cache, dispatcher } = this.deps;
    if (!config.enabled) {
      throw new AppError(503, 'ai_not_configured', 'No model server is configured: set AI_PROVIDER.');
    }
    const alias = router.resolve(request.kind, request.messages, request.alias);
    if (!alias) {
      const known = config.aliases.map((a) => a.name).join(', ');
      throw fieldError('model', `Unknown model "${request.alias}"; use one of: ${known}.`);
    }
    const user = `user:${actor.id}`;
    const decision = request.limitTaken ? TAKEN : await limiter.take(user);
    if (!decision.allowed) {
      this.deps.metrics?.refused('rate_limited');
      throw new AppError(429, 'rate_limited', decision.reason ?? 'Too many AI requests.', undefined, {
        ...decision.headers,
        'retry-after': String(decision.retryAfterSeconds),
      });
    }
    const params = { ...alias.params, ...request.params };
    const key = generationKey(`${alias.name}:${alias.model}`, request.messages, params);

    if (!request.fresh) {
      const hit = await cache.get(key).catch(() => undefined);
      if (hit) {
        this.deps.metrics?.shortcut('cached');
        return this.replay(hit, request, actor, params, decision.headers);
      }
      // Checked after the last await: from here to the registration below nothing yields, so
      // of many identical requests arriving together exactly one reaches the model.
      const joined = this.inFlight.get(key);
      if (joined) {
        this.deps.metrics?.shortcut('coalesced');
        return { ...joined, headers: decision.headers };
      }
    }

    const release = dispatcher.admit(user);
    const controller = new AbortController();
    const id = randomUUID();
    const shared = { relayed: false };
    const broadcast = new Broadcast(() => this.abandoned(id, controller, shared.relayed));
    const generation: Generation = {
      id,
      broadcast,
      headers: decision.headers,
      settled: Promise.resolve(),
    };
    broadcast.push({ type: 'start', generationId: generation.id, alias: alias.name, cached: false });
    if (!this.inFlight.has(key)) this.inFlight.set(key, generation);
    this.live.set(generation.id, generation);
    this.running.set(generation.id, controller);
    // Leaves the in-flight map before its last event, so a request arriving after the end
    // reads the cache (or asks again after a failure) instead of joining a finished stream.
    const settle = () => {
      if (this.inFlight.get(key) === generation) this.inFlight.delete(key);
    };
    generation.settled = this.claimThenRun(key, generation, request, controller.signal, settle, shared, () =>
      this.execute(generation, alias, request, params, key, actor, controller.signal, settle),
    ).finally(() => {
      settle();
      release();
      this.running.delete(generation.id);
      this.live.delete(generation.id);
      this.remember(generation.id, { generation });
    });
    return generation;
  }

  /** Stops a running generation for everyone reading it; false when it is not running here. */
  cancel(id: string): boolean {
    const controller = this.running.get(id);
    if (!controller) return false;
    controller.abort(new Error('cancelled'));
    return true;
  }

  /** The configured model aliases, as the OpenAI door lists them. */
  models(): { id: string; model: string; provider: string }[] {
    return this.deps.config.aliases.map((a) => ({ id: a.name, model: a.model, provider: a.provider }));
  }

  /** A generation still in memory, for a client resuming its stream. */
  find(id: string): Generation | undefined {
    const running = this.live.get(id);
    if (running) return running;
    const entry = this.recent.get(id);
    if (!entry || entry.until <= this.deps.clock.now().getTime()) return undefined;
    if ('generation' in entry) return entry.generation;
    const { hit, settled } = entry.replayed;
    return { id, broadcast: replayBroadcast(id, hit), headers: {}, settled };
  }

  /**
   * A generation's events after `lastEventId`, for a client resuming its stream: from this
   * instance's memory, or (with Redis) from the relay of the instance that runs it.
   */
  async resume(
    id: string,
    lastEventId: number,
  ): Promise<
    ((signal: AbortSignal) => AsyncIterable<AiEvent> | EventFeed<AiEvent> | readonly AiEvent[]) | undefined
  > {
    const local = this.find(id);
    if (local) return () => local.broadcast.read(lastEventId);
    const { flights } = this.deps;
    if (flights && (await flights.relayed(id))) return (signal) => flights.follow(id, signal, lastEventId);
    return undefined;
  }

  /** What the gauges read at each scrape: the queue, the slots in use, each provider's circuit. */
  load(): {
    generations: number;
    queue: ReturnType<Dispatcher['stats']>;
    circuits: ReturnType<ModelRouter['breakerStates']>;
  } {
    return {
      generations: this.live.size,
      queue: this.deps.dispatcher.stats(),
      circuits: this.deps.router.breakerStates(),
    };
  }

  async status(): Promise<AiStatus> {
    const { config, providers, router, dispatcher } = this.deps;
    const checks = config.providers.map(async (spec) => {
      const provider = providers.get(spec.name);
      const circuit = router.breaker(spec.name).state;
      if (!provider) return { name: spec.name, kind: spec.kind, circuit, ok: false, message: 'not started' };
      const status = await provider
        .status(AbortSignal.timeout(config.timeouts.connectMs))
        .catch((error: unknown) => ({ ok: false, message: (error as Error).message }));
      return { name: spec.name, kind: spec.kind, circuit, ...status };
    });
    return { enabled: config.enabled, providers: await Promise.all(checks), queue: dispatcher.stats() };
  }

  /** Stops every generation (shutdown) and closes the providers. */
  async close(): Promise<void> {
    for (const controller of this.running.values()) controller.abort(new Error('shutting down'));
    await Promise.all([...this.deps.providers.values()].map((p) => p.close?.().catch(() => {})));
  }

  /**
   * With other instances (Redis), an identical request may already be running on one of
   * them: then this generation follows that one's events instead of calling the model.
   * Otherwise it runs here, and its events are relayed for the others.
   */
  private async claimThenRun(
    key: string,
    generation: Generation,
    request: GenerateRequest,
    signal: AbortSignal,
    settle: () => void,
    shared: { relayed: boolean },
    run: () => Promise<void>,
  ): Promise<void> {
    const { flights } = this.deps;
    if (!flights) return run();
    // "Regenerate" joins nothing, but is relayed all the same: a reader may resume it elsewhere.
    const owner = request.fresh ? null : await flights.claim(key, generation.id);
    if (owner) return this.follow(generation, owner, signal, settle);
    shared.relayed = true;
    void flights
      .share(key, generation.id, generation.broadcast)
      .catch((error: unknown) =>
        this.deps.log?.warn({ err: error, generation: generation.id }, 'could not relay a generation'),
      );
    return run();
  }

  /** The last reader here left: stop, unless readers on other instances still follow it. */
  private abandoned(id: string, controller: AbortController, relayed: boolean): void {
    const stop = () => controller.abort(new Error('every reader left'));
    if (!relayed || !this.deps.flights) return stop();
    void this.deps.flights.remoteReaders(id).then((readers) => {
      if (readers === 0) stop();
    });
  }

  /**
   * Relays a generation running on another instance into this one's broadcast. The owner
   * going silent for longer than the model itself may (first-token or idle timeout) ends
   * it with an error, never a wait without end.
   */
  private async follow(
    generation: Generation,
    owner: string,
    signal: AbortSignal,
    settle: () => void,
  ): Promise<void> {
    const { config, flights } = this.deps;
    if (!flights) return;
    const { broadcast } = generation;
    const silent = new AbortController();
    const wait = (ms: number) => setTimeout(() => silent.abort(), ms);
    let timer = wait(config.timeouts.connectMs + config.timeouts.firstTokenMs);
    let partial = false;
    try {
      for await (const event of flights.follow(owner, AbortSignal.any([signal, silent.signal]))) {
        clearTimeout(timer);
        timer = wait(config.timeouts.idleMs);
        if (event.type === 'start') continue;
        if (event.type === 'token') partial = true;
        if (event.type === 'done' || event.type === 'error') settle();
        const { id: _remoteId, ...body } = event;
        broadcast.push(body);
        if (broadcast.done) return;
      }
    } catch (error) {
      this.deps.log?.warn({ err: error }, 'lost the stream of a generation running on another instance');
    } finally {
      clearTimeout(timer);
    }
    settle();
    broadcast.push(
      signal.aborted
        ? { type: 'error', code: 'cancelled', message: 'The request was cancelled.', status: 499, partial }
        : {
            type: 'error',
            code: 'ai_unavailable',
            message: 'The instance writing this answer stopped sending it; try again.',
            status: 503,
            partial,
          },
    );
  }

  private async execute(
    generation: Generation,
    alias: AliasSpec,
    request: GenerateRequest,
    params: GenerateParams,
    key: string,
    actor: Actor,
    signal: AbortSignal,
    settle: () => void,
  ): Promise<void> {
    const { router, cache, limiter, clock } = this.deps;
    const { broadcast } = generation;
    const started = clock.now().getTime();
    let firstTokenAt: number | null = null;
    const tokens: string[] = [];
    try {
      const result = await router.run(
        alias,
        request.messages,
        params,
        {
          token: (text) => {
            firstTokenAt ??= clock.now().getTime();
            tokens.push(text);
            broadcast.token(text);
          },
          notice: (message) => broadcast.push({ type: 'notice', message }),
        },
        signal,
        request.trace,
      );
      const ttftMs = firstTokenAt === null ? null : firstTokenAt - started;
      const durationMs = clock.now().getTime() - started;
      this.deps.metrics?.generation({
        provider: result.provider,
        model: result.model,
        outcome: result.finishReason === 'cancelled' ? 'cancelled' : 'ok',
        ttftSeconds: ttftMs === null ? null : ttftMs / 1000,
        durationSeconds: durationMs / 1000,
        tokensIn: result.usage.promptTokens,
        tokensOut: result.usage.completionTokens,
      });
      // Only a whole answer is cached (never an error, a cut or a cancelled one), and before
      // its last event, so that whoever asks again after reading it gets the cached copy.
      if (result.finishReason !== 'cancelled') {
        await cache
          .set(key, {
            tokens,
            model: result.model,
            provider: result.provider,
            alias: result.alias,
            usage: result.usage,
            finishReason: result.finishReason,
          })
          .catch((error: unknown) =>
            this.deps.log?.warn({ err: error, generation: generation.id }, 'generation cache write failed'),
          );
      }
      settle();
      broadcast.push({
        type: 'done',
        model: result.model,
        provider: result.provider,
        alias: result.alias,
        usage: result.usage,
        finishReason: result.finishReason,
        cached: false,
        ttftMs,
        durationMs,
      });
      await limiter.record(`user:${actor.id}`, result.usage.promptTokens + result.usage.completionTokens);
      await this.record(generation.id, actor, request, params, {
        alias: result.alias,
        model: result.model,
        provider: result.provider,
        status: 'completed',
        output: result.text,
        attempts: result.attempts,
        tokensIn: result.usage.promptTokens,
        tokensOut: result.usage.completionTokens,
        ttftMs,
        durationMs,
      });
    } catch (caught) {
      const failure =
        caught instanceof GenerationFailure
          ? caught
          : new GenerationFailure(500, 'ai_failed', 'The writing assistant failed.', tokens.join(''), []);
      if (!(caught instanceof GenerationFailure))
        this.deps.log?.error({ err: caught, generation: generation.id }, 'AI generation failed');
      settle();
      broadcast.push({
        type: 'error',
        code: failure.code,
        message: failure.message,
        status: failure.status,
        partial: failure.partial.length > 0,
      });
      const last = [...failure.attempts].reverse().find((a) => a.outcome !== 'skipped');
      this.deps.metrics?.generation({
        provider: last?.provider ?? 'none',
        model: last?.model ?? 'none',
        outcome: failure.code,
        ttftSeconds: firstTokenAt === null ? null : (firstTokenAt - started) / 1000,
        durationSeconds: (clock.now().getTime() - started) / 1000,
        tokensIn: 0,
        tokensOut: 0,
      });
      await this.record(generation.id, actor, request, params, {
        alias: last?.alias ?? alias.name,
        model: last?.model ?? null,
        provider: last?.provider ?? null,
        status: failure.code === 'cancelled' ? 'cancelled' : 'failed',
        output: failure.partial,
        attempts: failure.attempts,
        tokensIn: 0,
        tokensOut: 0,
        ttftMs: firstTokenAt === null ? null : firstTokenAt - started,
        durationMs: clock.now().getTime() - started,
        error: `${failure.code}: ${failure.message}`,
      });
    }
  }

  private replay(
    hit: CachedGeneration,
    request: GenerateRequest,
    actor: Actor,
    params: GenerateParams,
    headers: Record<string, string>,
  ): Generation {
    const id = randomUUID();
    // After the replayed events have gone out: the insert (synchronous on SQLite) would
    // otherwise run before the first of them reaches the reader's socket.
    const settled = new Promise((resolve) => setImmediate(resolve)).then(() =>
      this.record(id, actor, request, params, {
        alias: hit.alias,
        model: hit.model,
        provider: hit.provider,
        status: 'completed',
        output: hit.tokens.join(''),
        attempts: [],
        tokensIn: 0,
        tokensOut: 0,
        ttftMs: 0,
        durationMs: 0,
        cached: true,
      }),
    );
    this.remember(id, { replayed: { hit, settled } });
    return { id, broadcast: replayBroadcast(id, hit), headers, settled };
  }

  private remember(id: string, what: Finished): void {
    const now = this.deps.clock.now().getTime();
    for (const [old, entry] of this.recent) {
      if (entry.until > now) break;
      this.recent.delete(old);
    }
    this.recent.set(id, { ...what, until: now + RESUME_MS });
  }

  /** The generation's row; a failure to write it is logged, never passed to the author. */
  private async record(
    id: string,
    actor: Actor,
    request: GenerateRequest,
    params: GenerateParams,
    outcome: {
      alias: string;
      model: string | null;
      provider: string | null;
      status: 'completed' | 'failed' | 'cancelled';
      output: string;
      attempts: AttemptRecord[];
      tokensIn: number;
      tokensOut: number;
      ttftMs: number | null;
      durationMs: number;
      error?: string;
      cached?: boolean;
    },
  ): Promise<void> {
    try {
      await this.deps.repo.create({
        id,
        user_id: actor.id,
        kind: request.kind,
        alias: outcome.alias,
        model: outcome.model,
        provider: outcome.provider,
        status: outcome.status,
        cached: outcome.cached ? 1 : 0,
        prompt: JSON.stringify(request.messages),
        params: JSON.stringify(params),
        output: outcome.output,
        attempts: JSON.stringify(outcome.attempts),
        tokens_in: outcome.tokensIn,
        tokens_out: outcome.tokensOut,
        ttft_ms: outcome.ttftMs,
        duration_ms: outcome.durationMs,
        error: outcome.error ?? null,
        created_at: isoNow(this.deps.clock),
      });
    } catch (error) {
      this.deps.log?.error({ err: error, generation: id }, 'could not record the generation');
    }
  }
}

/**
 * A cached answer's events after `start` (its tokens and `done`), built once per answer held
 * in memory and shared, frozen, by every replay of it: a replay then allocates its `start`
 * and little else (each of a thousand replays a second had made ~20 event objects, and the
 * garbage collector's pauses with them).
 */
const replayTails = new WeakMap<CachedGeneration, readonly AiEvent[]>();

function replayTail(hit: CachedGeneration): readonly AiEvent[] {
  let tail = replayTails.get(hit);
  if (tail) return tail;
  const events: AiEvent[] = hit.tokens.map((text, i) => ({ id: i + 1, type: 'token', text }));
  events.push({
    id: events.length + 1,
    type: 'done',
    model: hit.model,
    provider: hit.provider,
    alias: hit.alias,
    usage: hit.usage,
    finishReason: hit.finishReason,
    cached: true,
    ttftMs: 0,
    durationMs: 0,
  });
  tail = Object.freeze(events.map((event) => Object.freeze(event)));
  replayTails.set(hit, tail);
  return tail;
}

/** A cache hit's stream: the same events as the answer's, complete before anyone reads it. */
function replayBroadcast(id: string, hit: CachedGeneration): Broadcast {
  const start: AiEvent[] = [{ id: 0, type: 'start', generationId: id, alias: hit.alias, cached: true }];
  return Broadcast.complete(start.concat(replayTail(hit)));
}
