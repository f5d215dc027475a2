import { type Static, Type } from 'typebox';
import type { MetricsJson } from '../../metrics/cluster.js';
import { PAGE_CACHE_ROUTE } from '../../metrics/http.js';

// What /admin/metrics.json returns: the registry's cumulative totals at one instant, summed
// over label sets (routes, models, namespaces). The page turns two successive snapshots into
// rates and percentiles (public/admin-metrics-math.js), as Prometheus's rate() and
// histogram_quantile() would.

const Histogram = Type.Object({
  /** Upper bounds of the buckets, without +Inf. */
  bounds: Type.Array(Type.Number()),
  /** Observations at or below each bound (cumulative, as Prometheus keeps them). */
  counts: Type.Array(Type.Number()),
  /** Every observation (the +Inf bucket). */
  count: Type.Number(),
  sum: Type.Number(),
});
export type HistogramTotals = Static<typeof Histogram>;

const Reads = Type.Object({ hits: Type.Number(), misses: Type.Number() });

export const MetricsSnapshot = Type.Object({
  /** When the registry was read, ms since the epoch. */
  at: Type.Number(),
  /** The processes counted: 1, or the workers of `serve --workers N` that answered in time. */
  workers: Type.Integer(),
  http: Type.Object({
    requests: Type.Number(),
    /** 5xx answers. */
    errors: Type.Number(),
    latency: Histogram,
  }),
  cache: Type.Object({
    l1: Reads,
    l2: Reads,
    /** Pages the front door answered from its hot store (hits that never reach the cache module). */
    frontDoor: Type.Number(),
  }),
  activeUsers: Type.Number(),
  ai: Type.Object({
    ttft: Histogram,
    tokensPerSecond: Histogram,
    /** Model calls waiting for a slot. */
    queued: Type.Number(),
    /** Generations running (waiting or streaming). */
    running: Type.Number(),
  }),
  /** The BullMQ queue (REDIS_URL), or null without one or with Redis unreachable. */
  queue: Type.Union([
    Type.Object({
      waiting: Type.Number(),
      active: Type.Number(),
      delayed: Type.Number(),
      failed: Type.Number(),
    }),
    Type.Null(),
  ]),
});
export type MetricsSnapshot = Static<typeof MetricsSnapshot>;

type Values = MetricsJson[number]['values'];
type Labels = Values[number]['labels'];

function sum(values: Values | undefined, where: (labels: Labels) => boolean = () => true): number {
  let total = 0;
  for (const { value, labels } of values ?? []) if (where(labels)) total += value;
  return total;
}

/** A histogram's series summed over every label set but `le`. */
function histogram(values: Values | undefined, name: string): HistogramTotals {
  const buckets = new Map<number, number>();
  let count = 0;
  let total = 0;
  for (const entry of values ?? []) {
    const { metricName } = entry as { metricName?: string };
    if (metricName === `${name}_sum`) total += entry.value;
    else if (metricName === `${name}_count`) count += entry.value;
    else if (metricName === `${name}_bucket`) {
      const bound = Number(entry.labels.le);
      // +Inf is the count; Number('+Inf') is Infinity.
      if (Number.isFinite(bound)) buckets.set(bound, (buckets.get(bound) ?? 0) + entry.value);
    }
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((bound) => buckets.get(bound)!), count, sum: total };
}

/** The totals the live page charts, from getMetricsAsJSON() of one registry or a cluster's aggregate. */
export function metricsSnapshot(metrics: MetricsJson, at: number, workers: number): MetricsSnapshot {
  const values = new Map(metrics.map((metric) => [metric.name, metric.values]));
  const requests = values.get('http_requests_total');
  const reads = (layer: string) => ({
    hits: sum(values.get('inkstone_cache_hits_total'), (labels) => labels.layer === layer),
    misses: sum(values.get('inkstone_cache_misses_total'), (labels) => labels.layer === layer),
  });
  const jobs = values.get('inkstone_queue_jobs');
  const state = (name: string) => sum(jobs, (labels) => labels.state === name);
  return {
    at,
    workers,
    http: {
      requests: sum(requests),
      errors: sum(requests, (labels) => String(labels.status).startsWith('5')),
      latency: histogram(values.get('http_request_duration_seconds'), 'http_request_duration_seconds'),
    },
    cache: {
      l1: reads('l1'),
      l2: reads('l2'),
      frontDoor: sum(requests, (labels) => labels.route === PAGE_CACHE_ROUTE),
    },
    activeUsers: sum(values.get('inkstone_active_users')),
    ai: {
      ttft: histogram(
        values.get('inkstone_ai_time_to_first_token_seconds'),
        'inkstone_ai_time_to_first_token_seconds',
      ),
      tokensPerSecond: histogram(
        values.get('inkstone_ai_tokens_per_second'),
        'inkstone_ai_tokens_per_second',
      ),
      queued: sum(values.get('inkstone_ai_queue_depth')),
      running: sum(values.get('inkstone_ai_generations_running')),
    },
    queue:
      jobs && jobs.length > 0
        ? {
            waiting: state('waiting'),
            active: state('active'),
            delayed: state('delayed'),
            failed: state('failed'),
          }
        : null,
  };
}
