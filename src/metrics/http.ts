import { Counter, Histogram, type Registry } from 'prom-client';

// From a cached page (~0.1 ms) to a slow uncached one; the p50/p90/p95 panels read these.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SLOTS = LATENCY_BUCKETS.length + 1;

/** The route label of a request no route matched: raw URLs would make the label unbounded. */
export const UNMATCHED = 'unmatched';
/** The route label of pages the front door answered from the hot page store, before Fastify. */
export const PAGE_CACHE_ROUTE = 'page-cache';

export type FrontDoorHit = (method: 'GET' | 'HEAD', status: 200 | 304, seconds: number) => void;

interface Count {
  labels: { method: string; route: string; status: string };
  n: number;
  reported: number;
}

interface Times {
  sharedLabels: { method: string; route: string };
  /** Observations by bucket, not cumulative; the last slot is above every bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * Every request's count and time as plain numbers, handed to prom-client at each scrape.
 * prom-client hashes the labels on every inc() and observe() (bound children too): ~650 ns
 * a front-door hit and ~3 µs a Fastify request, measured in a loop; here a map lookup or two.
 * Label sets are bounded (route patterns), so the maps are.
 */
class RequestTally {
  readonly counts = new Map<string, Count>();
  readonly times = new Map<string, Times>();

  count(method: string, route: string, status: number): Count {
    const key = `${method} ${route} ${status}`;
    let entry = this.counts.get(key);
    if (!entry) {
      entry = { labels: { method, route, status: String(status) }, n: 0, reported: 0 };
      this.counts.set(key, entry);
    }
    return entry;
  }

  time(method: string, route: string): Times {
    const key = `${method} ${route}`;
    let entry = this.times.get(key);
    if (!entry) {
      entry = { sharedLabels: { method, route }, buckets: new Float64Array(SLOTS), sum: 0, count: 0 };
      this.times.set(key, entry);
    }
    return entry;
  }

  static observe(times: Times, seconds: number): void {
    let slot = 0;
    while (slot < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[slot]!) slot++;
    times.buckets[slot]!++;
    times.sum += seconds;
    times.count++;
  }

  /** The histogram's values in the shape prom-client's own getForPromString() returns. */
  histogramValues(name: string) {
    const values: {
      value: number;
      labels: Record<string, string | number>;
      sharedLabels: Record<string, string>;
      metricName: string;
    }[] = [];
    for (const { sharedLabels, buckets, sum, count } of this.times.values()) {
      let running = 0;
      LATENCY_BUCKETS.forEach((bound, slot) => {
        running += buckets[slot]!;
        values.push({ value: running, labels: { le: bound }, sharedLabels, metricName: `${name}_bucket` });
      });
      values.push({ value: count, labels: { le: '+Inf' }, sharedLabels, metricName: `${name}_bucket` });
      values.push({ value: sum, labels: {}, sharedLabels, metricName: `${name}_sum` });
      values.push({ value: count, labels: {}, sharedLabels, metricName: `${name}_count` });
    }
    return values;
  }
}

/** http_request_duration_seconds, its values read from the tally at each scrape. */
class RequestDuration extends Histogram<'method' | 'route'> {
  constructor(
    registry: Registry,
    private readonly tally: RequestTally,
  ) {
    super({
      name: 'http_request_duration_seconds',
      help: 'Time from the request to the response sent, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  // Both the text scrape and get() (the cluster's JSON) go through this one; it is not in
  // prom-client's typings. Nothing is observed on the histogram itself.
  async getForPromString() {
    const own = (Histogram.prototype as unknown as { getForPromString(): Promise<{ values: unknown[] }> })
      .getForPromString;
    const metric = await own.call(this);
    metric.values.push(...this.tally.histogramValues('http_request_duration_seconds'));
    return metric;
  }
}

export function httpMetrics(registry: Registry) {
  const tally = new RequestTally();
  new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      for (const entry of tally.counts.values()) {
        if (entry.n > entry.reported) this.inc(entry.labels, entry.n - entry.reported);
        entry.reported = entry.n;
      }
    },
  });
  new RequestDuration(registry, tally);

  // The front door's four label sets, resolved once: a hit allocates nothing.
  const door = (method: 'GET' | 'HEAD') => ({
    200: tally.count(method, PAGE_CACHE_ROUTE, 200),
    304: tally.count(method, PAGE_CACHE_ROUTE, 304),
    time: tally.time(method, PAGE_CACHE_ROUTE),
  });
  const doors = { GET: door('GET'), HEAD: door('HEAD') };

  return {
    /** One request Fastify answered; `route` is its pattern (routeOptions.url) or undefined. */
    observe(method: string, route: string | undefined, status: number, seconds: number) {
      const pattern = route ?? UNMATCHED;
      tally.count(method, pattern, status).n++;
      RequestTally.observe(tally.time(method, pattern), seconds);
    },
    /** A page the front door answered. */
    frontDoorHit: ((method, status, seconds) => {
      const at = doors[method];
      at[status].n++;
      RequestTally.observe(at.time, seconds);
    }) as FrontDoorHit,
  };
}
