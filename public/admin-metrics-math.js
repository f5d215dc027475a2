// The arithmetic of /admin/metrics: two successive snapshots of cumulative totals
// (GET /admin/metrics.json) become one point of rates and percentiles, the way Prometheus's
// rate() and histogram_quantile() read the same counters. No DOM here, so the tests run it
// in Node (test/metrics/admin-metrics-math.test.ts).
(() => {
  /**
   * The q-quantile of the observations between two readings of a histogram, interpolated
   * linearly inside its bucket; null with no observation. Above the last bound (the +Inf
   * bucket) it is that bound, as histogram_quantile() answers.
   */
  function quantile(q, before, after) {
    const total = after.count - before.count;
    if (!(total > 0)) return null;
    const rank = q * total;
    let below = 0;
    for (let i = 0; i < after.bounds.length; i++) {
      const bound = after.bounds[i];
      const at = after.counts[i] - (before.counts[before.bounds.indexOf(bound)] ?? 0);
      if (at >= rank) {
        const lower = i === 0 ? 0 : after.bounds[i - 1];
        return at === below ? bound : lower + ((bound - lower) * (rank - below)) / (at - below);
      }
      below = at;
    }
    return after.bounds.length ? after.bounds[after.bounds.length - 1] : null;
  }

  /** Mean of the observations between two readings (sum over count); null with none. */
  function mean(before, after) {
    const count = after.count - before.count;
    return count > 0 ? (after.sum - before.sum) / count : null;
  }

  const share = (part, whole) => (whole > 0 ? (100 * part) / whole : null);

  /**
   * One chart point from two snapshots, or null when they cannot be compared: a counter went
   * down (a worker restarted, or did not answer in time and was left out of one reading) or
   * no time passed. Gauges (active users, queue depth) are the later reading as it is.
   */
  function point(before, after) {
    const seconds = (after.at - before.at) / 1000;
    if (!(seconds > 0)) return null;
    const counters = [
      [before.http.requests, after.http.requests],
      [before.http.errors, after.http.errors],
      [before.http.latency.count, after.http.latency.count],
      [before.cache.l1.hits + before.cache.l1.misses, after.cache.l1.hits + after.cache.l1.misses],
      [before.cache.l2.hits + before.cache.l2.misses, after.cache.l2.hits + after.cache.l2.misses],
      [before.cache.frontDoor, after.cache.frontDoor],
      [before.ai.ttft.count, after.ai.ttft.count],
      [before.ai.tokensPerSecond.count, after.ai.tokensPerSecond.count],
    ];
    if (counters.some(([a, b]) => b < a)) return null;
    const requests = after.http.requests - before.http.requests;
    const ms = (value) => (value === null ? null : value * 1000);
    const reads = (layer) => ({
      hits: after.cache[layer].hits - before.cache[layer].hits,
      all:
        after.cache[layer].hits +
        after.cache[layer].misses -
        before.cache[layer].hits -
        before.cache[layer].misses,
    });
    const l1 = reads('l1');
    const l2 = reads('l2');
    const frontDoor = after.cache.frontDoor - before.cache.frontDoor;
    const { latency } = after.http;
    return {
      time: after.at / 1000,
      requestRate: requests / seconds,
      p50: ms(quantile(0.5, before.http.latency, latency)),
      p90: ms(quantile(0.9, before.http.latency, latency)),
      p95: ms(quantile(0.95, before.http.latency, latency)),
      errorRate: share(after.http.errors - before.http.errors, requests),
      cacheL1: share(l1.hits, l1.all),
      cacheL2: share(l2.hits, l2.all),
      // Every read that reached a cache layer or the front door's page store, as the alert
      // InkstoneCacheHitRatioLow counts them (L2 reads are L1 misses: not counted twice).
      cacheAll: share(l1.hits + l2.hits + frontDoor, l1.all + frontDoor),
      activeUsers: after.activeUsers,
      ttftP50: quantile(0.5, before.ai.ttft, after.ai.ttft),
      ttftP95: quantile(0.95, before.ai.ttft, after.ai.ttft),
      tokensPerSecond: mean(before.ai.tokensPerSecond, after.ai.tokensPerSecond),
      aiQueued: after.ai.queued,
      jobsWaiting: after.queue ? after.queue.waiting : null,
      jobsActive: after.queue ? after.queue.active : null,
      jobsDelayed: after.queue ? after.queue.delayed : null,
      jobsFailed: after.queue ? after.queue.failed : null,
    };
  }

  globalThis.InkstoneMetricsMath = { quantile, mean, point };
})();
