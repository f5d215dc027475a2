// The results file every `inkstone bench` run writes (results.json), and the report and the
// comparison read. Versioned: a reader refuses a schema it does not know instead of guessing.
// Times are in milliseconds, rates per second, ratios plain numbers (1 = equal).

export const RESULTS_SCHEMA = 'inkstone-bench/1';

/** Latency percentiles of one set of samples, in ms. */
export interface Latency {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Failed requests by kind: an unexpected status by its code ('404', '429'), every 5xx as '5xx',
 * 'timeout', 'connect' (refused, unreachable), 'reset' (the connection dropped before an answer),
 * 'body' (the answer was cut short), 'ai-error' (a stream that ended with an error event).
 */
export type ErrorCounts = Record<string, number>;

export interface MachineInfo {
  hostname: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  /** 1, 5 and 15 minute load averages at the start and the end of the run. */
  loadAverage: { start: [number, number, number]; end: [number, number, number] };
}

/** One endpoint (or page kind) measured in a load or concurrency step. */
export interface EndpointResult {
  /** Stable name: 'home', 'post', 'login', 'create-post', 'ai-draft', … */
  endpoint: string;
  /** Method and path pattern, for people: 'GET /posts/:slug'. */
  label: string;
  requests: number;
  /** Requests that completed with the expected status. */
  ok: number;
  errors: ErrorCounts;
  /** ok / elapsed seconds. */
  throughput: number;
  /** errors / requests, 0…1. */
  errorRate: number;
  latency: Latency;
  /** AI endpoints only: time to the first streamed token, and whole-answer time. */
  ttft?: Latency;
  total?: Latency;
}

export interface LoadSection {
  kind: 'load';
  settings: {
    users: number;
    durationS: number;
    thinkMs: [number, number];
    /** Weights as run (from the scenario file or the defaults). */
    weights: Record<string, number>;
    scenarioFile?: string;
  };
  elapsedS: number;
  /** True when stopped early (Ctrl-C): the numbers are what was measured up to then. */
  interrupted: boolean;
  endpoints: EndpointResult[];
  /** Requests done per second over the run, one point per second, for the timeline chart. */
  timeline: { t: number; requests: number; errors: number; p50: number; p99: number }[];
  /** What the run did or skipped and why (accounts made, endpoints skipped), for people. */
  notes?: string[];
}

export interface CacheSection {
  kind: 'cache';
  settings: { warmRequests: number };
  interrupted: boolean;
  pages: {
    endpoint: string;
    label: string;
    cold: Latency;
    warm: Latency;
    /** cold p50 / warm p50. */
    speedup: number;
    /** From the server's /metrics before and after (null when /metrics could not be read). */
    serverHitRate: number | null;
    serverHits: number | null;
    serverMisses: number | null;
    /** AI drafts: time to first token cold and warm. */
    ttftCold?: Latency;
    ttftWarm?: Latency;
    /** What "cold" meant for this page: how the bench made sure the server had not cached it. */
    coldMeaning?: string;
  }[];
  /** Why the server's own hit rate is missing, if it is. */
  metricsNote?: string;
  /** What the run did or skipped and why, for people. */
  notes?: string[];
}

export interface ConcurrencySection {
  kind: 'concurrency';
  settings: { levels: number[]; durationPerLevelS: number; errorThreshold: number };
  interrupted: boolean;
  levels: {
    level: number;
    /** Stopped before its time because the error rate passed the threshold. */
    stoppedEarly: boolean;
    elapsedS: number;
    endpoints: EndpointResult[];
  }[];
  /** What the run did or skipped and why (levels not run after an early stop), for people. */
  notes?: string[];
}

/** A ratio benchmark (`inkstone bench pages`, `inkstone bench ai`): targets against a baseline run in the same process. */
export interface RatioSection {
  kind: 'ratio';
  /** 'pages' or 'ai'. */
  bench: string;
  generator: string;
  rows: {
    group: string;
    target: string;
    /** requests/s (or generations/s) and percentiles as measured. */
    throughput: number;
    latency: Latency;
    /** target / baseline; null for the baseline itself. */
    ratio: number | null;
    goal?: string;
    pass?: boolean;
    errors: number;
  }[];
  notes: string[];
}

export type Section = LoadSection | CacheSection | ConcurrencySection | RatioSection;

export interface BenchResults {
  schema: typeof RESULTS_SCHEMA;
  /** ISO time the run started. */
  startedAt: string;
  /** Inkstone's version (package.json) of the tool that ran the bench. */
  inkstoneVersion: string;
  /** The target's version from its /healthz, when it is an Inkstone. */
  targetVersion?: string;
  url: string;
  /** The command line's settings as run. */
  command: string;
  machine: MachineInfo;
  sections: Section[];
}
