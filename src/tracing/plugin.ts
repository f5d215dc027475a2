import { type Span, trace } from '@opentelemetry/api';
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
}

/** Route patterns whose requests may call a model server or queue a job that sends a webhook. */
export function callsOut(route: string | undefined): boolean {
  return route !== undefined && (route.startsWith('/api/v1/ai/') || route.startsWith('/v1/'));
}

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

    if (!tracing) {
      // Without export, a context only for what outgoing calls propagate, and only for the
      // routes that make them (the AI doors: model calls, and jobs with their webhooks). Node 20
      // carries AsyncLocalStorage with a hook on every promise once one is entered (~4 % of a
      // signed-in page's CPU): a blog whose readers never reach those routes never pays it.
      // A callback hook, not an async one: the rest of the request (later hooks, the handler)
      // runs inside `done`, so inside the context.
      app.addHook('onRequest', (request, _reply, done) => {
        if (!callsOut(request.routeOptions.url)) return done();
        traceContexts.with(untracedRequestContext(request.headers.traceparent), done);
      });
      return;
    }

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
      traceContexts.with(trace.setSpan(caller, span), done);
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
