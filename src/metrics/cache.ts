import { Counter, Gauge, type Registry } from 'prom-client';
import type { CacheStats } from '../cache/cache-stats.js';

/**
 * The cache module's counts (AppCache.stats()), read at each scrape: the cache keeps its own
 * counters, these only report them. `hot` is the page cache's synchronous layer the front door
 * serves from; its hits are http_requests_total{route="page-cache"}.
 */
export function cacheMetrics(
  registry: Registry,
  stats: () => CacheStats | undefined,
  hotPages: () => { pages: number; bytes: number } | undefined,
) {
  const registers = [registry];
  const labelNames = ['layer', 'namespace'] as const;
  // Counters whose totals live elsewhere: each scrape sets them to the cache's own numbers.
  const counter = (
    name: string,
    help: string,
    pick: (layer: 'l1' | 'l2', stats: CacheStats) => [string, number][],
  ) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        const now = stats();
        if (!now) return;
        this.reset();
        for (const layer of ['l1', 'l2'] as const) {
          for (const [namespace, value] of pick(layer, now)) this.inc({ layer, namespace }, value);
        }
      },
    });
  const per = (field: 'hits' | 'misses' | 'stale') => (layer: 'l1' | 'l2', now: CacheStats) =>
    Object.entries(now.namespaces).map(([name, space]): [string, number] => [name, space[layer][field]]);
  counter(
    'inkstone_cache_hits_total',
    'Cache reads answered, by layer (l1 memory, l2 Redis) and namespace',
    per('hits'),
  );
  counter(
    'inkstone_cache_misses_total',
    'Cache reads not answered by the layer, by layer and namespace',
    per('misses'),
  );
  counter(
    'inkstone_cache_stale_total',
    'Cache reads answered with an expired entry while it was refreshed (grace), by layer and namespace',
    per('stale'),
  );
  new Counter({
    name: 'inkstone_cache_errors_total',
    help: 'Redis failures the cache survived: l2 (reads, writes), l2_skipped (circuit open), bus (invalidations not sent)',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      const now = stats();
      if (!now) return;
      this.reset();
      this.inc({ kind: 'l2' }, now.errors.l2);
      this.inc({ kind: 'l2_skipped' }, now.errors.l2Skipped);
      this.inc({ kind: 'bus' }, now.errors.bus);
    },
  });
  new Gauge({
    name: 'inkstone_cache_memory_bytes',
    help: 'Bytes held in memory, by layer (l1: the cache module, hot: the front door’s pages)',
    labelNames: ['layer'] as const,
    registers,
    collect() {
      this.set({ layer: 'l1' }, stats()?.l1Bytes ?? 0);
      const hot = hotPages();
      if (hot) this.set({ layer: 'hot' }, hot.bytes);
    },
  });
}
