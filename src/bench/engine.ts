// What the three tests share: a recorder of outcomes per endpoint (and per second, for the
// timeline), and workers that loop until a deadline or a stop signal.
import { setMaxListeners } from 'node:events';
import type { EndpointResult, ErrorCounts, LoadSection } from './results.js';
import type { BenchOutcome } from './http.js';
import { percentile, ratio, round, summarize } from './stats.js';

interface EndpointTally {
  label: string;
  requests: number;
  ok: number;
  errors: ErrorCounts;
  latencies: number[];
  ttft: number[];
  total: number[];
  sse: boolean;
}

interface Second {
  requests: number;
  errors: number;
  latencies: number[];
}

export class Recorder {
  readonly startedAt = performance.now();
  private closed = false;

  /**
   * `seconds`: the run's length, when it has one. A timer fires late on a busy machine: what
   * finishes after the end but before the stop lands in the last second, not in one of its own.
   */
  constructor(private readonly lengthS?: number) {}

  /** The run is over: later outcomes (the stop's stragglers) are not counted. */
  close(): void {
    this.closed = true;
  }
  private readonly tallies = new Map<string, EndpointTally>();
  private readonly seconds: Second[] = [];
  requests = 0;
  errors = 0;

  /** Registers an endpoint so it is reported even if it never completes a request. */
  endpoint(name: string, label: string, sse = false): void {
    if (!this.tallies.has(name))
      this.tallies.set(name, {
        label,
        requests: 0,
        ok: 0,
        errors: {},
        latencies: [],
        ttft: [],
        total: [],
        sse,
      });
  }

  /** Counts one finished request; aborted ones (the run stopped) are not a result. */
  record(name: string, outcome: BenchOutcome): void {
    if (outcome.aborted || this.closed) return;
    const tally = this.tallies.get(name);
    if (!tally) throw new Error(`Recorder: unknown endpoint ${name}`);
    tally.requests++;
    this.requests++;
    const second = this.second(performance.now());
    second.requests++;
    if (outcome.ok) {
      tally.ok++;
      tally.latencies.push(outcome.ms);
      second.latencies.push(outcome.ms);
      if (tally.sse) {
        if (outcome.ttftMs !== undefined) tally.ttft.push(outcome.ttftMs);
        tally.total.push(outcome.ms);
      }
    } else {
      const kind = outcome.error ?? 'unknown';
      tally.errors[kind] = (tally.errors[kind] ?? 0) + 1;
      this.errors++;
      second.errors++;
    }
  }

  elapsedS(now = performance.now()): number {
    return (now - this.startedAt) / 1000;
  }

  /** Errors / requests of one endpoint so far. */
  errorRate(name: string): number {
    const tally = this.tallies.get(name);
    return tally ? ratio(tally.requests - tally.ok, tally.requests) : 0;
  }

  results(elapsedS = this.elapsedS()): EndpointResult[] {
    return [...this.tallies].map(([endpoint, t]) => ({
      endpoint,
      label: t.label,
      requests: t.requests,
      ok: t.ok,
      errors: t.errors,
      throughput: round(ratio(t.ok, elapsedS), 2),
      errorRate: round(ratio(t.requests - t.ok, t.requests), 4),
      latency: summarize(t.latencies),
      ...(t.sse ? { ttft: summarize(t.ttft), total: summarize(t.total) } : {}),
    }));
  }

  /** One point per whole second from the start; p50/p99 of the requests that finished in it. */
  timeline(): LoadSection['timeline'] {
    return this.seconds.map((s, t) => {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      return {
        t: t + 1,
        requests: s.requests,
        errors: s.errors,
        p50: sorted.length ? round(percentile(sorted, 50)) : 0,
        p99: sorted.length ? round(percentile(sorted, 99)) : 0,
      };
    });
  }

  private second(now: number): Second {
    const whole = Math.floor((now - this.startedAt) / 1000);
    const index =
      this.lengthS === undefined ? whole : Math.min(whole, Math.max(0, Math.ceil(this.lengthS) - 1));
    while (this.seconds.length <= index) this.seconds.push({ requests: 0, errors: 0, latencies: [] });
    return this.seconds[index]!;
  }
}

/** Resolves after ms, or at once when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  // One listener per virtual user thinking at once; Node would warn past 10.
  setMaxListeners(0, signal);
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `count` workers, each calling `step` in a loop until the signal aborts. A step that
 * throws is a bug in the bench, not a server error: it stops the run and is rethrown.
 */
export async function runWorkers(
  count: number,
  signal: AbortSignal,
  step: (worker: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, worker) => {
      while (!signal.aborted) await step(worker);
    }),
  );
}

/** A uniformly random whole number of ms in [min, max]. */
export function between([min, max]: readonly [number, number]): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** Picks a name with probability weight / total; weights of 0 are never picked. */
export function weightedPicker(weights: Record<string, number>): () => string {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  if (entries.length === 0) throw new Error('No endpoint has a weight above 0.');
  return () => {
    let r = Math.random() * total;
    for (const [name, w] of entries) {
      r -= w;
      if (r < 0) return name;
    }
    return entries.at(-1)![0];
  };
}
