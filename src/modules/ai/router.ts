import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '@opentelemetry/api';
import type { Clock } from '../../clock.js';
import { callProvider, Timeout } from './attempt.js';
import { type BreakerState, CircuitBreaker } from './breaker.js';
import type { AiConfig, AliasSpec, RouteRule } from './config.js';
import type { Dispatcher } from './dispatcher.js';
import type { AiMetricsSink } from './metrics-sink.js';
import {
  type ChatMessage,
  type GenerateParams,
  type Provider,
  ProviderError,
  type Usage,
} from './providers/types.js';

/** One try on one alias: what happened, for the generation's record. */
export interface AttemptRecord {
  alias: string;
  provider: string;
  model: string;
  outcome: 'ok' | 'failed' | 'skipped' | 'cancelled';
  error?: string;
  /** The text this attempt produced (a cut answer's part, or a continuation). */
  text: string;
}

export interface RunResult {
  model: string;
  provider: string;
  alias: string;
  usage: Usage;
  finishReason: string;
  text: string;
  attempts: AttemptRecord[];
}

/** Why a generation failed, as the caller sees it: a status and a code, and what was sent before. */
export class GenerationFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly partial: string,
    readonly attempts: AttemptRecord[],
  ) {
    super(message);
    this.name = 'GenerationFailure';
  }
}

export interface RouterHooks {
  token(text: string): void;
  notice(message: string): void;
}

/**
 * Runs one generation along its alias's fallback chain: per-provider slots, timeouts
 * (answer, first token, between tokens, whole answer), retries with full-jitter backoff on
 * retryable failures only, a circuit breaker per provider, and failover — before the first
 * token by simply trying the next alias, after it by continuing the partial answer on an
 * alias that can (the partial text as an assistant prefill).
 */
