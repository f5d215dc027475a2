import { Gauge, type Registry } from 'prom-client';
import type { QueueCounts } from '../queue/bullmq.js';

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The BullMQ queue of AI jobs (REDIS_URL), by state, read from Redis at each scrape. Every
 * process that reports it (each `serve` worker, each `inkstone worker`) reads the same shared
 * queue, so a cluster's scrape takes the largest reading rather than a sum of copies.
 * `counts` failing (Redis away) leaves the series out of that scrape instead of stale numbers.
 */
export function queueMetrics(registry: Registry, counts: () => Promise<QueueCounts>) {
  new Gauge({
    name: 'inkstone_queue_jobs',
    help: 'AI jobs in the BullMQ queue by state (waiting, active, delayed, failed); the same queue in every process',
    labelNames: ['state'] as const,
    registers: [registry],
    aggregator: 'max',
    async collect() {
      this.reset();
      const now = await counts().catch(() => undefined);
      if (!now) return;
      for (const state of QUEUE_STATES) this.set({ state }, now[state]);
    },
  });
}
