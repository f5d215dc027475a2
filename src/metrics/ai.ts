import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from '../modules/ai/breaker.js';
import type { AiMetricsSink } from '../modules/ai/metrics-sink.js';

/** What the AI gauges read at each scrape (AiService.load()). */
export interface AiLoad {
  /** Generations running here (waiting for a slot or streaming). */
  generations: number;
  queue: { queued: number; inFlight: Record<string, number> };
  circuits: Record<string, BreakerState>;
}

const CIRCUIT: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** The AI series; `sink` is what the pipeline reports to (src/modules/ai/metrics-sink.ts). */
export function aiMetrics(registry: Registry) {
  const registers = [registry];
  const requests = new Counter({
    name: 'inkstone_ai_requests_total',
    help: 'AI generations by provider, model and outcome (ok, cancelled, or the error code; cached and coalesced ones under provider "none")',
    labelNames: ['provider', 'model', 'outcome'] as const,
    registers,
  });
  const inferences = new Counter({
    name: 'inkstone_inference_total',
    help: 'Calls to a model server (each retry and fallback counts one)',
    labelNames: ['provider', 'model'] as const,
    registers,
  });
  const generationTime = new Histogram({
    name: 'inkstone_ai_generation_duration_seconds',
    help: 'Time of a generation that reached the model, from the call to its end',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  const ttft = new Histogram({
    name: 'inkstone_ai_time_to_first_token_seconds',
    help: 'Time from the call to the first token',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const tokensPerSecond = new Histogram({
    name: 'inkstone_ai_tokens_per_second',
    help: 'Output tokens per second after the first token, per generation',
    labelNames: ['provider', 'model'] as const,
    buckets: [1, 5, 10, 20, 40, 80, 160, 320],
    registers,
  });
  const tokens = new Counter({
    name: 'inkstone_ai_tokens_total',
    help: 'Tokens by model and direction (in: the prompt, out: the answer)',
    labelNames: ['provider', 'model', 'direction'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'inkstone_ai_rejected_total',
    help: 'AI requests refused before the model: rate_limited, queue_full, too_many_running',
    labelNames: ['reason'] as const,
    registers,
  });
  const cacheHits = new Counter({
    name: 'inkstone_ai_cache_hits_total',
    help: 'AI requests answered from the generation cache',
    registers,
  });
  const coalesced = new Counter({
    name: 'inkstone_ai_coalesced_total',
    help: 'AI requests that joined an identical one in flight instead of calling the model',
    registers,
  });
  const retries = new Counter({
    name: 'inkstone_ai_retries_total',
    help: 'Retries of a failed model call',
    labelNames: ['provider'] as const,
    registers,
  });
  const fallbacks = new Counter({
    name: 'inkstone_ai_fallbacks_total',
    help: 'Calls to a fallback alias, by that alias',
    labelNames: ['alias'] as const,
    registers,
  });
  const queueWait = new Histogram({
    name: 'inkstone_ai_queue_wait_seconds',
    help: "Time a model call waited for one of its provider's slots",
    labelNames: ['provider'] as const,
    buckets: [0, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });

  const sink: AiMetricsSink = {
    generation(ended) {
      const labels = { provider: ended.provider, model: ended.model };
      requests.inc({ ...labels, outcome: ended.outcome });
      if (ended.outcome !== 'ok') return;
      generationTime.observe(labels, ended.durationSeconds);
      tokens.inc({ ...labels, direction: 'in' }, ended.tokensIn);
      tokens.inc({ ...labels, direction: 'out' }, ended.tokensOut);
      if (ended.ttftSeconds === null) return;
      ttft.observe(labels, ended.ttftSeconds);
      const streaming = ended.durationSeconds - ended.ttftSeconds;
      if (ended.tokensOut > 1 && streaming > 0) tokensPerSecond.observe(labels, ended.tokensOut / streaming);
    },
    shortcut(kind) {
      requests.inc({ provider: 'none', model: 'none', outcome: kind });
      (kind === 'cached' ? cacheHits : coalesced).inc();
    },
    refused(reason) {
      rejected.inc({ reason });
    },
    attempt(provider, model) {
      inferences.inc({ provider, model });
    },
    retry(provider) {
      retries.inc({ provider });
    },
    fallback(alias) {
      fallbacks.inc({ alias });
    },
    queueWait(provider, seconds) {
      queueWait.observe({ provider }, seconds);
    },
  };
  return { sink };
}

/** The gauges read from the pipeline at each scrape. */
export function aiGauges(registry: Registry, load: () => AiLoad | undefined) {
  const registers = [registry];
  new Gauge({
    name: 'inkstone_ai_queue_depth',
    help: 'Model calls waiting for a slot',
    registers,
    collect() {
      this.set(load()?.queue.queued ?? 0);
    },
  });
  new Gauge({
    name: 'inkstone_ai_generations_running',
    help: 'Generations running (waiting for a slot or streaming), however many readers follow each',
    registers,
    collect() {
      this.set(load()?.generations ?? 0);
    },
  });
  new Gauge({
    name: 'inkstone_ai_in_flight',
    help: 'Model calls running, by provider',
    labelNames: ['provider'] as const,
    registers,
    collect() {
      this.reset();
      for (const [provider, count] of Object.entries(load()?.queue.inFlight ?? {}))
        this.set({ provider }, count);
    },
  });
  new Gauge({
    name: 'inkstone_ai_circuit_state',
    help: "Each provider's circuit breaker: 0 closed, 1 half-open, 2 open",
    labelNames: ['provider'] as const,
    registers,
    // In a cluster the worst worker shows (aggregated by max, not summed).
    aggregator: 'max',
    collect() {
      this.reset();
      for (const [provider, state] of Object.entries(load()?.circuits ?? {})) {
        this.set({ provider }, CIRCUIT[state]);
      }
    },
  });
}
