import { collectDefaultMetrics, Registry } from 'prom-client';
import { aiMetrics } from './ai.js';
import { httpMetrics } from './http.js';
import { userMetrics } from './users.js';

/**
 * Every series Inkstone exports, in one registry per app (not prom-client's global one: tests
 * run several apps in one process). The ones that report what other parts count (the cache,
 * the pool, the AI queue) are added by the metrics plugin once those parts exist.
 */
export function createMetrics() {
  const registry = new Registry();
  // Heap, GC, event-loop lag, CPU, open handles: prom-client's standard process series.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  // Gauges named like counters, which `promtool check metrics` rejects; the same numbers are
  // in nodejs_active_handles{type} and friends, by type.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  return {
    registry,
    http: httpMetrics(registry),
    ai: aiMetrics(registry),
    users: userMetrics(registry),
  };
}

export type AppMetrics = ReturnType<typeof createMetrics>;
