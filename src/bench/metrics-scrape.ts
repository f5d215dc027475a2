// The server's own cache counts, read from its Prometheus /metrics before and after a step,
// so the cache test reports the hit rate the server saw rather than one inferred from times.
import type { HttpClient } from './http.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (comments and malformed lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(match[3]);
    if (Number.isFinite(value)) samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

function sum(
  samples: Sample[],
  name: string,
  where: (labels: Record<string, string>) => boolean = () => true,
) {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** Cache reads and hits as the InkstoneCacheHitRatioLow alert counts them (deploy/prometheus/alerts.yml). */
export interface CacheCounts {
  /** Reads answered from a cache: the cache module's hits (L1 and L2) and the front door's page hits. */
  hits: number;
  /** Reads: L1 lookups (hits and misses; an L2 hit is an L1 miss) and the front door's page hits. */
  reads: number;
  /** AI requests answered from the generation cache, and all AI requests. */
  aiHits: number;
  aiRequests: number;
}

export function cacheCounts(samples: Sample[]): CacheCounts {
  const frontDoor = sum(samples, 'http_requests_total', (l) => l.route === 'page-cache');
  const l1 = (l: Record<string, string>) => l.layer === 'l1';
  return {
    hits: sum(samples, 'inkstone_cache_hits_total') + frontDoor,
    reads:
      sum(samples, 'inkstone_cache_hits_total', l1) +
      sum(samples, 'inkstone_cache_misses_total', l1) +
      frontDoor,
    aiHits: sum(samples, 'inkstone_ai_cache_hits_total'),
    aiRequests: sum(samples, 'inkstone_ai_requests_total'),
  };
}

export interface MetricsReader {
  /** The counts now, or undefined when /metrics cannot be read (see `problem`). */
  read(): Promise<CacheCounts | undefined>;
  problem: string | undefined;
}

/**
 * Reads `path` on the client's server (or an absolute metrics URL through its own client) with
 * the METRICS_TOKEN as a Bearer token. The first failure is kept as `problem`, in words.
 */
export function metricsReader(client: HttpClient, path: string, token: string | undefined): MetricsReader {
  const reader: MetricsReader = {
    problem: undefined,
    async read() {
      const outcome = await client.request({
        path,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        expect: [200],
      });
      if (!outcome.ok) {
        reader.problem ??=
          outcome.status === 401
            ? `${path} wants the METRICS_TOKEN (pass --metrics-token or set METRICS_TOKEN)`
            : outcome.status === 404
              ? `${path} is not served (the server has no METRICS_TOKEN set; or pass --metrics-url for its METRICS_PORT)`
              : `${path} could not be read (${outcome.status || outcome.error})`;
        return undefined;
      }
      const samples = parsePrometheus(outcome.body);
      if (!samples.some((s) => s.name.startsWith('inkstone_'))) {
        reader.problem ??= `${path} answered, but without Inkstone's series`;
        return undefined;
      }
      return cacheCounts(samples);
    },
  };
  return reader;
}
