/**
 * What the AI pipeline reports for the metrics (src/metrics/ai.ts implements it). An interface
 * of its own so that nothing under src/modules/ai/ imports prom-client, and tests pass nothing.
 * Label values are bounded: provider and model names come from the configuration, outcomes
 * are the pipeline's own error codes.
 */
export interface AiMetricsSink {
  /** A generation that reached the model ended, answered (`ok`) or with its error code. */
  generation(ended: {
    provider: string;
    model: string;
    outcome: string;
    ttftSeconds: number | null;
    durationSeconds: number;
    tokensIn: number;
    tokensOut: number;
  }): void;
  /** Answered without calling the model: from the generation cache, or by joining one in flight. */
  shortcut(kind: 'cached' | 'coalesced'): void;
  /** Refused before reaching the model. */
  refused(reason: 'rate_limited' | 'queue_full' | 'too_many_running'): void;
  /** One call to a provider (an inference), retries and fallbacks each counting one. */
  attempt(provider: string, model: string): void;
  retry(provider: string): void;
  /** A fallback alias was called after the one asked for failed or was skipped. */
  fallback(alias: string): void;
  /** How long a call waited for one of its provider's slots. */
  queueWait(provider: string, seconds: number): void;
}