export class ModelRouter {
  private readonly aliases: Map<string, AliasSpec>;
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly deps: {
      config: Pick<AiConfig, 'aliases' | 'routes' | 'timeouts' | 'retry' | 'breaker' | 'providers'>;
      providers: Map<string, Provider>;
      dispatcher: Dispatcher;
      clock: Clock;
      random?: () => number;
      metrics?: AiMetricsSink;
    },
  ) {
    this.aliases = new Map(deps.config.aliases.map((alias) => [alias.name, alias]));
  }

  /** The alias a request goes to: the one asked for, else the first routing rule that matches. */
  resolve(kind: string, messages: ChatMessage[], requested?: string): AliasSpec | undefined {
    if (requested) return this.aliases.get(requested);
    const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
    const matches = (rule: RouteRule) =>
      (rule.minPromptChars !== undefined && chars >= rule.minPromptChars) ||
      (rule.kinds?.includes(kind) ?? false);
    const rule = this.deps.config.routes.find(matches);
    return this.aliases.get(rule?.use ?? 'default');
  }

  breaker(provider: string): CircuitBreaker {
    let breaker = this.breakers.get(provider);
    if (!breaker) {
      breaker = new CircuitBreaker(this.deps.config.breaker, this.deps.clock);
      this.breakers.set(provider, breaker);
    }
    return breaker;
  }

  /** Each provider's circuit, for the metrics (providers not called yet have none: closed). */
  breakerStates(): Record<string, BreakerState> {
    return Object.fromEntries([...this.breakers].map(([name, breaker]) => [name, breaker.state]));
  }

  /** The alias and its fallbacks, breadth first, each once. */
  chain(alias: AliasSpec): AliasSpec[] {
    const order: AliasSpec[] = [];
    const queue = [alias];
    while (queue.length) {
      const next = queue.shift()!;
      if (order.includes(next)) continue;
      order.push(next);
      for (const name of next.fallback) {
        const fallback = this.aliases.get(name);
        if (fallback) queue.push(fallback);
      }
    }
    return order;
  }

  async run(
    alias: AliasSpec,
    messages: ChatMessage[],
    params: GenerateParams,
    hooks: RouterHooks,
    signal: AbortSignal,
    /** The trace of the request it answers, which every model call carries on. */
    trace?: Context,
  ): Promise<RunResult> {
    const attempts: AttemptRecord[] = [];
    // One deadline for the whole generation: retries and fallbacks share it.
    const deadline = this.deps.clock.now().getTime() + this.deps.config.timeouts.totalMs;
    const chain = this.chain(alias);
    let partial = '';
    // The first failure that cut an answer mid-stream: what the caller is told if nothing can continue it.
    let cut: string | undefined;
    let last: ProviderError | undefined;
    let minContext = 0;

    for (const candidate of chain) {
      const provider = this.deps.providers.get(candidate.provider);
      const record = (outcome: AttemptRecord['outcome'], text = '', error?: string) =>
        attempts.push({
          alias: candidate.name,
          provider: candidate.provider,
          model: candidate.model,
          outcome,
          error,
          text,
        });
      if (!provider) {
        record('skipped', '', 'provider not configured');
        continue;
      }
      if (partial && !candidate.canContinue) {
        record('skipped', '', 'cannot continue a partial answer');
        continue;
      }
      if (minContext && (candidate.contextTokens ?? 0) <= minContext) {
        record('skipped', '', 'context window not larger');
        continue;
      }
      const merged = { ...candidate.params, ...params };

      for (let attempt = 0; ; attempt++) {
        const breaker = this.breaker(candidate.provider);
        const gate = breaker.tryPass();
        if (!gate.pass) {
          record('skipped', '', `circuit open (${Math.ceil(breaker.retryInMs() / 1000)} s left)`);
          last ??= new ProviderError('connect', `${candidate.provider} is unavailable (circuit open)`);
          break;
        }
        let produced = '';
        const { metrics } = this.deps;
        if (metrics) {
          if (attempt === 0 && candidate !== alias) metrics.fallback(candidate.name);
          metrics.attempt(candidate.provider, candidate.model);
        }
        const cancelled = (text: string) => {
          if (gate.probe) breaker.release();
          record('cancelled', text);
          return new GenerationFailure(
            499,
            'cancelled',
            'The request was cancelled.',
            partial + text,
            attempts,
          );
        };
        try {
          const result = await callProvider(this.deps, {
            alias: candidate,
            provider,
            messages,
            params: merged,
            prefill: partial,
            signal,
            trace,
            deadline,
            onToken: (text) => {
              if (!produced) breaker.success();
              produced += text;
              hooks.token(text);
            },
          });
          // A provider may end an aborted call with a 'cancelled' finish instead of throwing.
          if (signal.aborted || result.finishReason === 'cancelled') {
            throw cancelled(produced);
          }
          breaker.success();
          record('ok', produced);
          return {
            ...result,
            alias: candidate.name,
            provider: candidate.provider,
            text: partial + produced,
            attempts,
          };
        } catch (caught) {
          if (caught instanceof GenerationFailure) throw caught;
          const error =
            caught instanceof ProviderError ? caught : new ProviderError('stream', String(caught));
          if (signal.aborted) {
            throw cancelled(produced);
          }
          record('failed', produced, error.message);
          last = error;
          if (isHealthFailure(error)) breaker.failure();
          else if (gate.probe) breaker.release();

          if (produced) {
            // Mid-stream: the caller already has these tokens. Never retry from the start.
            partial += produced;
            cut ??= `the answer from ${candidate.name} (${candidate.model}) was cut off after ${partial.length} characters: ${error.message}`;
            hooks.notice(`The model stopped mid-answer (${error.message}); continuing on a fallback.`);
            break;
          }
          if (error.kind === 'content_filter') {
            throw new GenerationFailure(
              400,
              'ai_content_filtered',
              `The model refused: ${error.message}`,
              partial,
              attempts,
            );
          }
          if (error.kind === 'context_length') {
            minContext = Math.max(minContext, candidate.contextTokens ?? 0) || 1;
            break;
          }
          if (error.kind === 'bad_request') {
            // A refused prefill means this alias cannot continue; anything else is our request.
            if (partial) break;
            throw new GenerationFailure(502, 'ai_bad_request', error.message, partial, attempts);
          }
          // A silent route is not asked again: after its timeout the next alias gets the request.
          if (error instanceof Timeout) break;
          if (!error.retryable || attempt >= this.deps.config.retry.attempts) break;
          const delay = this.backoff(attempt, error.retryAfterMs);
          this.deps.metrics?.retry(candidate.provider);
          hooks.notice(`${candidate.provider}: ${error.message}; retrying in ${Math.round(delay)} ms.`);
          try {
            await sleep(delay, undefined, { signal });
          } catch {
            throw new GenerationFailure(499, 'cancelled', 'The request was cancelled.', partial, attempts);
          }
        }
      }
    }
    throw this.failure(last, cut, partial, attempts, minContext > 0);
  }

  /** Full jitter: a random wait up to base·2^attempt, capped; a server's Retry-After wins, capped too. */
  private backoff(attempt: number, retryAfterMs?: number): number {
    const cap = this.deps.config.retry.maxDelayMs;
    if (retryAfterMs !== undefined) return Math.min(cap, retryAfterMs);
    const random = this.deps.random ?? Math.random;
    return random() * Math.min(cap, 250 * 2 ** attempt);
  }

  private failure(
    last: ProviderError | undefined,
    cut: string | undefined,
    partial: string,
    attempts: AttemptRecord[],
    contextTooSmall: boolean,
  ): GenerationFailure {
    if (cut) {
      return new GenerationFailure(
        502,
        'ai_stream_cut',
        `Incomplete answer: ${cut}; no fallback could continue it.`,
        partial,
        attempts,
      );
    }
    if (contextTooSmall) {
      return new GenerationFailure(
        400,
        'ai_context_length',
        `The text is too long for the model: ${last?.message ?? ''}`.trim(),
        partial,
        attempts,
      );
    }
    if (last instanceof Timeout || last?.kind === 'timeout') {
      return new GenerationFailure(
        504,
        'ai_timeout',
        `The model server did not answer in time (${last.message}).`,
        partial,
        attempts,
      );
    }
    return new GenerationFailure(
      503,
      'ai_unavailable',
      last ? last.message : 'No model is configured: set AI_PROVIDER.',
      partial,
      attempts,
    );
  }
}

/** Failures that say the provider is unwell (for the breaker), not that the request was wrong. */
function isHealthFailure(error: ProviderError): boolean {
  return error.retryable;
}
