import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { HistogramTotals, MetricsSnapshot } from '../../src/modules/admin/metrics-snapshot.js';

// The page's arithmetic (public/admin-metrics-math.js), run as the browser runs it: a classic
// script that leaves InkstoneMetricsMath on the global object.

interface Point {
  time: number;
  requestRate: number;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  errorRate: number | null;
  cacheL1: number | null;
  cacheL2: number | null;
  cacheAll: number | null;
  activeUsers: number;
  ttftP50: number | null;
  tokensPerSecond: number | null;
  jobsWaiting: number | null;
}
interface MetricsMath {
  quantile(q: number, before: HistogramTotals, after: HistogramTotals): number | null;
  point(before: MetricsSnapshot, after: MetricsSnapshot): Point | null;
}

function loadMetricsMath(): MetricsMath {
  const context: { InkstoneMetricsMath?: MetricsMath } = {};
  runInNewContext(
    readFileSync(new URL('../../public/admin-metrics-math.js', import.meta.url), 'utf8'),
    context,
  );
  return context.InkstoneMetricsMath!;
}

const math = loadMetricsMath();
const histogram = (bounds: number[], counts: number[], count: number, sum = 0): HistogramTotals => ({
  bounds,
  counts,
  count,
  sum,
});

function snapshot(at: number, change: (s: MetricsSnapshot) => void = () => {}): MetricsSnapshot {
  const s: MetricsSnapshot = {
    at,
    workers: 1,
    http: { requests: 0, errors: 0, latency: histogram([0.01, 0.1, 1], [0, 0, 0], 0) },
    cache: { l1: { hits: 0, misses: 0 }, l2: { hits: 0, misses: 0 }, frontDoor: 0 },
    activeUsers: 0,
    ai: { ttft: histogram([], [], 0), tokensPerSecond: histogram([], [], 0), queued: 0, running: 0 },
    queue: null,
  };
  change(s);
  return s;
}

describe('the live page’s arithmetic', () => {
  it('interpolates quantiles inside a bucket, as histogram_quantile does, from the difference of two readings', () => {
    const before = histogram([0.01, 0.1, 1], [5, 5, 5], 5);
    // 100 new observations: 50 at most 10 ms, 40 in (10 ms, 100 ms], 10 in (100 ms, 1 s].
    const after = histogram([0.01, 0.1, 1], [55, 95, 105], 105);
    expect(math.quantile(0.5, before, after)).toBeCloseTo(0.01, 10);
    // Rank 90: 40 of the 40 in the second bucket → its top.
    expect(math.quantile(0.9, before, after)).toBeCloseTo(0.1, 10);
    // Rank 95: 5 of the 10 in (0.1, 1] → halfway.
    expect(math.quantile(0.95, before, after)).toBeCloseTo(0.55, 10);
    // Rank 25: halfway through the first bucket, whose lower edge is 0.
    expect(math.quantile(0.25, before, after)).toBeCloseTo(0.005, 10);
    expect(math.quantile(0.5, after, after)).toBeNull();
    // All above the last bound: that bound.
    expect(math.quantile(0.5, histogram([1], [0], 0), histogram([1], [0], 4))).toBe(1);
  });

  it('turns two snapshots into rates, percentiles and hit ratios', () => {
    const before = snapshot(10_000, (s) => {
      s.http.requests = 100;
      s.http.errors = 1;
    });
    const after = snapshot(15_000, (s) => {
      s.http.requests = 150;
      s.http.errors = 3;
      s.http.latency = histogram([0.01, 0.1, 1], [40, 50, 50], 50);
      s.cache.l1 = { hits: 30, misses: 10 };
      s.cache.l2 = { hits: 5, misses: 5 };
      s.cache.frontDoor = 60;
      s.activeUsers = 7;
      s.ai.tokensPerSecond = histogram([10, 20], [0, 2], 2, 30);
      s.queue = { waiting: 4, active: 1, delayed: 0, failed: 2 };
    });
    const point = math.point(before, after)!;
    expect(point.time).toBe(15);
    expect(point.requestRate).toBe(10);
    expect(point.errorRate).toBeCloseTo(4, 10);
    expect(point.p50).toBeCloseTo(6.25, 10);
    expect(point.cacheL1).toBe(75);
    expect(point.cacheL2).toBe(50);
    // (30 + 5 + 60) of (40 + 60) reads.
    expect(point.cacheAll).toBe(95);
    expect(point.activeUsers).toBe(7);
    expect(point.tokensPerSecond).toBe(15);
    expect(point.ttftP50).toBeNull();
    expect(point.jobsWaiting).toBe(4);
  });

  it('gives no point when a counter went down (a worker restarted or was left out)', () => {
    const before = snapshot(1000, (s) => (s.http.requests = 100));
    expect(
      math.point(
        before,
        snapshot(2000, (s) => (s.http.requests = 60)),
      ),
    ).toBeNull();
    expect(
      math.point(
        before,
        snapshot(1000, (s) => (s.http.requests = 100)),
      ),
    ).toBeNull();
  });
});
