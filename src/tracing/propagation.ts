import {
  type Context,
  createContextKey,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { traceContexts } from './context.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './traceparent.js';

// The span an outgoing call made for itself (the model call's): sent as the callee's parent,
// rather than a fresh id standing for the call.
const OUTGOING_CALL = createContextKey('inkstone outgoing call');

/**
 * The caller's trace, from its `traceparent` header: the parent of this request's span.
 * The root context (a new trace) when it sent none, or one that is malformed.
 */
export function callerContext(header: string | string[] | undefined): Context {
  const parent = parseTraceparent(header);
  if (!parent) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags,
    isRemote: true,
  });
}

/**
 * A request's context when no span is made for it (no trace export): its caller's trace, or
 * a new trace id, so that its outgoing calls share one trace id even though nothing is recorded.
 */
export function untracedRequestContext(header: string | string[] | undefined): Context {
  const caller = callerContext(header);
  if (caller !== ROOT_CONTEXT) return caller;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: newTraceId(),
    spanId: newSpanId(),
    traceFlags: TraceFlags.NONE,
  });
}

/** `context` with `span` active and sent as the parent by the outgoing call made under it. */
export function asOutgoingCall(context: Context, span: Span): Context {
  return trace.setSpan(context, span).setValue(OUTGOING_CALL, span.spanContext());
}

/**
 * The `traceparent` header of an outgoing call (a model server, a webhook): the current trace
 * id with a span id for this call, and the trace's sampled flag. Outside any request (a
 * start-up probe), a trace of its own.
 */
export function outgoingTraceparent(context: Context = traceContexts.active()): string {
  const call = context.getValue(OUTGOING_CALL) as SpanContext | undefined;
  if (call && isSpanContextValid(call)) return formatTraceparent(call.traceId, call.spanId, call.traceFlags);
  const current = trace.getSpanContext(context);
  if (current && isSpanContextValid(current)) {
    return formatTraceparent(current.traceId, newSpanId(), current.traceFlags);
  }
  return formatTraceparent(newTraceId(), newSpanId(), TraceFlags.NONE);
}

/**
 * The active span's own position as a `traceparent` (not a new span id: what is stored here
 * becomes the parent of spans made later, elsewhere), or undefined outside any trace. Put into
 * a queued job's data so that the worker running it continues the request's trace.
 */
export function activeTraceparent(context: Context = traceContexts.active()): string | undefined {
  const current = trace.getSpanContext(context);
  if (!current || !isSpanContextValid(current)) return undefined;
  return formatTraceparent(current.traceId, current.spanId, current.traceFlags);
}
