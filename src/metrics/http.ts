import { Counter, Histogram, type Registry } from 'prom-client';

// From a cached page (~0.1 ms) to a slow uncached one; the p50/p90/p95 panels read these.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The route label of a request no route matched: raw URLs would make the label unbounded. */
export const UNMATCHED = 'unmatched';
/** The route label of pages the front door answered from the hot page store, before Fastify. */
export const PAGE_CACHE_ROUTE = 'page-cache';

export type FrontDoorHit = (method: 'GET' | 'HEAD', status: 200 | 304, seconds: number) => void;

export function httpMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the request to the response sent, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  // The front door answers tens of thousands of requests a second: its four label sets are
  // bound once, so a hit costs two additions and no allocation.
  const bind = (method: 'GET' | 'HEAD', status: 200 | 304) => ({
    count: requests.labels({ method, route: PAGE_CACHE_ROUTE, status: String(status) }),
    time: duration.labels({ method, route: PAGE_CACHE_ROUTE }),
  });
  const hits = {
    GET: { 200: bind('GET', 200), 304: bind('GET', 304) },
    HEAD: { 200: bind('HEAD', 200), 304: bind('HEAD', 304) },
  };
  const frontDoorHit: FrontDoorHit = (method, status, seconds) => {
    const bound = hits[method][status];
    bound.count.inc();
    bound.time.observe(seconds);
  };

  return {
    /** One request Fastify answered; `route` is its pattern (routeOptions.url) or undefined. */
    observe(method: string, route: string | undefined, status: number, seconds: number) {
      const labels = { method, route: route ?? UNMATCHED };
      requests.inc({ ...labels, status: String(status) });
      duration.observe(labels, seconds);
    },
    frontDoorHit,
  };
}
