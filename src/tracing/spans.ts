import {
  type Attributes,
  type Context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import type { CacheLookup } from '../cache/cache.js';
import type { QueryEvent } from '../db/index.js';
import type { Provider, ProviderEvent, ProviderRequest } from '../modules/ai/providers/types.js';
import { traceContexts } from './context.js';
import { asOutgoingCall } from './propagation.js';
import type { JobSpanInfo, JobSpanOutcome, RequestSpanInfo, Tracing, WebhookSpanInfo } from './tracing.js';

// The GenAI conventions are still "incubating": OpenTelemetry asks users to copy such names
// rather than import them from the package's unstable entry point.
const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
const GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
// The messaging conventions are incubating too.
const MESSAGING_SYSTEM = 'messaging.system';
const MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
const MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
const MESSAGING_MESSAGE_ID = 'messaging.message.id';
// BullMQ's queue of AI jobs (src/queue/bullmq.ts).
const JOB_QUEUE = 'ai-jobs';

// Enough of a statement to recognise it, as the slow-query log keeps (src/db/index.ts).
const SQL_MAX_CHARS = 1000;
const SQL_OPERATION = /^\s*([a-z]+)/i;
const SQL_TARGET = /\b(?:from|into|update)\s+"?([\w.]+)"?/i;

/**
 * Now on the performance clock. The SDK reads a time at or below `performance.now()` as such
 * and puts it on the wall clock it stamped the parent with (Date.now() when that span began);
 * a wall-clock time in ms (timeOrigin + now) it takes as is, and the two clocks drift apart by
 * milliseconds over minutes: a query's span then began before its request's (seen in CI).
 */
const nowMs = () => performance.now();

/** The span that children belong under, or undefined outside any recorded request. */
function recordingParent(): Context | undefined {
  const context = traceContexts.active();
  return trace.getSpan(context)?.isRecording() ? context : undefined;
}

/** The spans Inkstone makes, named and labelled after OpenTelemetry's semantic conventions. */
export class SpanMaker implements Omit<Tracing, 'flush' | 'shutdown'> {
  constructor(private readonly tracer: Tracer) {}

  startRequest(caller: Context, { method, route, requestId }: RequestSpanInfo): Span {
    const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, 'inkstone.request_id': requestId };
    if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
    // "{method} {route}"; the method alone when no route matched (a 404): raw URLs would make
    // every scanner's probe a span name of its own.
    const name = route === undefined ? method : `${method} ${route}`;
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, caller);
  }

  endRequest(span: Span, statusCode: number, aborted: boolean): void {
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
    if (aborted) span.setAttribute('inkstone.client_aborted', true);
    // A server span is in error for 5xx only: a 4xx is the client's mistake, answered as it should be.
    if (statusCode >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  query(event: QueryEvent): void {
    const parent = recordingParent();
    if (!parent) return;
    // Kysely binds every value as a parameter, so the text holds placeholders ($1, ?), never values.
    const sql = event.sql.length > SQL_MAX_CHARS ? event.sql.slice(0, SQL_MAX_CHARS) : event.sql;
    const operation = SQL_OPERATION.exec(sql)?.[1]?.toUpperCase() ?? 'QUERY';
    const target = SQL_TARGET.exec(sql)?.[1];
    const end = nowMs();
    const span = this.tracer.startSpan(
      target ? `${operation} ${target}` : operation,
      {
        kind: SpanKind.CLIENT,
        startTime: end - event.ms,
        attributes: {
          [ATTR_DB_SYSTEM_NAME]: event.dialect === 'postgres' ? DB_SYSTEM_NAME_VALUE_POSTGRESQL : 'sqlite',
          [ATTR_DB_OPERATION_NAME]: operation,
          [ATTR_DB_QUERY_TEXT]: sql,
        },
      },
      parent,
    );
    if (event.failed) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(end);
  }

  cacheLookup(lookup: CacheLookup): void {
    const parent = recordingParent();
    if (!parent) return;
    const end = nowMs();
    const attributes: Attributes = {
      'inkstone.cache.namespace': lookup.namespace,
      'inkstone.cache.hit': lookup.outcome === 'hit' || lookup.outcome === 'stale',
      'inkstone.cache.outcome': lookup.outcome,
    };
    if (lookup.layer) attributes['inkstone.cache.layer'] = lookup.layer;
    this.tracer
      .startSpan(`cache ${lookup.namespace}`, { startTime: end - lookup.ms, attributes }, parent)
      .end(end);
  }

  startJob(caller: Context, { jobId, restarts }: JobSpanInfo): Span {
    return this.tracer.startSpan(
      `process ${JOB_QUEUE}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [MESSAGING_SYSTEM]: 'bullmq',
          [MESSAGING_OPERATION_TYPE]: 'process',
          [MESSAGING_DESTINATION_NAME]: JOB_QUEUE,
          [MESSAGING_MESSAGE_ID]: jobId,
          'inkstone.job.restarts': restarts,
        },
      },
      caller,
    );
  }

  endJob(span: Span, outcome: JobSpanOutcome, error?: unknown): void {
    span.setAttribute('inkstone.job.outcome', outcome);
    if (outcome === 'error') {
      if (error instanceof Error) span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error | undefined)?.message });
    }
    span.end();
  }

  startWebhook({ url, attempt, deliveryId }: WebhookSpanInfo): Span {
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      // Without the query: a callback URL often carries the receiver's own token there.
      [ATTR_URL_FULL]: `${url.origin}${url.pathname}`,
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: port,
      'inkstone.webhook.delivery': deliveryId,
    };
    if (attempt > 1) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = attempt - 1;
    // The convention's name for a client span with no URL template: the method alone.
    return this.tracer.startSpan('POST', { kind: SpanKind.CLIENT, attributes }, traceContexts.active());
  }

  endWebhook(span: Span, status: number | null, error: string | null): void {
    if (status !== null) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // A client span is in error for any answer that is not a success (4xx included: the
    // delivery failed), and for no answer at all.
    const failed = status === null || status >= 400 || error !== null;
    if (failed) {
      span.setAttribute(ATTR_ERROR_TYPE, status !== null && status >= 400 ? String(status) : 'delivery');
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error } : {}) });
    }
    span.end();
  }

  traceProvider(name: string, provider: Provider): Provider {
    const traced: Provider = {
      kind: provider.kind,
      stream: (request) => this.modelCall(name, provider, request),
      status: (signal) => provider.status(signal),
    };
    if (provider.close) traced.close = () => provider.close!();
    return traced;
  }

  /**
   * One call to a model: a client span from the request to the last event, `first_token` when
   * the first text arrives. The provider is given the span's context as the request's trace,
   * so the model server's request carries it as its `traceparent` parent.
   */
  private async *modelCall(name: string, provider: Provider, request: ProviderRequest) {
    const parent = request.trace ?? traceContexts.active();
    const started = performance.now();
    const span = this.tracer.startSpan(
      `chat ${request.model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [GEN_AI_OPERATION_NAME]: 'chat',
          [GEN_AI_PROVIDER_NAME]: provider.kind,
          [GEN_AI_REQUEST_MODEL]: request.model,
          'inkstone.ai.provider': name,
        },
      },
      parent,
    );
    let firstToken = true;
    const sawToken = (text: string) => {
      if (!text || !firstToken) return;
      firstToken = false;
      // The pipeline's TTFT counts from its first text too (AiService.execute).
      span.addEvent('first_token', { 'inkstone.ai.ttft_ms': Math.round(performance.now() - started) });
    };
    // Tokens handed to the pipeline (ProviderRequest.onToken) pass here on their way, as
    // yielded ones do below.
    const { onToken } = request;
    const stream = provider.stream({
      ...request,
      trace: asOutgoingCall(parent, span),
      ...(onToken
        ? {
            onToken: (text: string) => {
              sawToken(text);
              onToken(text);
            },
          }
        : {}),
    });
    const events = stream[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        const step: IteratorResult<ProviderEvent> = await events.next();
        if (step.done) {
          finished = true;
          break;
        }
        const event = step.value;
        if (event.type === 'token') sawToken(event.text);
        else if (event.type === 'done') {
          span.setAttributes({
            [GEN_AI_RESPONSE_MODEL]: event.model,
            [GEN_AI_RESPONSE_FINISH_REASONS]: [event.finishReason],
            [GEN_AI_USAGE_INPUT_TOKENS]: event.usage.promptTokens,
            [GEN_AI_USAGE_OUTPUT_TOKENS]: event.usage.completionTokens,
          });
        }
        yield event;
      }
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      const kind = (error as { kind?: unknown }).kind;
      if (typeof kind === 'string') span.setAttribute(ATTR_ERROR_TYPE, kind);
      throw error;
    } finally {
      // The pipeline stops reading at `done` or on a timeout: end the provider's generator too,
      // which closes its request.
      if (!finished) await events.return?.().catch(() => {});
      span.end();
    }
  }
}
