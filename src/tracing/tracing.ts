import type { Context, Span } from '@opentelemetry/api';
import type { CacheLookup } from '../cache/cache.js';
import type { QueryEvent } from '../db/index.js';
import type { Provider } from '../modules/ai/providers/types.js';

/** OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME. */
export interface TracingConfig {
  /** The collector's OTLP/HTTP base URL (spans go to `<endpoint>/v1/traces`); unset: no export. */
  endpoint?: string;
  serviceName: string;
}

export interface TracingLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

/** What an HTTP request's span is named and labelled by. */
export interface RequestSpanInfo {
  method: string;
  /** The route pattern (`/posts/:slug`), never the raw URL; undefined when no route matched. */
  route: string | undefined;
  requestId: string;
}

/** What a queued job's span is labelled by (a BullMQ job run by JobRunner). */
export interface JobSpanInfo {
  jobId: string;
  /** How many times a worker running this job died before. */
  restarts: number;
}

/** How a job run ended: JobOutcome's kind, or `error` when the run threw. */
export type JobSpanOutcome = 'finished' | 'later' | 'handed-back' | 'error';

/** What a webhook delivery attempt's span is labelled by. */
export interface WebhookSpanInfo {
  url: URL;
  /** 1 for the first attempt. */
  attempt: number;
  /** The Inkstone-Delivery id, the same on every attempt of one event. */
  deliveryId: string;
}

/**
 * Spans, made and exported over OTLP/HTTP: only when OTEL_EXPORTER_OTLP_ENDPOINT is set (see
 * startTracing). Without it there is no Tracing at all, and the only tracing work left is the
 * `traceparent` that outgoing calls carry (src/tracing/propagation.ts).
 *
 * Child spans (queries, cache lookups, model calls) are made only under a recording span,
 * taken from the active context: a query outside any request (a job's poll) makes no trace.
 */
export interface Tracing {
  /** The span of one HTTP request, a child of its caller's span when it sent a traceparent. */
  startRequest(caller: Context, request: RequestSpanInfo): Span;
  /** Ends it with the response's status; `aborted`: the client left before the response ended. */
  endRequest(span: Span, statusCode: number, aborted: boolean): void;
  /** A query just finished (DbHandle.onQuery): a span over its time, SQL text without values. */
  query(event: QueryEvent): void;
  /** A cache lookup just finished (AppCache.onLookup): a span over its time, hit or miss. */
  cacheLookup(lookup: CacheLookup): void;
  /** The span of one run of a queued job, a child of the span of the request that queued it. */
  startJob(caller: Context, job: JobSpanInfo): Span;
  endJob(span: Span, outcome: JobSpanOutcome, error?: unknown): void;
  /**
   * The span of one webhook delivery attempt, under the active context (the job's); its id is
   * the parent the receiver gets in `traceparent`.
   */
  startWebhook(attempt: WebhookSpanInfo): Span;
  /** Ends it with the last HTTP status received, or what went wrong without one. */
  endWebhook(span: Span, status: number | null, error: string | null): void;
  /** `provider` with a span per model call (`name`: the configured provider's name). */
  traceProvider(name: string, provider: Provider): Provider;
  /** Sends the spans ended so far (tests; shutdown does it too). */
  flush(): Promise<void>;
  /** Flushes, waiting at most `timeoutMs` for the collector, then stops exporting. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * The app's Tracing, or undefined when no endpoint is configured. The OpenTelemetry SDK and
 * exporter are imported here, on demand: a server that exports nothing never loads them.
 */
export async function startTracing(config: TracingConfig, log: TracingLog): Promise<Tracing | undefined> {
  if (!config.endpoint) return undefined;
  const { startOtlpTracing } = await import('./otlp.js');
  return startOtlpTracing({ ...config, endpoint: config.endpoint }, log);
}
