import { type Context, type Span, trace } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { traceContexts } from './context.js';
import { callerContext, untracedRequestContext } from './propagation.js';
import { startTracing, type Tracing } from './tracing.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Span export (OTEL_EXPORTER_OTLP_ENDPOINT); undefined when it is not configured. */
    tracing: Tracing | undefined;
  }
  interface FastifyRequest {
    /**
     * The request's trace: what its outgoing calls (a model server, a webhook, a queued job)
     * carry on, passed to them explicitly. With export, its span is active in it.
     */
    readonly traceContext: Context;
  }
}

const TRACE = Symbol('inkstone trace context');
type WithTrace = FastifyRequest & { [TRACE]?: Context };

/**
 * Traces: every request runs in a trace context (its caller's `traceparent`, or a new trace),
 * which the model-server calls and webhooks it makes pass on. With an OTLP endpoint, a span per
 * request and one per database query under it; the cache's and the model calls' spans are
 * wired in the composition root (src/services.ts), where those collaborators are built.
 *
 * Registered before every other plugin that adds request hooks: the request context's session
 * lookup (a query) must already run inside the request's span.
 */
export const tracingPlugin = fp(
  async (app) => {
    const tracing = await startTracing(app.config.tracing, app.log);
    app.decorate('tracing', tracing);

    // Without export, made when first asked for (only the routes that call out do): its
    // caller's trace, or a new one, so that its outgoing calls share one trace id.
    app.decorateRequest('traceContext', {
      getter(this: FastifyRequest) {
        const request = this as WithTrace;
        return (request[TRACE] ??= untracedRequestContext(request.headers.traceparent));
      },
    });
    // Without export, nothing enters AsyncLocalStorage: Node 20 carries it with a hook on every
    // promise in the process once one is entered (a heap profile of 100 streamed answers put
    // an eighth of Inkstone's allocation there), and what is propagated is passed explicitly.
    if (!tracing) return;

    const spans = new WeakMap<FastifyRequest, Span>();
    app.addHook('onRequest', (request, reply, done) => {
      const caller = callerContext(request.headers.traceparent);
      const span = tracing.startRequest(caller, {
        method: request.method,
        route: request.routeOptions.url,
        requestId: request.id,
      });
      spans.set(request, span);
      // On the raw response, not in onResponse: streamed answers (SSE) hijack the reply, and
      // Fastify runs no onResponse hook for those.
      reply.raw.once('close', () => tracing.endRequest(span, reply.raw.statusCode, !reply.raw.writableEnded));
      const context = trace.setSpan(caller, span);
      (request as WithTrace)[TRACE] = context;
      // The request's queries and cache lookups find their parent span here, wherever they run.
      traceContexts.with(context, done);
    });
    app.addHook('onError', async (request, _reply, error) => {
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) spans.get(request)?.recordException(error);
    });

    const stopQueries = app.database.onQuery((event) => tracing.query(event));
    app.addHook('onClose', async () => {
      stopQueries();
      await tracing.shutdown();
    });
  },
  { name: 'tracing', dependencies: ['database'], fastify: '5.x' },
);
