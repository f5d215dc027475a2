import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { SpanMaker } from './spans.js';
import type { Tracing, TracingConfig, TracingLog } from './tracing.js';

// The batch processor holds at most this many ended spans; past it, new ones are dropped
// rather than kept for a collector that does not answer (memory stays bounded).
const MAX_QUEUE = 2048;
const MAX_BATCH = 512;
// Sent every second: a span reaches the collector soon after its request, in few POSTs.
const EXPORT_EVERY_MS = 1000;
// One POST, the exporter's retries included (it retries refused connections and 5xx with
// backoff). Shorter than its default 10 s, so a shutdown with the collector down ends soon.
const EXPORT_TIMEOUT_MS = 3000;
const SHUTDOWN_TIMEOUT_MS = 2000;

// ExportResultCode.SUCCESS of @opentelemetry/core, which Inkstone does not depend on directly.
const EXPORT_SUCCESS = 0;

/**
 * The OTLP exporter, reporting failures to the log once per outage (warn) and the recovery
 * (info): never once per span or per batch, as a collector that is down fails every second.
 */
class ReportingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly endpoint: string,
    private readonly log: TracingLog,
  ) {}

  export(...[spans, done]: Parameters<SpanExporter['export']>): void {
    this.inner.export(spans, (result) => {
      if (result.code !== EXPORT_SUCCESS && !this.failing) {
        this.failing = true;
        this.log.warn(
          { err: result.error, endpoint: this.endpoint },
          'Trace export failed; spans are dropped until the collector answers',
        );
      } else if (result.code === EXPORT_SUCCESS && this.failing) {
        this.failing = false;
        this.log.info({ endpoint: this.endpoint }, 'Trace export works again');
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Spans batched and POSTed as OTLP/HTTP JSON to `<endpoint>/v1/traces`. */
export function startOtlpTracing(config: TracingConfig & { endpoint: string }, log: TracingLog): Tracing {
  // The spec's rule for OTEL_EXPORTER_OTLP_ENDPOINT: a base URL, the signal's path appended.
  const url = `${config.endpoint.replace(/\/+$/, '')}/v1/traces`;
  // JSON (this package's encoding; the -proto package sends protobuf): readable in a capture,
  // and accepted by every OTLP/HTTP collector.
  const exporter = new ReportingExporter(
    new OTLPTraceExporter({ url, timeoutMillis: EXPORT_TIMEOUT_MS }),
    url,
    log,
  );
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: MAX_QUEUE,
    maxExportBatchSize: MAX_BATCH,
    scheduledDelayMillis: EXPORT_EVERY_MS,
    exportTimeoutMillis: EXPORT_TIMEOUT_MS + 500,
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    spanProcessors: [processor],
  });
  const spans = new SpanMaker(provider.getTracer('inkstone'));
  let stopped: Promise<void> | undefined;

  return {
    startRequest: (caller, request) => spans.startRequest(caller, request),
    endRequest: (span, statusCode, aborted) => spans.endRequest(span, statusCode, aborted),
    query: (event) => spans.query(event),
    cacheLookup: (lookup) => spans.cacheLookup(lookup),
    startJob: (caller, job) => spans.startJob(caller, job),
    endJob: (span, outcome, error) => spans.endJob(span, outcome, error),
    startWebhook: (attempt) => spans.startWebhook(attempt),
    endWebhook: (span, status, error) => spans.endWebhook(span, status, error),
    traceProvider: (name, inner) => spans.traceProvider(name, inner),
    flush: () => provider.forceFlush(),
    shutdown(timeoutMs = SHUTDOWN_TIMEOUT_MS) {
      stopped ??= new Promise<void>((resolve) => {
        // A collector that is down must not hold the process: what is not sent by then is lost.
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        provider
          .shutdown()
          .catch(() => {})
          .finally(() => {
            clearTimeout(timer);
            resolve();
          });
      });
      return stopped;
    },
  };
}
