import { Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolStats, QueryEvent } from '../db/index.js';

/** Query time (Kysely's, on the connection: the wait for one shows in the pool gauges). */
export function dbMetrics(registry: Registry, pool: () => PoolStats | undefined) {
  const registers = [registry];
  const duration = new Histogram({
    name: 'inkstone_db_query_duration_seconds',
    help: 'Database query time, by dialect and outcome (ok, error)',
    labelNames: ['dialect', 'outcome'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  new Gauge({
    name: 'inkstone_db_pool_connections',
    help: 'Database pool: connections in_use, idle, the max, and queries waiting for one',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const stats = pool();
      if (!stats) return;
      this.set({ state: 'in_use' }, stats.total - stats.idle);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
      this.set({ state: 'max' }, stats.max);
    },
  });
  return {
    query(event: QueryEvent) {
      duration.observe({ dialect: event.dialect, outcome: event.failed ? 'error' : 'ok' }, event.ms / 1000);
    },
  };
}
