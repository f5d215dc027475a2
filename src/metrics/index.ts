import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import { aiMetrics } from './ai.js';
import { httpMetrics } from './http.js';
import { userMetrics } from './users.js';

/**
 * prom-client's process series (heap, GC, event-loop lag, CPU, handles), made once per process:
 * each collectDefaultMetrics() call starts an event-loop monitor and a GC observer that are
 * never stopped, and tests build dozens of apps in one process. They describe the process, so
 * every app's registry shares the same metric objects.
 */
let processMetrics: Registry | undefined;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, eventLoopMonitoringPrecision: 20 });
    // Gauges named like counters, which `promtool check metrics` rejects; the same numbers
    // are in nodejs_active_handles{type} and friends, by type.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      processMetrics.removeSingleMetric(name);
    }
  }
  return processMetrics;
}

/**
 * Every series Inkstone exports, in one registry per app (not prom-client's global one: tests
 * run several apps in one process). The ones that report what other parts count (the cache,
 * the pool, the AI queue) are added by the metrics plugin once those parts exist.
 */
export function createMetrics() {
  const registry = new Registry();
  // Typed as plain objects, but they are the metric instances the process registry holds.
  for (const metric of processRegistry().getMetricsAsArray() as unknown as Metric[]) {
    registry.registerMetric(metric);
  }
  return {
    registry,
    http: httpMetrics(registry),
    ai: aiMetrics(registry),
    users: userMetrics(registry),
  };
}

export type AppMetrics = ReturnType<typeof createMetrics>;
