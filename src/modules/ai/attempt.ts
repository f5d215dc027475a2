import type { Context } from '@opentelemetry/api';
import type { Clock } from '../../clock.js';
import type { AiConfig, AliasSpec } from './config.js';
import type { Dispatcher } from './dispatcher.js';
import {
  type ChatMessage,
  type FinishReason,
  type GenerateParams,
  type Provider,
  ProviderError,
  type Usage,
} from './providers/types.js';

type Phase = 'answer' | 'first token' | 'next token' | 'whole answer';

const ATTEMPT_OVER = new Error('the attempt is over');

/** A timeout the pipeline imposed, named by what did not come in time. */
export class Timeout extends ProviderError {
  constructor(
    readonly phase: Phase,
    ms: number,
  ) {
    super('timeout', `no ${phase} within ${ms} ms`);
  }
}

export interface AttemptInput {
  alias: AliasSpec;
  provider: Provider;
  messages: ChatMessage[];
  params: GenerateParams;
  /** The partial answer to continue, for mid-stream failover. */
  prefill: string;
  signal: AbortSignal;
  /** When the whole generation must be over (epoch ms): retries and fallbacks share it. */
  deadline: number;
  onToken: (text: string) => void;
  /** The trace of the request it answers, sent on to the model server. */
  trace?: Context;
}

export interface AttemptDeps {
  config: Pick<AiConfig, 'timeouts' | 'providers'>;
  dispatcher: Dispatcher;
  clock: Clock;
}

/**
 * One call to one provider: waits for one of its slots, then streams with four timeouts —
 * the server's answer (headers), the first token, the gap between tokens, and the
 * generation's deadline. Tokens go to `onToken` as they arrive. Whatever happens, the
 * provider's request ends and the slot is given back before this returns.
 */
export async function callProvider(
  deps: AttemptDeps,
  input: AttemptInput,
): Promise<{ model: string; usage: Usage; finishReason: FinishReason }> {
  const { timeouts, providers } = deps.config;
  const { alias, signal } = input;
  const spec = providers.find((p) => p.name === alias.provider);
  const release = await deps.dispatcher.acquire(alias.provider, spec?.concurrency ?? 1, signal);
  const controller = new AbortController();
  const stopWithCaller = () => controller.abort(signal.reason);
  signal.addEventListener('abort', stopWithCaller, { once: true });
  let timedOut: Timeout | undefined;
  const timers = new Map<Phase, NodeJS.Timeout>();
  // `limit` is the configured value the message names; `ms` what is left of it.
  const arm = (phase: Phase, ms: number, limit = ms) => {
    clearTimeout(timers.get(phase));
    timers.set(
      phase,
      setTimeout(() => {
        timedOut = new Timeout(phase, limit);
        controller.abort(timedOut);
      }, ms),
    );
  };
  const disarm = (phase: Phase) => clearTimeout(timers.get(phase));
  arm('answer', timeouts.connectMs);
  arm('first token', timeouts.firstTokenMs);
  arm('whole answer', Math.max(0, input.deadline - deps.clock.now().getTime()), timeouts.totalMs);
  let tokens = 0;
  const onToken = (text: string) => {
    if (tokens++ === 0) {
      disarm('answer');
      disarm('first token');
    }
    // Restarts the gap's timer in place: one timer per answer, not one per token.
    const gap = timers.get('next token');
    if (gap) gap.refresh();
    else arm('next token', timeouts.idleMs);
    if (!text) return;
    try {
      input.onToken(text);
    } catch (error) {
      // Called from inside the provider's stream: the failure must end the call as itself,
      // not be taken for a broken stream (and retried).
      controller.abort(error);
    }
  };
  try {
    const stream = input.provider.stream({
      model: alias.model,
      messages: input.messages,
      params: input.params,
      signal: controller.signal,
      trace: input.trace,
      // Tokens come straight to the handler; a provider that yields them instead is read alike.
      onToken,
      ...(input.prefill ? { prefill: input.prefill } : {}),
    });
    for await (const event of stream) {
      if (event.type === 'open') disarm('answer');
      else if (event.type === 'token') onToken(event.text);
      else if (event.type === 'done') {
        return { model: event.model, usage: event.usage, finishReason: event.finishReason };
      }
      if (timedOut) break;
    }
    throw timedOut ?? new ProviderError('stream', 'the stream ended without finishing the answer');
  } catch (error) {
    if (timedOut) throw timedOut;
    throw error;
  } finally {
    for (const timer of timers.values()) clearTimeout(timer);
    signal.removeEventListener('abort', stopWithCaller);
    // Ends the provider's request too, if it is still open (a timeout, a failover). With a
    // reason made once: abort() without one builds a DOMException, stack trace and all.
    controller.abort(ATTEMPT_OVER);
    release();
  }
}
